// Headless Chromium (Debian's) through the admin UI, as an admin would use it: sign in; add an
// LDAP connector (the type's template first; a config that does not build, its error shown next
// to the field), test it, and log a directory user in through it; edit the policy (an invalid
// one first) and ask the explain simulator; create a user whose name is a script and check it
// never runs; revoke the directory user's session (confirming on the page that asks first) and
// see their refresh fail; find each change in the audit log; sign out; sign in as a non-admin
// and see the 403. Every page is kept as a screenshot in OUTDIR.
// usage: node admin-tour.mjs ADMIN_URL OUTDIR LDAP_CONFIG_YAML BIND_PW LOGIN_URL TOKEN_URL
// Prints one JSON line: {"pages": [...], "xss": false, ...}
import { chromium } from 'playwright-core';

const [adminUrl, out, ldapYaml, bindPw, loginUrl, tokenUrl] = process.argv.slice(2);
const RP_REDIRECT = 'http://127.0.0.1:5555/callback';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { pages: [] };
async function submitLogin(page, login, password) {
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const approve = await page.$('#approve');
  if (approve) await Promise.all([page.waitForNavigation(), approve.click()]);
  await page.waitForLoadState('load');
}
async function signIn(page, login, password) {
  await page.goto(adminUrl);
  // With a second connector, the login starts at the chooser: the password database's link.
  if (!(await page.$('input[name=login]'))) {
    await Promise.all([page.waitForLoadState('load'), page.click('a[href*="/auth/local"]')]);
  }
  await submitLogin(page, login, password);
}
async function shot(page, name) {
  await page.screenshot({ path: `${out}/admin-${name}.png`, fullPage: true });
  result.pages.push(name);
}
async function submit(page, selector) {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
}
const text = async (page, selector) => ((await page.$(selector)) ? (await page.textContent(selector)) || '' : '');
async function refresh(rt) {
  const r = await fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${btoa('rp:rp-secret')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }),
  });
  return r.status;
}
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} at ${m.location().url}`); });
  await signIn(page, 'admin@example.com', 'password');
  if (!(await page.content()).includes('<h1>Overview</h1>')) throw new Error(`not on the overview: ${page.url()}`);
  await shot(page, 'overview');

  // Choosing a type fills the config with its template (a plain GET form, no script).
  await page.click('.admin-nav >> text=Connectors');
  await page.selectOption('#connector-type select[name=type]', 'oidc');
  await submit(page, '#use-type');
  result.template_oidc = (await page.inputValue('#connector-form textarea[name=config]')).includes('issuer:');
  await shot(page, 'connector-template');
  await page.selectOption('#connector-type select[name=type]', 'ldap');
  await submit(page, '#use-type');
  result.template_ldap = (await page.inputValue('#connector-form textarea[name=config]')).includes('userSearch:');
  // A connector whose config does not build: the error sits next to the config, nothing saved.
  await page.fill('#connector-form input[name=id]', 'corp');
  await page.fill('#connector-form input[name=name]', 'Corp <b>LDAP</b>');
  await page.fill('#connector-form textarea[name=config]', 'host: 127.0.0.1:1\ninsecureNoSSL: true\n');
  await submit(page, '#save-connector');
  result.connector_error = await text(page, '#config-error');
  result.config_kept = (await page.inputValue('#connector-form textarea[name=config]')).includes('127.0.0.1:1');
  await shot(page, 'connector-error');
  await page.fill('#connector-form textarea[name=config]', ldapYaml);
  await page.fill('#connector-form input[name=secret]', bindPw);
  await submit(page, '#save-connector');
  result.connector_created = (await text(page, '#connector-notice')).includes('corp');
  result.secret_not_echoed = !(await page.content()).includes(`value="${bindPw}"`);
  result.name_escaped = (await page.content()).includes('Corp &lt;b&gt;LDAP&lt;/b&gt;');
  await shot(page, 'connectors');
  await submit(page, '#check-corp');
  result.connector_test = await text(page, '#probe');
  await shot(page, 'connector-test');

  // A page on another site posts a form to delete the connector, in the admin's own browser:
  // the session cookie (SameSite=Strict) stays home and there is no CSRF token; nothing changes.
  const base = adminUrl.replace(/\/admin$/, '');
  await ctx.route('http://attacker.test/**', (r) => r.fulfill({
    contentType: 'text/html',
    body: `<form method="post" action="${base}/admin/connectors/change">
      <input name="action" value="delete"><input name="id" value="corp"><input name="csrf" value="guess"></form>
      <script>document.forms[0].submit()</script>`,
  }));
  const evil = await ctx.newPage();
  await evil.goto('http://attacker.test/');
  await evil.waitForURL((u) => !u.href.startsWith('http://attacker.test'), { timeout: 10000 }).catch(() => {});
  result.csrf_landed_on = evil.url().replace(base, '');
  await evil.close();
  await page.click('.admin-nav >> text=Connectors');
  result.connector_survived_csrf = (await page.$('#check-corp')) !== null;

  // A directory user logs in through the new connector (the relying party is played here).
  // Nothing listens at the redirect URI: the request the browser makes there carries the code.
  const user = await browser.newContext();
  const up = await user.newPage();
  const back = up.waitForRequest((r) => r.url().startsWith(RP_REDIRECT), { timeout: 20000 });
  await up.goto(loginUrl);
  await up.fill('input[name=login]', 'bob');
  await up.fill('input[name=password]', 'bob123');
  await up.click('button[type=submit]');
  const first = await Promise.race([back, up.waitForSelector('#approve', { timeout: 20000 })]);
  if (!first.url) await up.click('#approve');
  const code = new URL((await back).url()).searchParams.get('code');
  if (code) {
    const r = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa('rp:rp-secret')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT }),
    });
    const t = await r.json();
    result.ldap_login = r.status === 200 && !!t.refresh_token;
    result.ldap_refresh_token = t.refresh_token;
    result.ldap_id_token = t.id_token;
  } else {
    result.ldap_login = false;
    result.ldap_login_page = up.url();
  }
  await user.close();

  // The policy: an invalid one is refused with the reason in place; a valid one decides at once.
  await page.click('.admin-nav >> text=Policy');
  const good = `admins:
  groups: [admins]
  clients: [machine]
rules:
  - name: developers-pull
    groups: [developers]
    registry: [{ repositories: ["dev/**"], actions: [pull] }]
  - name: corp-push
    groups: [developers]
    registry: [{ repositories: ["corp/**"], actions: [pull, push] }]
`;
  await page.fill('#policy-form textarea', good.replace('actions: [pull, push]', 'actions: [fly]'));
  await submit(page, '#save-policy');
  result.policy_error = await text(page, '#policy-error');
  result.policy_text_kept = (await page.inputValue('#policy-form textarea')).includes('fly');
  await shot(page, 'policy-error');
  await page.fill('#policy-form textarea', good);
  await submit(page, '#save-policy');
  result.policy_saved = (await text(page, '#policy-notice')).length > 0;
  await page.fill('#explain input[name=user]', 'bob');
  await page.fill('#explain input[name=groups]', 'developers');
  await page.fill('#explain input[name=scopes]', 'repository:corp/app:pull,push');
  await submit(page, '#explain button');
  result.explained = (await text(page, '#explanation')).includes('corp-push');
  await shot(page, 'policy');

  await page.click('.admin-nav >> text=Users');
  await page.fill('#new-user input[name=email]', 'script@example.com');
  await page.fill('#new-user input[name=username]', '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">');
  await page.fill('#new-user input[name=password]', 'a long password');
  await page.fill('#new-user input[name=groups]', 'ops');
  await submit(page, '#create-user');
  result.user_created = (await page.content()).includes('script@example.com');
  result.xss = (await page.evaluate(() => window.__xss)) !== undefined;
  await shot(page, 'users');

  await page.click('.admin-nav >> text=Clients');
  await shot(page, 'clients');

  // Revoke the directory user's session; their refresh token stops working.
  await page.click('.admin-nav >> text=Sessions');
  await shot(page, 'sessions');
  const row = page.locator('table:not(#browser-sessions) tr', { hasText: 'corp' });
  result.ldap_sessions = await row.count();
  result.ldap_browsers = await page.locator('#browser-sessions tr', { hasText: 'corp' }).count();
  if (result.ldap_sessions === 1) {
    // A destroying button asks first (a page of its own, no script); Confirm does it.
    await Promise.all([page.waitForLoadState('load'), row.locator('button.revoke-user').click()]);
    result.revoke_asked = (await text(page, 'h1')).includes('Revoke every session');
    await shot(page, 'confirm');
    await submit(page, '#confirm');
    result.revoked = (await page.content()).includes('was revoked');
    result.ldap_browsers_after = await page.locator('#browser-sessions tr', { hasText: 'corp' }).count();
  }
  if (result.ldap_refresh_token) result.refresh_after_revoke = await refresh(result.ldap_refresh_token);

  await page.click('.admin-nav >> text=Signing keys');
  await shot(page, 'keys');
  await page.click('.admin-nav >> text=Audit log');
  const audit = await page.content();
  result.audit = ['connector.create', 'connector.test', 'policy.update', 'user.create', 'session.revoke', 'admin.sign_in']
    .filter((a) => audit.includes(a));
  await shot(page, 'audit');
  await page.click('.admin-nav >> text=Overview');
  result.overview_counts_tokens = (await text(page, '#tokens-24h')).includes('issued');
  await shot(page, 'overview-after');

  await Promise.all([page.waitForLoadState('load'), page.click('.admin-nav button')]);
  result.signed_out = page.url().includes('/auth') || page.url().includes('/admin/login');
  // A refused form answers 400, which Chromium logs; anything else (a CSP violation, a script
  // error) counts.
  result.console_errors = errors.filter((e) => !e.includes('favicon') && !e.includes('status of 400'));

  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p2 = await other.newPage();
  await signIn(p2, 'dev@example.com', 'password');
  result.non_admin_403 = (await p2.content()).includes('not an administrator');
  await shot(p2, 'forbidden');
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}

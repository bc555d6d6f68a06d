// Headless Chromium (Debian's) through the admin UI: sign in, visit every page (screenshot
// each into OUTDIR), create a user whose name is a script, check that it never runs, use the
// explain simulator, revoke a session, sign out; then sign in as a non-admin and see the 403.
// usage: node admin-tour.mjs ADMIN_URL OUTDIR
// Prints one JSON line: {"pages": [...], "xss": false, ...}
import { chromium } from 'playwright-core';

const [adminUrl, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { pages: [] };
async function signIn(page, login, password) {
  await page.goto(adminUrl);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  const approve = await page.$('#approve');
  if (approve) await Promise.all([page.waitForLoadState('load'), approve.click()]);
  await page.waitForLoadState('load');
}
async function shot(page, name) {
  await page.screenshot({ path: `${out}/admin-${name}.png`, fullPage: true });
  result.pages.push(name);
}
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} at ${m.location().url}`); });
  await signIn(page, 'admin@example.com', 'password');
  if (!(await page.content()).includes('<h1>Overview</h1>')) throw new Error(`not on the overview: ${page.url()}`);
  await shot(page, 'overview');

  await page.click('text=Users');
  await page.fill('#new-user input[name=email]', 'script@example.com');
  await page.fill('#new-user input[name=username]', '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">');
  await page.fill('#new-user input[name=password]', 'a long password');
  await page.fill('#new-user input[name=groups]', 'ops');
  await Promise.all([page.waitForLoadState('load'), page.click('#create-user')]);
  result.user_created = (await page.content()).includes('script@example.com');
  result.xss = (await page.evaluate(() => window.__xss)) !== undefined;
  await shot(page, 'users');

  await page.click('text=Sessions');
  await shot(page, 'sessions');
  const revoke = await page.$('form[action$="/admin/sessions/revoke"] button');
  if (revoke) {
    await Promise.all([page.waitForLoadState('load'), revoke.click()]);
    result.revoked = (await page.content()).includes('was revoked');
  }

  await page.click('text=Policy');
  await page.fill('#explain input[name=user]', 'dev');
  await page.fill('#explain input[name=groups]', 'developers');
  await page.fill('#explain input[name=scopes]', 'repository:dev/app:pull,push');
  await Promise.all([page.waitForLoadState('load'), page.click('#explain button')]);
  result.explained = ((await page.textContent('#explanation')) || '').includes('developers-pull');
  await shot(page, 'policy');

  await page.click('text=Signing keys');
  await shot(page, 'keys');
  await page.click('text=Audit log');
  result.audit_has_user_create = (await page.content()).includes('user.create');
  await shot(page, 'audit');

  await Promise.all([page.waitForLoadState('load'), page.click('.admin-nav button')]);
  result.signed_out = page.url().includes('/auth') || page.url().includes('/admin/login');
  result.console_errors = errors.filter((e) => !e.includes('favicon'));

  const other = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p2 = await other.newPage();
  await signIn(p2, 'dev@example.com', 'password');
  result.non_admin_403 = (await p2.content()).includes('not an administrator');
  await shot(p2, 'forbidden');
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}

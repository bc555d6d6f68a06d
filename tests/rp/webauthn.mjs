// WebAuthn second factor in a real headless Chromium with the DevTools protocol's virtual
// authenticator (tests/it/webauthn.rs). Gantry's RP ID is `localhost`; its pages are opened at
// http://localhost:PORT. The script registers a key at the first login, signs in with it from a
// fresh browser, and tries what must be refused: a recorded assertion replayed into another
// login (another challenge), an assertion signed on another origin of the same RP ID, a form
// from another browser, a key whose counter went backwards, another user's key, and the key on
// http://127.0.0.1:PORT where the browser itself refuses the RP ID; then a recovery code at
// the key page of a browser without the key. Prints one JSON line.
// usage: node webauthn.mjs '{"authLocal":..., "auth127":..., "stop":..., "mfa":..., ...}'
import http from 'node:http';
import { chromium, request as apiRequest } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const out = {};

// A page on another origin of the same RP ID (localhost): a phishing page that relays
// Gantry's challenge would be one.
const attacker = http.createServer((_, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>elsewhere</title><p>another site on localhost</p>');
});
await new Promise((r) => attacker.listen(cfg.attackerPort, '127.0.0.1', r));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});

async function authenticator(page, extra = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true, ...extra,
    },
  });
  return { cdp, id: authenticatorId };
}

// A fresh browser (no cookie, so no single sign-on) whose authenticator holds `creds`.
async function freshWith(creds, extra) {
  const page = await newPage();
  const auth = await authenticator(page, extra);
  for (const credential of creds) {
    await auth.cdp.send('WebAuthn.addCredential', { authenticatorId: auth.id, credential });
  }
  return { page, auth };
}

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => { (out.page_errors ||= []).push(String(e)); });
  await page.route((u) => u.href.startsWith(cfg.stop), (route) => {
    page.gantryDone = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' });
  });
  return page;
}

// Walk a login from `start` as `user`: the password form, the key page (`onKey` may act there
// instead of the page's own button; return 'stop' to leave the walk on that page), recovery
// codes, the approval. Returns what it saw.
async function login(page, start, [user, password], onKey) {
  const seen = { modes: [], recovery_codes: 0 };
  page.gantryDone = null;
  await page.goto(start);
  for (let i = 0; i < 25 && !page.gantryDone; i += 1) {
    try {
      await page.waitForLoadState('load');
      if (page.gantryDone) break;
      const before = page.url();
      if (await page.$('input[name=login]')) {
        await page.fill('input[name=login]', user);
        await page.fill('input[name=password]', password);
        await page.click('button[type=submit]');
      } else if (await page.$('#key-form')) {
        // From the page as it is now, with a short wait: a page that moved on meanwhile is
        // retried below instead of waited for.
        const mode = await page.getAttribute('#key-form', 'data-webauthn', { timeout: 2000 });
        seen.modes.push(mode);
        const act = onKey ? await onKey(page, mode, seen) : 'go';
        if (act === 'stop') return seen;
        // The hook left the page by itself (a form of its own): walk on from where it went.
        if (act === 'next') continue;
        if (await page.$('#key_name')) await page.fill('#key_name', `${user}'s test key`);
        await page.waitForSelector('#use-key:not([hidden])', { timeout: 5000 });
        await page.click('#use-key');
        // Either the form posts (a new page) or the page shows why the browser refused.
        const r = await Promise.race([
          page.waitForURL((u) => u.href !== before || page.gantryDone, { timeout: 15000 }).then(() => 'nav'),
          page.waitForSelector('#key-error:not([hidden])', { timeout: 15000 }).then(() => 'error'),
        ]);
        if (r === 'error') {
          seen.error = await page.textContent('#key-error');
          return seen;
        }
        continue;
      } else if (await page.$('#recovery-codes')) {
        seen.recovery_codes = (await page.$$('#recovery-codes li')).length;
        seen.codes = await page.$$eval('#recovery-codes li', (els) => els.map((e) => e.textContent.trim()));
        await page.click('#continue');
      } else if (await page.$('button[type=submit]')) {
        await page.click('button[type=submit]');
      } else {
        await page.waitForTimeout(100);
        continue;
      }
      await page.waitForURL((u) => u.href !== before || page.gantryDone, { timeout: 15000 });
    } catch (e) {
      // A step that races the page's own navigation is retried on the page the browser lands on.
      const m = String(e);
      if (!['context was destroyed', 'navigat', 'Cannot find context', 'different document', 'Timeout 2000ms'].some((x) => m.includes(x))) throw e;
    }
  }
  seen.done = page.gantryDone;
  if (!seen.done) seen.last = `${page.url()}\n${(await page.content()).slice(0, 1500)}`;
  return seen;
}

// The credential as the page's script posts it (the same encoding, written again here).
const encodeInPage = `
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const unb64 = (s) => { s = s.replace(/-/g, '+').replace(/_/g, '/'); while (s.length % 4) s += '='; return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer; };
`;
async function signIn(page, options, allowIds) {
  return page.evaluate(`(async () => {
    ${encodeInPage}
    const o = ${JSON.stringify(options)}.publicKey;
    o.challenge = unb64(o.challenge);
    const ids = ${JSON.stringify(allowIds || null)};
    o.allowCredentials = (ids ? ids.map((id) => ({ type: 'public-key', id })) : o.allowCredentials || [])
      .map((c) => ({ ...c, id: unb64(c.id) }));
    const c = await navigator.credentials.get({ publicKey: o });
    const r = c.response;
    return JSON.stringify({ id: c.id, rawId: b64(c.rawId), type: c.type, extensions: {},
      response: { clientDataJSON: b64(r.clientDataJSON), authenticatorData: b64(r.authenticatorData),
        signature: b64(r.signature), userHandle: r.userHandle ? b64(r.userHandle) : null } });
  })()`);
}

async function keyPageFields(page) {
  return {
    req: await page.getAttribute('input[name=req]', 'value'),
    csrf: await page.getAttribute('input[name=csrf]', 'value'),
    options: JSON.parse(await page.getAttribute('#key-form', 'data-options')),
  };
}

async function post(ctxRequest, fields, webauthn) {
  const r = await ctxRequest.post(cfg.mfa, {
    form: { req: fields.req, csrf: fields.csrf, webauthn },
    maxRedirects: 0,
  });
  const text = (await r.text()).replace(/<style>[\s\S]*?<\/style>/, '').replace(/\s+/g, ' ');
  return { status: r.status(), text: text.slice(0, 3000) };
}

const b64std = (s) => Buffer.from(s, 'base64').toString('base64url');

try {
  // 1. The first login registers a key (a device-bound one: backup eligibility clear).
  const a = await newPage();
  const authA = await authenticator(a);
  out.first = await login(a, cfg.authLocal, cfg.admin);
  const { credentials } = await authA.cdp.send('WebAuthn.getCredentials', { authenticatorId: authA.id });
  out.credentials_after_registration = credentials.length;
  const adminCred = credentials[0];

  // 2. A fresh browser (no cookie) holding the same key signs in with it; the script records
  // the assertion the page posts.
  const b = await newPage();
  const authB = await authenticator(b);
  await authB.cdp.send('WebAuthn.addCredential', { authenticatorId: authB.id, credential: adminCred });
  let recorded = null;
  b.on('request', (r) => {
    if (r.method() === 'POST' && r.url().startsWith(cfg.mfa)) {
      const w = new URLSearchParams(r.postData() || '').get('webauthn');
      // The assertion, not the second key's registration that follows it.
      if (w && JSON.parse(w).response.signature) recorded = w;
    }
  });
  // It asks to register another key after this one: the next page registers a second key.
  // An authenticator refuses to register twice for a user (the page excludes the user's keys):
  // the first key is taken out of it meanwhile, as if it were another device.
  let set = [];
  out.second = await login(b, cfg.authLocal, cfg.admin, async (page, mode) => {
    if (mode === 'get') await page.check('#add-another');
    if (mode === 'create') {
      set = (await authB.cdp.send('WebAuthn.getCredentials', { authenticatorId: authB.id })).credentials;
      for (const c of set) {
        await authB.cdp.send('WebAuthn.removeCredential', { authenticatorId: authB.id, credentialId: c.credentialId });
      }
    }
    return 'go';
  });
  for (const credential of set) {
    await authB.cdp.send('WebAuthn.addCredential', { authenticatorId: authB.id, credential });
  }
  out.recorded = !!recorded;
  out.credentials_after_adding = (await authB.cdp.send('WebAuthn.getCredentials', { authenticatorId: authB.id })).credentials.length;

  // 3. A third login (another fresh browser with the key) stops at its key page, where what
  // must fail is tried.
  const credB = set[0];
  const { page: e, auth: authE } = await freshWith([credB]);
  out.third = await login(e, cfg.authLocal, cfg.admin, async (page, mode) => {
    if (mode !== 'get') return 'go';
    let f = await keyPageFields(page);
    // The second login's assertion again: another challenge.
    out.replayed = await post(page.request, f, recorded);
    // A form from another browser (no cookie), with an answer it could not have made.
    const other = await apiRequest.newContext();
    out.other_browser = await post(other, f, recorded);
    await other.dispose();
    // An assertion signed for this challenge on another origin of the RP ID.
    await page.reload();
    f = await keyPageFields(page);
    const evil = await page.context().newPage();
    await evil.goto(`http://localhost:${cfg.attackerPort}/`);
    const authEvil = await authenticator(evil);
    const cur = (await authE.cdp.send('WebAuthn.getCredentials', { authenticatorId: authE.id })).credentials[0];
    await authEvil.cdp.send('WebAuthn.addCredential', { authenticatorId: authEvil.id, credential: cur });
    const signedElsewhere = await signIn(evil, f.options);
    out.wrong_origin = await post(page.request, f, signedElsewhere);
    await evil.close();
    // The key's counter set back (as a clone of it would be): the page's own button.
    await page.reload();
    const now = (await authE.cdp.send('WebAuthn.getCredentials', { authenticatorId: authE.id })).credentials[0];
    out.sign_count_before_rollback = now.signCount;
    await authE.cdp.send('WebAuthn.removeCredential', { authenticatorId: authE.id, credentialId: now.credentialId });
    await authE.cdp.send('WebAuthn.addCredential', { authenticatorId: authE.id, credential: { ...now, signCount: 0 } });
    await page.click('#use-key');
    await page.waitForLoadState('load');
    await page.waitForSelector('#key-form');
    out.counter_back = {
      status_text: (await page.textContent('#key-error')) || '',
      url: page.url(),
    };
    // The real key again, its counter past the stored one: accepted.
    await authE.cdp.send('WebAuthn.removeCredential', { authenticatorId: authE.id, credentialId: now.credentialId });
    await authE.cdp.send('WebAuthn.addCredential', { authenticatorId: authE.id, credential: { ...now, signCount: now.signCount + 10 } });
    return 'go';
  });

  // 4. Another user (a synced passkey: backup eligible) registers, then presents the first
  // user's key at their own login.
  const c = await newPage();
  const authC = await authenticator(c, { defaultBackupEligibility: true, defaultBackupState: true });
  out.dev_first = await login(c, cfg.authLocal, cfg.dev);
  const devCred = (await authC.cdp.send('WebAuthn.getCredentials', { authenticatorId: authC.id })).credentials[0];
  const { page: c2 } = await freshWith([devCred, { ...adminCred, signCount: 1000 }]);
  out.dev_second = await login(c2, cfg.authLocal, cfg.dev, async (page, mode) => {
    if (mode !== 'get') return 'go';
    const f = await keyPageFields(page);
    const signed = await signIn(page, f.options, [b64std(adminCred.credentialId)]);
    out.other_users_key = await post(page.request, f, signed);
    await page.reload();
    return 'go';
  });

  // 5. Gantry opened at 127.0.0.1: the browser refuses the RP ID `localhost` there.
  const { page: d } = await freshWith([{ ...adminCred, signCount: 5000 }]);
  out.browser_other_origin = await login(d, cfg.auth127, cfg.admin);

  // 6. The other user lost the key: a browser without one answers the key page with a
  // recovery code shown at their first login.
  const lost = await newPage();
  out.recovered = await login(lost, cfg.authLocal, cfg.dev, async (page, mode) => {
    if (mode !== 'get') return 'go';
    // Once: a refused code shows the page again, and the walk stops there.
    if (out.recovery_tried) return 'stop';
    out.recovery_tried = true;
    await page.click('summary');
    await page.fill('#recovery_code', (out.dev_first.codes || [])[0] || 'none shown');
    await Promise.all([page.waitForNavigation(), page.click('#submit-recovery')]);
    return 'next';
  });
} finally {
  await browser.close();
  attacker.close();
}
console.log(JSON.stringify(out));

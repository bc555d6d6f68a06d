// Single sign-on as a certified relying party library sees it: two clients of one issuer
// share one browser (one cookie jar). The first logs in with the form; the second gets its
// code without one; prompt=none, max_age=0 and RP-initiated logout behave as OpenID Connect
// says. Prints one JSON line of results; any failed check throws (exit non-zero).
//
// env: ISSUER, A_ID, A_SECRET, B_ID, B_SECRET, REDIRECT_URI, POST_LOGOUT_URI, LOGIN, PASSWORD
import * as client from 'openid-client';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');
const opts = { execute: [client.allowInsecureRequests] };
const a = await client.discovery(issuer, env('A_ID'), env('A_SECRET'), undefined, opts);
const b = await client.discovery(issuer, env('B_ID'), env('B_SECRET'), undefined, opts);

const meta = a.serverMetadata();
assert.ok(meta.prompt_values_supported.includes('none'), 'prompt=none is offered');
for (const c of ['sid', 'amr', 'acr', 'auth_time']) assert.ok(meta.claims_supported.includes(c), `claim ${c}`);

// A browser: a cookie jar and manual redirects. Cookies with Max-Age=0 are dropped.
function browser() {
  const jar = new Map();
  return async (url, init = {}) => {
    const headers = { ...(init.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';'); const i = kv.indexOf('=');
      if (/max-age=0/i.test(c)) jar.delete(kv.slice(0, i)); else jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return res;
  };
}
const hidden = (html, name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  assert.ok(m, `no hidden ${name} in page`);
  return m[1];
};

let forms = 0;
// Start an authorization at `config` in browser `go`; follow Gantry's own redirects, filling
// the login form when one appears. Returns { callback, verifier, state, nonce, formShown }.
async function authorize(go, config, extra = {}, fill = true) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  let url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid email groups offline_access', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...extra,
  });
  let formShown = false;
  for (let hop = 0; hop < 10; hop++) {
    const res = await go(url);
    if (res.status === 303 || res.status === 302) {
      const loc = new URL(res.headers.get('location'), url);
      if (loc.href.startsWith(redirectUri)) return { callback: loc, verifier, state, nonce, formShown };
      url = loc;
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, `page at ${url}: ${html.slice(0, 200)}`);
    if (html.includes('name="password"')) {
      formShown = true;
      forms++;
      if (!fill) return { callback: null, formShown, url };
      const post = await go(url, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ req: hidden(html, 'req'), csrf: hidden(html, 'csrf'),
          login: env('LOGIN'), password: env('PASSWORD'), remember: '1' }).toString(),
      });
      assert.equal(post.status, 303, 'login accepted');
      url = new URL(post.headers.get('location'), url);
      continue;
    }
    throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
  }
  throw new Error('too many redirects');
}
const tokensOf = (config, r) => client.authorizationCodeGrant(config, r.callback, {
  pkceCodeVerifier: r.verifier, expectedState: r.state, expectedNonce: r.nonce, idTokenExpected: true,
});

const go = browser();
// 1. The first application: the login form, once.
const first = await authorize(go, a);
assert.ok(first.formShown, 'the first login shows the form');
const ta = await tokensOf(a, first);
const ca = ta.claims();
assert.ok(ca.sid, 'the ID token carries sid');
assert.deepEqual(ca.amr, ['pwd']);
assert.equal(ca.acr, 'urn:gantry:acr:1fa');

// 2. The second application in the same browser: a code, no form, the same login.
const second = await authorize(go, b);
assert.equal(second.formShown, false, 'the second application shows no form');
const cb = (await tokensOf(b, second)).claims();
assert.equal(cb.sub, ca.sub);
assert.equal(cb.sid, ca.sid, 'one browser session');
assert.equal(cb.auth_time, ca.auth_time, 'auth_time is the real login time');

// 3. prompt=none: a code with the session, login_required without one.
const silent = await authorize(go, b, { prompt: 'none' });
assert.equal((await tokensOf(b, silent)).claims().sid, ca.sid);
const stranger = await authorize(browser(), b, { prompt: 'none' });
assert.equal(stranger.callback.searchParams.get('error'), 'login_required');
assert.equal(stranger.callback.searchParams.get('state'), stranger.state);

// 4. max_age=0: the form again, even with a session.
const fresh = await authorize(go, a, { max_age: '0' }, false);
assert.ok(fresh.formShown, 'max_age=0 asks for the password again');

// 5. Logout at the first application ends the browser session for both.
const logout = await go(client.buildEndSessionUrl(a, {
  id_token_hint: ta.id_token, post_logout_redirect_uri: env('POST_LOGOUT_URI'), state: 'bye',
}));
assert.equal(logout.status, 303);
assert.equal(logout.headers.get('location'), `${env('POST_LOGOUT_URI')}?state=bye`);
const after = await authorize(go, b, { prompt: 'none' });
assert.equal(after.callback.searchParams.get('error'), 'login_required');

console.log(JSON.stringify({ ok: true, forms, sid: ca.sid, sub: ca.sub }));

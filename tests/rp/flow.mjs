// A whole login through Gantry with openid-client (a certified relying party library):
// discovery, code + PKCE through the login form, ID token validation, userinfo, refresh,
// introspection, revocation and RP-initiated logout. Prints one JSON line of results; any
// failed check throws, so the process exits non-zero.
//
// env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_URI, LOGIN, PASSWORD
import * as client from 'openid-client';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');
const config = await client.discovery(issuer, env('CLIENT_ID'), env('CLIENT_SECRET'), undefined,
  { execute: [client.allowInsecureRequests] });

// A small browser: a cookie jar and manual redirects, so each hop is visible.
const jar = new Map();
async function browse(url, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [kv] = c.split(';'); const i = kv.indexOf('=');
    jar.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return res;
}
const hidden = (html, name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  assert.ok(m, `no hidden ${name} in page`);
  return m[1];
};
const postForm = (url, fields) => browse(url, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: 'openid email profile groups offline_access',
  code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
});

let res = await browse(authUrl);
assert.equal(res.status, 303);
const loginUrl = new URL(res.headers.get('location'), issuer);
let html = await (await browse(loginUrl)).text();
res = await postForm(loginUrl, { req: hidden(html, 'req'), csrf: hidden(html, 'csrf'), login: env('LOGIN'), password: env('PASSWORD') });
assert.equal(res.status, 303, 'login accepted');
const approvalUrl = new URL(res.headers.get('location'), issuer);
res = await browse(approvalUrl);
let callback;
if (res.status === 303) {
  callback = res.headers.get('location');
} else {
  html = await res.text();
  res = await postForm(new URL('approval', issuer.href + '/'), { req: hidden(html, 'req'), csrf: hidden(html, 'csrf'), approval: 'approve' });
  assert.equal(res.status, 303);
  callback = res.headers.get('location');
}
assert.ok(callback.startsWith(redirectUri), `callback ${callback}`);

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
assert.equal(userinfo.sub, claims.sub);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh rotates');
assert.equal(refreshed.claims().sub, claims.sub);

const introspected = await client.tokenIntrospection(config, refreshed.access_token);
assert.equal(introspected.active, true);

await client.tokenRevocation(config, refreshed.refresh_token);
const afterRevoke = await client.tokenIntrospection(config, refreshed.refresh_token);
assert.equal(afterRevoke.active, false);
await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant');

const logoutUrl = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token, post_logout_redirect_uri: env('POST_LOGOUT_URI'), state: 'bye',
});
res = await browse(logoutUrl);
assert.equal(res.status, 303);
assert.equal(res.headers.get('location'), `${env('POST_LOGOUT_URI')}?state=bye`);

console.log(JSON.stringify({
  ok: true, sub: claims.sub, email: claims.email, groups: claims.groups, nonce: claims.nonce,
  userinfo_groups: userinfo.groups, introspection_client: introspected.client_id,
}));

// Dex's own development config (examples/config-dev.yaml), served by Gantry unchanged, used as
// Dex's example app would use it, through openid-client (a certified relying party library):
//   1. the code flow with PKCE through the password connector (`connector_id=local`, Dex's
//      parameter), as admin@example.com: the claims Dex's static password gives, refresh;
//   2. the code flow through the `mock` connector (Dex's mockCallback): Kilgore Trout;
//   3. the device flow (RFC 8628) of the same client, approved in a browser through the
//      chooser and the password form, polled to tokens.
// Prints one JSON line of results; a failed check throws, so the process exits non-zero.
//
// env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, LOGIN, PASSWORD
import * as client from 'openid-client';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');
const config = await client.discovery(issuer, env('CLIENT_ID'), env('CLIENT_SECRET'), undefined,
  { execute: [client.allowInsecureRequests] });

function browser() {
  const jar = new Map();
  const browse = async (url, init = {}) => {
    const headers = { ...(init.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';'); const i = kv.indexOf('=');
      jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return res;
  };
  const post = (url, fields) => browse(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { browse, post };
}
const field = (html, name) => {
  const m = html.match(new RegExp(`name="${name}"[^>]* value="([^"]*)"`));
  assert.ok(m, `no field ${name} in page:\n${html.slice(0, 400)}`);
  return m[1].replaceAll('&amp;', '&');
};
const action = (html) => {
  const m = html.match(/<form method="post" action="([^"]*)"/);
  assert.ok(m, 'no form in page');
  return m[1].replaceAll('&amp;', '&');
};

// Walk a browser from `url` until it is sent to `until`: log in with the password form,
// pick `connector` on the chooser, approve consent and device confirmations. The pages seen.
async function walk(b, url, until, connector) {
  const seen = [];
  let shown = null; // a page a form answered with directly (200), not by a redirect
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(until)) return { url, seen };
    let html = shown;
    shown = null;
    if (html === null) {
      const res = await b.browse(url);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location'), url).href;
        continue;
      }
      html = await res.text();
      assert.equal(res.status, 200, `${url}: ${res.status}\n${html.slice(0, 400)}`);
    }
    let next;
    if (html.includes('name="user_code"')) {
      seen.push('device code');
      next = await b.post(new URL(action(html), url), {
        user_code: field(html, 'user_code'), csrf: field(html, 'csrf'),
      });
    } else if (html.includes('name="password"')) {
      seen.push('password');
      next = await b.post(new URL(action(html), url), {
        req: field(html, 'req'), csrf: field(html, 'csrf'), login: env('LOGIN'), password: env('PASSWORD'),
      });
    } else if (html.includes('class="connectors"')) {
      seen.push('chooser');
      const links = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1].replaceAll('&amp;', '&'));
      const pick = links.find((l) => l.includes(`/${connector}`));
      assert.ok(pick, `no ${connector} on the chooser: ${links}`);
      url = new URL(pick, url).href;
      continue;
    } else if (html.includes('name="approval"')) {
      seen.push(html.includes('id="deny"') ? 'device confirmation' : 'approval');
      next = await b.post(new URL(action(html), url), {
        req: field(html, 'req'), csrf: field(html, 'csrf'), approval: 'approve',
      });
    } else if (html.includes('Your device is logged in')) {
      seen.push('device done');
      return { url, seen };
    } else {
      throw new Error(`${url}: a page the walk does not know:\n${html.slice(0, 600)}`);
    }
    if (next.status === 200) {
      shown = await next.text();
      continue;
    }
    if (next.status !== 303) {
      throw new Error(`form at ${url} answered ${next.status}:\n${(await next.text()).slice(0, 1500)}`);
    }
    url = new URL(next.headers.get('location'), url).href;
  }
  throw new Error('too many hops');
}

async function codeFlow(connector) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid email profile groups offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    state, nonce, connector_id: connector,
  });
  const { url, seen } = await walk(browser(), authUrl.href, redirectUri, connector);
  const tokens = await client.authorizationCodeGrant(config, new URL(url), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  return { tokens, claims: tokens.claims(), seen };
}

const local = await codeFlow('local');
const refreshed = await client.refreshTokenGrant(config, local.tokens.refresh_token);
assert.equal(refreshed.claims().sub, local.claims.sub);
const mock = await codeFlow('mock');

const handle = await client.initiateDeviceAuthorization(config, { scope: 'openid email profile groups' });
const device = await walk(browser(), handle.verification_uri_complete, 'about:never', 'local');
const deviceTokens = await client.pollDeviceAuthorizationGrant(config, handle);
const deviceClaims = deviceTokens.claims();

const pick = (c) => ({
  sub: c.sub, email: c.email, email_verified: c.email_verified, name: c.name,
  preferred_username: c.preferred_username, groups: c.groups,
});
console.log(JSON.stringify({
  ok: true,
  local: { ...pick(local.claims), seen: local.seen, alg: JSON.parse(Buffer.from(local.tokens.id_token.split('.')[0], 'base64url')).alg },
  refreshed_sub: refreshed.claims().sub,
  mock: { ...pick(mock.claims), seen: mock.seen },
  device: { ...pick(deviceClaims), seen: device.seen },
}));

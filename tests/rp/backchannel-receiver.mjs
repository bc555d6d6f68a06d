// A relying party's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0,
// sections 2.5 to 2.8): each logout token is validated with jose against the issuer's JWKS as
// section 2.6 says, and answered 400 when it fails; a valid one gets the next scripted status
// (ANSWERS, then 200), so a test can make it fail a few times first.
//
// usage: ISSUER=https://... ANSWERS=500,503 node backchannel-receiver.mjs
// Prints {"port": N} once listening. Then:
//   POST /logout/CLIENT_ID   form logout_token=...   the audience is CLIENT_ID
//   POST /skew?seconds=N     the issuer's clock runs N seconds ahead of this machine's
//   GET  /received           every request so far, as JSON
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const issuer = process.env.ISSUER;
const answers = (process.env.ANSWERS || '').split(',').filter(Boolean).map(Number);
const jwks = createRemoteJWKSet(new URL(`${issuer}/keys`));
const received = [];
let skew = 0;

async function validate(token, audience) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'logout+jwt',
    maxTokenAge: '2 minutes',
    currentDate: new Date(Date.now() + skew * 1000),
    requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'events', 'sub', 'sid'],
  });
  const events = payload.events;
  if (typeof events !== 'object' || events === null || typeof events[EVENT] !== 'object' || events[EVENT] === null) {
    throw new Error('events has no back-channel logout member');
  }
  if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
  return { payload, protectedHeader };
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://receiver');
  if (req.method === 'GET' && url.pathname === '/received') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(received));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/skew') {
    skew = Number(url.searchParams.get('seconds') || 0);
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method === 'POST' && url.pathname.startsWith('/logout/')) {
    const client = decodeURIComponent(url.pathname.slice('/logout/'.length));
    const form = new URLSearchParams(await body(req));
    const token = form.get('logout_token') || '';
    const record = {
      client,
      content_type: req.headers['content-type'] || '',
      token,
      fields: [...form.keys()],
    };
    try {
      const { payload, protectedHeader } = await validate(token, client);
      record.verified = true;
      record.claims = payload;
      record.header = protectedHeader;
      record.status = answers.length ? answers.shift() : 200;
    } catch (e) {
      record.verified = false;
      record.error = `${e.code || ''} ${e.message}`.trim();
      record.status = 400;
    }
    received.push(record);
    res.writeHead(record.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(record.status === 400 ? JSON.stringify({ error: 'invalid_request', error_description: record.error }) : '{}');
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});

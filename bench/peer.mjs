// The benchmark's peer: node oidc-provider 9 (a certified OpenID provider) on 127.0.0.1:PORT,
// configured like Gantry's bench config: one confidential client (client_secret_basic), ES256
// signing, JWT access tokens for client_credentials, introspection on.
// usage: PORT=7001 node peer.mjs (seeds: see below)
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const PORT = Number(process.env.PORT || 7001);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'urn:gantry:bench';
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench' };

// In memory like oidc-provider's development adapter, without its 1000-entry LRU: a round holds
// more tokens than that, and an evicted token would answer invalid_grant.
const store = new Map();
class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      const g = `grant:${payload.grantId}`;
      store.set(g, [...(store.get(g) || []), this.key(id)]);
    }
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) store.set(`sessionUid:${payload.uid}`, id);
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUserCode(code) { const id = store.get(`userCode:${code}`); return id && this.find(id); }
  async findByUid(uid) { const id = store.get(`sessionUid:${uid}`); return id && this.find(id); }
  async consume(id) {
    const p = store.get(this.key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    const g = `grant:${grantId}`;
    for (const k of store.get(g) || []) store.delete(k);
    store.delete(g);
  }
}

const provider = new Provider(ISSUER, {
  adapter: MapAdapter,
  jwks: { keys: [jwk] },
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    redirect_uris: ['http://127.0.0.1:5555/callback'],
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  scopes: ['openid', 'offline_access', 'api'],
  // Rotation on, as Gantry's default: every refresh spends its token and answers a new one.
  rotateRefreshToken: true,
  cookies: { keys: ['bench-only-cookie-key'] },
  // Codes are seeded before the rounds start and spent minutes later.
  ttl: { ClientCredentials: 600, AccessToken: 600, AuthorizationCode: 3600 },
});
// Seeds, as logins would leave them, each written to a file one per line:
// SEED_REFRESH=N refresh tokens (SEED_FILE), SEED_CODES=N authorization codes (CODES_FILE),
// and with USERINFO_FILE one access token for the userinfo endpoint.
const client = await provider.Client.find('bench');
const now = Math.floor(Date.now() / 1000);
async function grantFor(accountId, scope) {
  const grant = new provider.Grant({ accountId, clientId: 'bench' });
  grant.addOIDCScope(scope);
  grant.addResourceScope(RESOURCE, 'api');
  return grant.save();
}
const seed = Number(process.env.SEED_REFRESH || 0);
if (seed > 0) {
  const tokens = [];
  for (let i = 0; i < seed; i += 1) {
    const accountId = `user${i}`;
    const grantId = await grantFor(accountId, 'openid offline_access');
    const rt = new provider.RefreshToken({
      accountId, client, grantId, authTime: now, gty: 'authorization_code',
      scope: 'openid offline_access api', resource: RESOURCE, expiresWithSession: false,
    });
    tokens.push(await rt.save());
  }
  writeFileSync(process.env.SEED_FILE, `${tokens.join('\n')}\n`);
}
const codes = Number(process.env.SEED_CODES || 0);
if (codes > 0) {
  const out = [];
  for (let i = 0; i < codes; i += 1) {
    const accountId = `user${i}`;
    const grantId = await grantFor(accountId, 'openid');
    const code = new provider.AuthorizationCode({
      accountId, client, grantId, authTime: now, scope: 'openid api', resource: RESOURCE,
      redirectUri: 'http://127.0.0.1:5555/callback',
    });
    out.push(await code.save());
  }
  writeFileSync(process.env.CODES_FILE, `${out.join('\n')}\n`);
}
if (process.env.USERINFO_FILE) {
  const grantId = await grantFor('bench', 'openid');
  const at = new provider.AccessToken({ accountId: 'bench', client, grantId, scope: 'openid' });
  writeFileSync(process.env.USERINFO_FILE, `${await at.save()}\n`);
}
provider.listen(PORT, '127.0.0.1', () => console.log(`peer listening, issuer ${ISSUER}`));

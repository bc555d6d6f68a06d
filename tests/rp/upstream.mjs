// An upstream OpenID provider for Gantry's connector tests: node oidc-provider (a certified
// OP) on 127.0.0.1:$PORT, with open dynamic client registration (each test registers the client
// Gantry will be), devInteractions (any login name logs in), and two test-only routes:
//   POST /test/revoke?account=A          drop every refresh token of account A (upstream revocation)
//   POST /test/groups?account=A&groups=x,y   change what A's groups claim says from now on
// A login name "name+g1+g2" is account "name+g1+g2" with preferred_username "name" and groups
// [g1, g2], so tests make the users they need by logging in. An account whose name starts with
// "mfa" logs in with amr [pwd, otp, mfa], as if the provider had asked for a second factor.
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 7001);
// ISSUER may name another host for the same loopback port (http://localhost:PORT), so that a
// browser going between Gantry (127.0.0.1) and the provider crosses sites as in production.
const ISSUER = process.env.ISSUER || `http://127.0.0.1:${PORT}`;

// An in-memory adapter that can also find tokens by account, for /test/revoke.
const stores = new Map();
class MemoryAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }
  async upsert(id, payload, expiresIn) {
    this.store.set(id, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : null });
  }
  async find(id) {
    const e = this.store.get(id);
    if (!e) return undefined;
    if (e.exp && e.exp < Date.now()) { this.store.delete(id); return undefined; }
    return e.payload;
  }
  async findByUid(uid) {
    for (const [id, e] of this.store) if (e.payload.uid === uid) return this.find(id);
    return undefined;
  }
  async findByUserCode(code) {
    for (const [id, e] of this.store) if (e.payload.userCode === code) return this.find(id);
    return undefined;
  }
  async consume(id) {
    const e = this.store.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { this.store.delete(id); }
  async revokeByGrantId(grantId) {
    for (const [id, e] of this.store) if (e.payload.grantId === grantId) this.store.delete(id);
  }
}

const groupOverrides = new Map();
const groupsOf = (account) =>
  groupOverrides.get(account) ?? account.split('+').slice(1).filter(Boolean);

const provider = new Provider(ISSUER, {
  adapter: MemoryAdapter,
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    // RFC 7662: how Gantry proves an opaque access token was issued to its own client.
    introspection: { enabled: true },
  },
  claims: {
    // amr only where a login set it (below); a claim reaches the ID token through a scope.
    openid: ['sub', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => {
      const name = id.split('+')[0];
      return {
        sub: id, name, preferred_username: name,
        email: `${name}@upstream.example`, email_verified: true,
        groups: groupsOf(id),
      };
    },
  }),
  // Scope claims in the ID token too, as most company IdPs do.
  conformIdTokenClaims: false,
  cookies: { keys: ['gantry-test-upstream-cookie-key'] },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600,
         Grant: 3600, RefreshToken: 3600 },
  // Refresh tokens for any client that may refresh and asked for offline_access.
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
});
provider.proxy = false;

// devInteractions finishes a login with the account only; the amr goes in here.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login?.accountId?.startsWith('mfa')) result.login.amr = ['pwd', 'otp', 'mfa'];
  return interactionFinished(req, res, result, options);
};

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/revoke') {
    const account = ctx.query.account;
    let n = 0;
    for (const [name, store] of stores) {
      if (name !== 'RefreshToken') continue;
      for (const [id, e] of store) if (e.payload.accountId === account) { store.delete(id); n += 1; }
    }
    ctx.body = { revoked: n };
    return;
  }
  if (ctx.method === 'POST' && ctx.path === '/test/groups') {
    groupOverrides.set(ctx.query.account, String(ctx.query.groups || '').split(',').filter(Boolean));
    ctx.body = { ok: true };
    return;
  }
  await next();
});

provider.listen(PORT, '127.0.0.1', () => console.log(`upstream OP listening, issuer ${ISSUER}`));

// The benchmark's peer: node oidc-provider 9 (a certified OpenID provider) on 127.0.0.1:PORT,
// configured like Gantry's bench config: one confidential client (client_secret_basic), ES256
// signing, JWT access tokens for client_credentials, introspection on.
// usage: PORT=7001 node peer.mjs
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const PORT = Number(process.env.PORT || 7001);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = 'urn:gantry:bench';
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench' };

const provider = new Provider(ISSUER, {
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
  cookies: { keys: ['bench-only-cookie-key'] },
  ttl: { ClientCredentials: 600, AccessToken: 600 },
});
provider.listen(PORT, '127.0.0.1', () => console.log(`peer listening, issuer ${ISSUER}`));

-- One server-side session per signed-in browser (single sign-on). The cookie holds the id and
-- a secret; only the secret's SHA-256 is kept. The id is public: it is the `sid` of tokens.
CREATE TABLE browser_sessions (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- JSON Identity as of the last login or connector refresh.
    identity TEXT NOT NULL,
    -- When the user last proved who they are to the connector (OIDC auth_time).
    auth_time BIGINT NOT NULL,
    -- How (RFC 8176 amr values, space-separated), and when a second factor was last given.
    amr TEXT NOT NULL,
    mfa_time BIGINT,
    remember BIGINT NOT NULL DEFAULT 0,
    -- When the connector last vouched for the identity (a refresh hook re-checks it).
    checked_at BIGINT NOT NULL,
    address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_subject ON browser_sessions (connector_id, subject);
CREATE INDEX browser_sessions_expires ON browser_sessions (expires_at);

-- The clients a session logged in to: directly, or through another client's ssoSharedWith.
CREATE TABLE session_clients (
    session_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    via_sso BIGINT NOT NULL DEFAULT 0,
    last_issued_at BIGINT NOT NULL,
    -- The scopes the user approved for the client in this session (consent is not asked again).
    scopes TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, client_id)
);

-- What a login request asked of the session, and what the login gave.
ALTER TABLE auth_requests ADD COLUMN session_id TEXT;
ALTER TABLE auth_requests ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN max_age BIGINT;
ALTER TABLE auth_requests ADD COLUMN acr_values TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN login_hint TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN remember BIGINT NOT NULL DEFAULT 0;

-- Codes and refresh tokens remember their session (sid) and how the user logged in (amr).
ALTER TABLE auth_codes ADD COLUMN session_id TEXT;
ALTER TABLE auth_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Dex's ssoSharedWith (JSON array; NULL: sessions.ssoSharedWithDefault) and
-- refreshTokenLifetime ('' or 'standalone': outlives the session; 'session': ends with it).
ALTER TABLE clients ADD COLUMN sso_shared_with TEXT;
ALTER TABLE clients ADD COLUMN refresh_token_lifetime TEXT NOT NULL DEFAULT '';

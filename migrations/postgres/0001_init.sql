-- Gantry schema, PostgreSQL dialect. Keep in step with migrations/sqlite/0001_init.sql.
CREATE TABLE auth_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    connector_id TEXT,
    identity TEXT,
    -- SHA-256 of the CSRF cookie of the browser that logged in: only it may approve.
    browser_hash TEXT,
    logged_in_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    identity TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    access_jti TEXT,
    access_expires_at BIGINT,
    refresh_family TEXT
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    nonce TEXT NOT NULL,
    identity TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    family_created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    successor_id TEXT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (client_id, subject);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE passwords (
    email TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    username TEXT NOT NULL,
    user_id TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- argon2id replacements for bcrypt hashes that come from the config file, keyed by the
-- config hash they replace, so editing the config invalidates them.
CREATE TABLE password_upgrades (
    email TEXT PRIMARY KEY,
    source_digest TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_der BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    -- Published from created_at, signing from active_from.
    active_from BIGINT NOT NULL,
    retired_at BIGINT,
    remove_at BIGINT
);

CREATE TABLE key_rotation (
    id BIGINT PRIMARY KEY,
    next_rotation BIGINT NOT NULL,
    version BIGINT NOT NULL
);

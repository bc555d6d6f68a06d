-- Gantry schema, SQLite dialect. Keep in step with migrations/postgres/0001_init.sql.
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
    logged_in_at INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
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
    auth_time INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    access_jti TEXT,
    access_expires_at INTEGER,
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
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    family_created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    successor_id TEXT,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (client_id, subject);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE passwords (
    email TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    username TEXT NOT NULL,
    user_id TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created_at INTEGER NOT NULL
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
    private_der BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    -- Published from created_at, signing from active_from.
    active_from INTEGER NOT NULL,
    retired_at INTEGER,
    remove_at INTEGER
);

CREATE TABLE key_rotation (
    id INTEGER PRIMARY KEY,
    next_rotation INTEGER NOT NULL,
    version INTEGER NOT NULL
);

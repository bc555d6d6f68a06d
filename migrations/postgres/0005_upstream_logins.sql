-- A login sent to an upstream provider, waiting for its callback. Keyed by the SHA-256 of the
-- state sent upstream; taken (deleted) by the callback, so a replayed callback finds nothing.
CREATE TABLE upstream_logins (
    state_hash TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    -- SHA-256 of the CSRF cookie of the browser that left: only it may come back.
    browser_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_logins_expires ON upstream_logins (expires_at);

-- Values the deployment generates once and every replica shares (the fallback sealing key).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

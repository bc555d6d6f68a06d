-- RFC 8628 device authorization requests. The device code is stored only as its hash.
CREATE TABLE device_requests (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL,
    identity TEXT,
    auth_time INTEGER,
    interval_secs INTEGER NOT NULL,
    last_poll_at INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX device_requests_expires ON device_requests (expires_at);

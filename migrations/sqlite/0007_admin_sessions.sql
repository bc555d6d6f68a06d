-- Signed-in administrators of the web UI, under the SHA-256 of their session cookie.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

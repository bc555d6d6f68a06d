-- OAuth2 clients created by admins (the config file's are not here). Lists are JSON arrays;
-- the secret only as its SHA-256.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    secret_hash TEXT,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    trusted_peers TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    public_client INTEGER NOT NULL,
    require_pkce INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

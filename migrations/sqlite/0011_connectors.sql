-- Connectors created by admins (the config file's are not here). `config` is the connector's
-- Dex-style config block as JSON without its secrets; `secrets` holds those (bindPW,
-- clientSecret) sealed with the deployment's encryption key. `version` changes on every write,
-- so replicas rebuild only the connectors that changed.
CREATE TABLE connectors (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    secrets TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

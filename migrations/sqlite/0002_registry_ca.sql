-- The registry CA: long-lived, certifies the short-lived signing keys of registry tokens.
CREATE TABLE registry_ca (
    id INTEGER PRIMARY KEY,
    key_der BLOB NOT NULL,
    cert_der BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

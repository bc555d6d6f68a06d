-- The registry CA: long-lived, certifies the short-lived signing keys of registry tokens.
CREATE TABLE registry_ca (
    id BIGINT PRIMARY KEY,
    key_der BYTEA NOT NULL,
    cert_der BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

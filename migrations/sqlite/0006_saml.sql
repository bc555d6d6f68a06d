-- A SAML login's verified identity, parked between the IdP's cross-site POST (which carries no
-- cookie) and the browser's same-site GET that proves it is the browser that left.
ALTER TABLE upstream_logins ADD COLUMN identity TEXT;

-- Assertion IDs already accepted (SHA-256 of issuer and ID), until the assertion expires:
-- each assertion logs in once.
CREATE TABLE saml_assertions (
    id_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX saml_assertions_expires ON saml_assertions (expires_at);

-- Second factors (Dex master's `mfa`). A factor belongs to a connector identity: `subject` is
-- Identity::subject() (connector id + the connector's user id), so LDAP, SAML and upstream
-- users enrol like local ones. `kind` is the authenticator's kind ('totp'; 'webauthn' later,
-- with several rows per user); `authenticator_id` is mfa.authenticators[].id.
CREATE TABLE mfa_factors (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    authenticator_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- Sealed with the deployment's sealer: a TOTP secret must be read back to check a code.
    secret TEXT NOT NULL,
    -- TOTP: the last time step accepted; a code of this step or an earlier one is refused.
    last_step BIGINT NOT NULL DEFAULT -1,
    -- NULL until the user proved, with a code, that the authenticator holds the secret.
    confirmed_at BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX mfa_factors_one_totp ON mfa_factors (subject, authenticator_id)
    WHERE kind = 'totp';
CREATE INDEX mfa_factors_subject ON mfa_factors (subject);

-- Recovery codes, shown once: only the SHA-256 of each (high-entropy) code is kept.
CREATE TABLE mfa_recovery_codes (
    subject TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (subject, code_hash)
);

-- Wrong second-factor codes per identity, counted in the database so that every replica
-- shares one budget (a guesser spread over replicas gets no more tries).
CREATE TABLE mfa_guesses (
    subject TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

-- Dex master's mfaChain for clients admins create: a JSON array of authenticator ids.
-- NULL: mfa.defaultMFAChain; '[]': no second factor, whatever the default.
ALTER TABLE clients ADD COLUMN mfa_chain TEXT;

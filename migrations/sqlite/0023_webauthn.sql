-- WebAuthn keys beside TOTP (0021's mfa_factors): a user may hold several keys of one
-- authenticator, each a row of kind 'webauthn' whose sealed `secret` is the credential
-- (public key, id, flags) as webauthn-rs serializes it.
-- The name the user gave the key ('Office YubiKey').
ALTER TABLE mfa_factors ADD COLUMN name TEXT NOT NULL DEFAULT '';
-- The credential id (base64url): one key belongs to one identity, whoever registers it.
ALTER TABLE mfa_factors ADD COLUMN credential_id TEXT;
-- The authenticator's signature counter, kept beside the sealed credential so that an
-- assertion advances it with a compare-and-set: one whose counter does not go forward (a
-- cloned key, or an old assertion) loses, on every replica.
ALTER TABLE mfa_factors ADD COLUMN sign_count INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX mfa_factors_credential ON mfa_factors (credential_id)
    WHERE credential_id IS NOT NULL;

-- The WebAuthn ceremony a login's second-factor page started (challenge and what it allows),
-- kept server-side with the request: taken once by the answer, gone with the request.
ALTER TABLE auth_requests ADD COLUMN mfa_ceremony TEXT;

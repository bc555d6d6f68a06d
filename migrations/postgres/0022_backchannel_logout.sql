-- OpenID Connect Back-Channel Logout 1.0. Dex's backchannelLogoutURI for clients admins create:
-- where a logout token is POSTed when a session the client logged in to ends. NULL: not told.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;

-- The outbox: one logout token to deliver per client of an ended session. Kept in the
-- database so that a delivery survives a restart and is made by whichever replica claims it:
-- a claim moves next_attempt_at past the attempt (a lease) and writes its own claim token,
-- and only the holder of that token may record how the attempt ended. The token itself is
-- signed at each attempt and never stored.
CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim TEXT NOT NULL DEFAULT '',
    delivered_at BIGINT,
    gave_up_at BIGINT,
    last_error TEXT NOT NULL DEFAULT ''
);
-- A session that ends twice (logout racing an expiry) tells each client once.
CREATE UNIQUE INDEX logout_deliveries_once ON logout_deliveries (sid, client_id);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Admin sessions are checked again against their user on every request: the identity the
-- sign-in proved (what the connector re-validates) and when the connector last vouched for it.
-- A session from before cannot be re-checked, so it ends (its admin signs in again).
DELETE FROM admin_sessions;
ALTER TABLE admin_sessions ADD COLUMN identity TEXT NOT NULL DEFAULT '';
ALTER TABLE admin_sessions ADD COLUMN checked_at BIGINT NOT NULL DEFAULT 0;
-- Revoking a user, or disabling, deleting or regrouping them, ends their sessions by subject.
CREATE INDEX admin_sessions_subject ON admin_sessions (subject);

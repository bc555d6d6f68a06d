-- The request that caused an audit event, as in the logs' request_id and the X-Request-Id
-- header ('' for events of background tasks).
ALTER TABLE audit_log ADD COLUMN request_id TEXT NOT NULL DEFAULT '';

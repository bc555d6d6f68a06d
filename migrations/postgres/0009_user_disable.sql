-- Users an admin disabled keep their row (and their id) but cannot log in or refresh.
ALTER TABLE passwords ADD COLUMN disabled_at BIGINT;

-- The address a device asked for its code from (the client address after trusted-proxy
-- handling), shown on the confirmation page so that a person can tell a request they did not
-- start. NULL for requests stored before this column existed.
ALTER TABLE device_requests ADD COLUMN requested_from TEXT;

-- A version for every user and client admins manage, for compare-and-set writes: each admin
-- change stores a new random one, and a write naming the version it read (If-Match, a form's
-- hidden field) lands only while that is still the stored one. Random rather than a counter,
-- so an object deleted and created again never matches a version read from the old one.
-- Connectors have had such a version since 0011.
ALTER TABLE passwords ADD COLUMN version TEXT NOT NULL DEFAULT '';
UPDATE passwords SET version = md5(random()::text || clock_timestamp()::text || email);
ALTER TABLE clients ADD COLUMN version TEXT NOT NULL DEFAULT '';
UPDATE clients SET version = md5(random()::text || clock_timestamp()::text || id);

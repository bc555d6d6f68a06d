-- Dex's allowedConnectors for clients admins create: a JSON array of connector ids the client
-- may log in through. Empty (every client until now): every connector, as in Dex.
ALTER TABLE clients ADD COLUMN allowed_connectors TEXT NOT NULL DEFAULT '[]';

-- Which client address started a login (rateLimits.pendingLoginsPerAddress counts the unfinished
-- ones per address); the address key in decimal, gone when the request is swept.
ALTER TABLE auth_requests ADD COLUMN client_key TEXT;
CREATE INDEX auth_requests_client_key ON auth_requests (client_key, expires_at);

-- How the user who approved a device proved who they are (RFC 8176 amr values, as the browser
-- login gave them): the device's tokens carry it, as browser logins' do.
ALTER TABLE device_requests ADD COLUMN amr TEXT NOT NULL DEFAULT '';

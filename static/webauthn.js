// The WebAuthn step of a login (templates/mfa_key.html): runs the browser's ceremony with the
// options the server put in the form, and posts the result in that form (with its CSRF token).
// The server keeps the ceremony's state; nothing here is trusted beyond what the key signs.
(function () {
  'use strict';
  var form = document.getElementById('key-form');
  if (!form) return;
  var button = document.getElementById('use-key');
  var error = document.getElementById('key-error');
  var mode = form.getAttribute('data-webauthn');
  var loadedAt = Date.now();

  function show(message) {
    error.textContent = message;
    error.hidden = false;
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    document.getElementById('key-unsupported').hidden = false;
    return;
  }

  // base64url (no padding) <-> ArrayBuffer, as the server's JSON carries binary fields.
  function toBuffer(s) {
    var b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function fromBuffer(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i += 1) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  var options = JSON.parse(form.getAttribute('data-options')).publicKey;
  var timeout = options.timeout || 60000;
  options.challenge = toBuffer(options.challenge);
  if (options.user) options.user.id = toBuffer(options.user.id);
  (options.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
  (options.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });

  function encode(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: fromBuffer(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: fromBuffer(r.clientDataJSON) },
    };
    if (mode === 'create') {
      out.response.attestationObject = fromBuffer(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = fromBuffer(r.authenticatorData);
      out.response.signature = fromBuffer(r.signature);
      out.response.userHandle = r.userHandle ? fromBuffer(r.userHandle) : null;
    }
    return out;
  }

  function run() {
    // The server refuses an answer after the ceremony's timeout: a page left open longer
    // fetches a new challenge first.
    if (Date.now() - loadedAt > timeout - 2000) {
      window.location.reload();
      return;
    }
    button.disabled = true;
    var call = mode === 'create'
      ? navigator.credentials.create({ publicKey: options })
      : navigator.credentials.get({ publicKey: options });
    call.then(function (cred) {
      document.getElementById('webauthn-response').value = JSON.stringify(encode(cred));
      form.submit();
    }, function (e) {
      button.disabled = false;
      show(e && e.name === 'NotAllowedError'
        ? 'The key did not answer, or the request was cancelled. Try again.'
        : 'The browser could not use the key (' + (e && e.name ? e.name : 'error') + '). Try again.');
    });
  }

  button.hidden = false;
  button.addEventListener('click', run);
})();

#!/usr/bin/env bash
# Throwaway SAML 2.0 IdP for Gantry's tests: Debian's SimpleSAMLphp 1.19 served by PHP's
# built-in web server on 127.0.0.1 only. Users alice/alice123 (groups admins, developers) and
# bob/bob123 (developers); attributes uid, email, mail, displayName, groups.
#
#   saml-idp.sh install           apt-get install the needed Debian packages (root)
#   saml-idp.sh start PORT DIR    generate key/cert + config in DIR, start `php -S`, wait until ready
#   saml-idp.sh stop DIR          stop the server started for DIR (by its PID)
#   saml-idp.sh status DIR        print PID/URLs if running
#
# Environment knobs (read by `start`):
#   SP_ENTITY_ID   SP entityID (default http://127.0.0.1:5556/dex/callback)
#   SP_ACS_URL     SP AssertionConsumerService, HTTP-POST (default http://127.0.0.1:5556/dex/callback)
#   SIGN_RESPONSE  1 = also sign the <samlp:Response> (default 0: sign only the Assertion)
#   SIGN_ASSERTION 0 = do not sign the Assertion (default 1)
#   NAMEID_FORMAT  email | persistent | transient | unspecified (default email)
#   IDP_HOST       host name in the IdP's URLs (default 127.0.0.1; "localhost" makes browser logins
#                  between it and a Gantry on 127.0.0.1 cross sites, as in production)
#   IDP_ENTITY_ID  IdP entityID (default http://IDP_HOST:PORT/simplesaml/saml2/idp/metadata.php)
#   STORE          phpsession | sqlite (default phpsession; files under DIR/sessions or DIR/data/store.sqlite)
#   LOG_LEVEL      SimpleSAMLphp log level: ERR|WARNING|NOTICE|INFO|DEBUG (default INFO) -> DIR/log/simplesamlphp.log
#   SSP_ROOT       SimpleSAMLphp install dir (default /usr/share/simplesamlphp)
#   PHP            php binary (default php)
set -euo pipefail

SSP_ROOT="${SSP_ROOT:-/usr/share/simplesamlphp}"
PHP="${PHP:-php}"

die() { echo "saml-idp: $*" >&2; exit 1; }

# Single-quoted PHP string literal.
phpq() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }

cmd_install() {
  [ "$(id -u)" = 0 ] || die "install needs root"
  if ! apt-cache policy simplesamlphp 2>/dev/null | grep -q Candidate; then apt-get update -q; fi
  # simplesamlphp Depends: apache2 | httpd, so apache2 gets installed too; it is never started here.
  # --no-upgrade: do not upgrade already-installed packages (openssl/libssl3, curl, ...) as a side effect.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-upgrade \
    simplesamlphp php-cli php-xml php-mbstring php-sqlite3 php-curl openssl xmlsec1 curl
}

cmd_start() {
  local port="${1:-}" dir="${2:-}"
  [ -n "$port" ] && [ -n "$dir" ] || die "usage: $0 start PORT DIR"
  [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be numeric"
  [ -d "$SSP_ROOT/www" ] || die "SimpleSAMLphp not found at $SSP_ROOT (run: $0 install)"
  command -v "$PHP" >/dev/null || die "php not found (run: $0 install)"
  command -v openssl >/dev/null || die "openssl not found"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/php.pid" ] && alive "$(cat "$dir/php.pid")"; then
    die "already running in $dir (pid $(cat "$dir/php.pid")); stop it first"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "127.0.0.1:$port is already in use"; fi

  local sp_entity="${SP_ENTITY_ID:-http://127.0.0.1:5556/dex/callback}"
  local sp_acs="${SP_ACS_URL:-http://127.0.0.1:5556/dex/callback}"
  local base="http://${IDP_HOST:-127.0.0.1}:${port}/simplesaml/"
  local idp_entity="${IDP_ENTITY_ID:-${base}saml2/idp/metadata.php}"
  local sign_resp=false sign_assert=true
  [ "${SIGN_RESPONSE:-0}" = 1 ] && sign_resp=true
  [ "${SIGN_ASSERTION:-1}" = 0 ] && sign_assert=false
  local nameid_fmt nameid_attr
  case "${NAMEID_FORMAT:-email}" in
    email)       nameid_fmt='urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'; nameid_attr=email ;;
    persistent)  nameid_fmt='urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';  nameid_attr=uid ;;
    transient)   nameid_fmt='urn:oasis:names:tc:SAML:2.0:nameid-format:transient';   nameid_attr= ;;
    unspecified) nameid_fmt='urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified'; nameid_attr=uid ;;
    *) die "NAMEID_FORMAT must be email|persistent|transient|unspecified" ;;
  esac
  local store_lines
  case "${STORE:-phpsession}" in
    phpsession) store_lines="'store.type' => 'phpsession',
    'session.phpsession.savepath' => $(phpq "$dir/sessions")," ;;
    sqlite|sql) store_lines="'store.type' => 'sql',
    'store.sql.dsn' => $(phpq "sqlite:$dir/data/store.sqlite"),
    'store.sql.prefix' => 'ssp'," ;;
    *) die "STORE must be phpsession|sqlite" ;;
  esac
  local log_level="${LOG_LEVEL:-INFO}"
  case "$log_level" in ERR|WARNING|NOTICE|INFO|DEBUG) ;; *) die "bad LOG_LEVEL";; esac

  mkdir -p "$dir"/{config,metadata,log,tmp,data,sessions,docroot}
  chmod 700 "$dir/sessions" "$dir/data"

  # 1. Fresh self-signed RSA key/cert for the IdP.
  if [ ! -s "$dir/idp.key" ] || [ ! -s "$dir/idp.crt" ] || [ "${REGEN_CERT:-0}" = 1 ]; then
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 30 \
      -subj "/CN=127.0.0.1 test SAML IdP" \
      -keyout "$dir/idp.key" -out "$dir/idp.crt" >/dev/null 2>&1 \
      || die "openssl failed"
    chmod 600 "$dir/idp.key"
  fi

  # Debian's www/ tree served under /simplesaml/ via a symlink (no copy, no router rewriting).
  ln -sfn "$SSP_ROOT/www" "$dir/docroot/simplesaml"

  local salt adminpw
  salt="$(openssl rand -hex 24)"
  adminpw="$(openssl rand -hex 12)"
  echo "$adminpw" > "$dir/admin-password"; chmod 600 "$dir/admin-password"

  # 2. config.php (self-contained; does NOT include Debian's /var/lib/simplesamlphp/secrets.inc.php)
  cat > "$dir/config/config.php" <<PHP
<?php
// Generated by saml-idp.sh -- throwaway loopback test IdP.
\$config = [
    'baseurlpath' => $(phpq "$base"),
    'certdir' => $(phpq "$dir/"),
    'loggingdir' => $(phpq "$dir/log/"),
    'datadir' => $(phpq "$dir/data/"),
    'tempdir' => $(phpq "$dir/tmp"),
    'metadatadir' => $(phpq "$dir/metadata/"),
    'attributenamemapdir' => $(phpq "$SSP_ROOT/config/attributemap/"),
    'metadata.sources' => [['type' => 'flatfile', 'directory' => $(phpq "$dir/metadata/")]],

    'secretsalt' => $(phpq "$salt"),
    'auth.adminpassword' => $(phpq "$adminpw"),
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'technicalcontact_name' => 'Test',
    'technicalcontact_email' => 'test@example.org',
    'timezone' => 'UTC',

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'enable.http_post' => false,
    'trusted.url.domains' => ['127.0.0.1', '127.0.0.1:$port', 'localhost', 'localhost:$port'],

    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],

    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'showerrors' => true,
    'errorreporting' => false,
    'production' => true,
    'logging.level' => SimpleSAML\Logger::$log_level,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'logging.processname' => 'simplesamlphp',
    'statistics.out' => [],

    'session.duration' => 8 * 3600,
    'session.datastore.timeout' => 4 * 3600,
    'session.state.timeout' => 3600,
    'session.cookie.name' => 'SimpleSAMLSessionID',
    'session.cookie.path' => '/',
    'session.cookie.domain' => null,
    'session.cookie.secure' => false,      // plain http on loopback: Secure cookies would never come back
    'session.cookie.samesite' => null,
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.httponly' => true,
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken',
    'session.rememberme.enable' => false,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,
    'language.default' => 'en',
    'theme.use' => 'default',
    'template.auto_reload' => false,

    $store_lines

    'authproc.idp' => [],
    'authproc.sp' => [],
];
PHP

  # 3. Auth source with two static users.
  cat > "$dir/config/authsources.php" <<'PHP'
<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'alice:alice123' => [
            'uid' => ['alice'],
            'email' => ['alice@example.org'],
            'mail' => ['alice@example.org'],
            'displayName' => ['Alice Example'],
            'groups' => ['admins', 'developers'],
        ],
        'bob:bob123' => [
            'uid' => ['bob'],
            'email' => ['bob@example.org'],
            'mail' => ['bob@example.org'],
            'displayName' => ['Bob Example'],
            'groups' => ['developers'],
        ],
    ],
];
PHP

  # 4. Hosted IdP metadata.
  cat > "$dir/metadata/saml20-idp-hosted.php" <<PHP
<?php
\$metadata[$(phpq "$idp_entity")] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'userid.attribute' => 'uid',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'saml20.sign.assertion' => $sign_assert,
    'saml20.sign.response' => $sign_resp,   // NB: SimpleSAMLphp 1.19 defaults this to TRUE
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'NameIDFormat' => $(phpq "$nameid_fmt"),
];
PHP

  # 5. Remote SP metadata.
  {
    cat <<PHP
<?php
\$metadata[$(phpq "$sp_entity")] = [
    'AssertionConsumerService' => [
        ['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'Location' => $(phpq "$sp_acs"), 'index' => 0, 'isDefault' => true],
    ],
    'NameIDFormat' => $(phpq "$nameid_fmt"),
PHP
    [ -n "$nameid_attr" ] && echo "    'simplesaml.nameidattribute' => $(phpq "$nameid_attr"),"
    cat <<PHP
    'simplesaml.attributes' => true,
    'attributes' => ['uid', 'email', 'mail', 'displayName', 'groups'],
    'saml20.sign.assertion' => $sign_assert,
    'saml20.sign.response' => $sign_resp,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'validate.authnrequest' => false,
    'assertion.encryption' => false,
];
PHP
  } > "$dir/metadata/saml20-sp-remote.php"

  for f in "$dir"/config/*.php "$dir"/metadata/*.php; do
    "$PHP" -l "$f" >/dev/null || die "syntax error in generated $f"
  done

  # 6. Start PHP's built-in server (loopback only). No router script needed: the
  #    built-in server resolves /simplesaml/<script>.php/<path-info> through the symlink
  #    and fills PATH_INFO itself; static assets are served directly.
  : > "$dir/server.log"
  local t0; t0=$(date +%s.%N)
  SIMPLESAMLPHP_CONFIG_DIR="$dir/config" TZ=UTC \
  setsid "$PHP" -d date.timezone=UTC -d display_errors=stderr -d log_errors=On -d error_log="$dir/log/php-errors.log" \
      -d session.save_path="$dir/sessions" -d variables_order=EGPCS \
      -S "127.0.0.1:$port" -t "$dir/docroot" >>"$dir/server.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$dir/php.pid"
  echo "$port" > "$dir/port"

  local md="${base}saml2/idp/metadata.php" i
  for i in $(seq 1 100); do
    if ! alive "$pid"; then cat "$dir/server.log" >&2; rm -f "$dir/php.pid"; die "php -S exited"; fi
    if curl -fsS --noproxy '*' -o "$dir/idp-metadata.xml" "${md/localhost/127.0.0.1}" 2>/dev/null \
        && grep -q 'EntityDescriptor' "$dir/idp-metadata.xml"; then
      break
    fi
    sleep 0.1
  done
  if ! grep -q "entityID=\"$idp_entity\"" "$dir/idp-metadata.xml" 2>/dev/null || ! alive "$pid"; then
    cmd_stop "$dir" >/dev/null; die "IdP did not become ready; see $dir/server.log $dir/log/"
  fi
  local t1; t1=$(date +%s.%N)
  {
    echo "PID=$pid"
    echo "PORT=$port"
    echo "IDP_ENTITY_ID=$idp_entity"
    echo "IDP_METADATA_URL=$md"
    echo "IDP_SSO_URL=${base}saml2/idp/SSOService.php"
    echo "IDP_SLO_URL=${base}saml2/idp/SingleLogoutService.php"
    echo "IDP_CERT=$dir/idp.crt"
    echo "SP_ENTITY_ID=$sp_entity"
    echo "SP_ACS_URL=$sp_acs"
    echo "SIGN_RESPONSE=$([ "$sign_resp" = true ] && echo 1 || echo 0)"
    echo "SIGN_ASSERTION=$([ "$sign_assert" = true ] && echo 1 || echo 0)"
    echo "NAMEID_FORMAT=$nameid_fmt"
  } > "$dir/idp.env"
  cat "$dir/idp.env"
  printf 'READY_SECONDS=%.2f\n' "$(echo "$t1 - $t0" | bc 2>/dev/null || python3 -c "print($t1-$t0)")"
}

# Alive = exists and not a zombie (the php process is re-parented to PID 1 once `start`
# returns; if PID 1 reaps slowly, a killed server lingers as a zombie for a while).
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

cmd_stop() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: $0 stop DIR"
  local pidf="$dir/php.pid"
  [ -f "$pidf" ] || { echo "saml-idp: not running (no $pidf)"; return 0; }
  local pid port; pid="$(cat "$pidf")"; port="$(cat "$dir/port" 2>/dev/null || true)"
  # Only signal the PID if it is still *our* php -S (guards against PID reuse).
  if alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-S 127.0.0.1:$port "; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    echo "saml-idp: stopped pid $pid"
  else
    echo "saml-idp: pid $pid not running"
  fi
  rm -f "$pidf"
}

cmd_status() {
  local dir="${1:-}"
  [ -n "$dir" ] || die "usage: $0 status DIR"
  if [ -f "$dir/php.pid" ] && alive "$(cat "$dir/php.pid")"; then
    cat "$dir/idp.env"; else echo "not running"; return 1; fi
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  start)   shift; cmd_start "$@" ;;
  stop)    shift; cmd_stop "$@" ;;
  status)  shift; cmd_status "$@" ;;
  *) echo "usage: $0 {install|start PORT DIR|stop DIR|status DIR}" >&2; exit 2 ;;
esac

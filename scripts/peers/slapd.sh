#!/usr/bin/env bash
# A throwaway OpenLDAP for Gantry's tests: all state in DIR, loopback only, plain LDAP (with
# StartTLS) on PORT and ldaps on TLS_PORT, with a test CA in DIR/ca.crt.
#
#   slapd.sh start PORT TLS_PORT DIR   create, seed and start (prints nothing on success);
#                                      REQUIRE_CLIENT_CERT=1 makes TLS clients present a
#                                      certificate from the test CA (DIR/client.crt, client.key)
#   slapd.sh stop DIR                  stop (data stays)
#   slapd.sh restart DIR               start again on the same ports and data
#
# Directory: base dc=example,dc=org; admin cn=admin,dc=example,dc=org / admin;
# service account cn=readonly,dc=example,dc=org / readonly (read-only);
# people under ou=people, groups (groupOfNames) under ou=groups:
#   alice / alice123   admins, developers, and platform (nested: platform is a member of developers)
#   bob / bob123       developers (which he shares with alice, an admin: he must not get admins)
#   carol / carol123   no group
#   dave / dave123     platform -> developers (through nesting)
#   frank / frank123   backend only; backend is in developers, developers in engineering
#   twin / twin123     two entries with uid=twin (ou=people and ou=contractors): ambiguous
#   cycle-a and cycle-b are members of each other; erin / erin123 is in cycle-a
set -euo pipefail
BASE="dc=example,dc=org"
ADMIN="cn=admin,$BASE"

run_slapd() {
  local dir=$1
  # shellcheck disable=SC1091
  . "$dir/ports"
  slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$PORT/ ldaps://127.0.0.1:$TLS_PORT/" -n "gantry-slapd-$PORT"
  for _ in $(seq 1 100); do
    ldapsearch -x -LLL -H "ldap://127.0.0.1:$PORT/" -s base -b "" namingContexts >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "slapd did not come up on $PORT" >&2
  return 1
}

stop_slapd() {
  local dir=$1
  [ -f "$dir/slapd.pid" ] || return 0
  local pid
  pid=$(cat "$dir/slapd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  start)
    PORT=${2:?port}; TLS_PORT=${3:?tls port}; DIR=${4:?dir}
    mkdir -p "$DIR/db"
    printf 'PORT=%s\nTLS_PORT=%s\n' "$PORT" "$TLS_PORT" > "$DIR/ports"
    # A test CA and a server certificate for 127.0.0.1 and localhost.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Gantry test LDAP CA" -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
      -keyout "$DIR/tls.key" -out "$DIR/tls.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$DIR/ext"
    openssl x509 -req -in "$DIR/tls.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
      -days 2 -extfile "$DIR/ext" -out "$DIR/tls.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=gantry-client \
      -keyout "$DIR/client.key" -out "$DIR/client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > "$DIR/client-ext"
    openssl x509 -req -in "$DIR/client.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
      -days 2 -extfile "$DIR/client-ext" -out "$DIR/client.crt" 2>/dev/null
    VERIFY_CLIENT=never
    [ "${REQUIRE_CLIENT_CERT:-}" = 1 ] && VERIFY_CLIENT=demand
    # A second CA that signed nothing: clients trusting only it must refuse the server.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Unrelated CA" -keyout "$DIR/other-ca.key" -out "$DIR/other-ca.crt" 2>/dev/null
    cat > "$DIR/slapd.conf" <<CONF
include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/inetorgperson.schema
include   /etc/ldap/schema/nis.schema
pidfile   $DIR/slapd.pid
argsfile  $DIR/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
loglevel  none
TLSCertificateFile $DIR/tls.crt
TLSCertificateKeyFile $DIR/tls.key
TLSCACertificateFile $DIR/ca.crt
TLSVerifyClient $VERIFY_CLIENT

database  mdb
maxsize   104857600
suffix    "$BASE"
rootdn    "$ADMIN"
rootpw    $(slappasswd -s admin)
directory $DIR/db
index     objectClass eq
index     uid,mail,cn,member eq

access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact="cn=readonly,$BASE" read
  by users read
  by * none
CONF
    run_slapd "$DIR"
    h() { slappasswd -h '{SSHA}' -s "$1"; }
    person() { # uid ou cn password
      printf 'dn: uid=%s,ou=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.org\nuserPassword: %s\n\n' \
        "$1" "$2" "$BASE" "$1" "$3" "$1" "$1" "$(h "$4")"
    }
    group() { # cn member-dn...
      local cn=$1; shift
      printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n' "$cn" "$BASE" "$cn"
      for m in "$@"; do printf 'member: %s\n' "$m"; done
      printf '\n'
    }
    P="ou=people,$BASE"; G="ou=groups,$BASE"
    {
      printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$BASE"
      for ou in people groups contractors; do printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$BASE" "$ou"; done
      printf 'dn: cn=readonly,%s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: readonly\nuserPassword: %s\n\n' "$BASE" "$(h readonly)"
      person alice people "Alice Anders" alice123
      person bob people "Bob Brown" bob123
      person carol people "Carol Clark" carol123
      person dave people "Dave Dunn" dave123
      person erin people "Erin Earl" erin123
      person frank people "Frank Fox" frank123
      person twin people "Twin One" twin123
      person twin contractors "Twin Two" twin123
      group admins "uid=alice,$P"
      group platform "uid=alice,$P" "uid=dave,$P"
      group backend "uid=frank,$P"
      group developers "uid=alice,$P" "uid=bob,$P" "cn=platform,$G" "cn=backend,$G"
      group engineering "cn=developers,$G"
      group cycle-a "uid=erin,$P" "cn=cycle-b,$G"
      group cycle-b "cn=cycle-a,$G"
    } > "$DIR/seed.ldif"
    ldapadd -x -H "ldap://127.0.0.1:$PORT/" -D "$ADMIN" -w admin -f "$DIR/seed.ldif" >/dev/null
    ;;
  stop) stop_slapd "${2:?dir}" ;;
  restart) run_slapd "${2:?dir}" ;;
  *) echo "usage: $0 start PORT TLS_PORT DIR | stop DIR | restart DIR" >&2; exit 2 ;;
esac

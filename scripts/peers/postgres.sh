#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in DIR: trust auth, loopback only, a free port from 20000-39999.
#
#   postgres.sh start DIR [extra postgres -c settings...]   prints the port
#   postgres.sh stop DIR                                    (immediate: like a crash)
#   postgres.sh restart DIR                                 the same cluster, port and settings
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
  start)
    DIR=${2:?dir}; shift 2
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_pg "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
    settings="-c listen_addresses=127.0.0.1 -c max_connections=300"
    for s in "$@"; do settings="$settings -c $s"; done
    for _ in $(seq 1 20); do
      port=$(( 20000 + RANDOM % 20000 ))
      if as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o "-p $port -k $DIR $settings" \
          start >/dev/null 2>&1; then
        echo "-p $port -k $DIR $settings" > "$DIR/options"
        echo "$port"; exit 0
      fi
    done
    echo "PostgreSQL did not start:" >&2; cat "$DIR/log" >&2; exit 1
    ;;
  stop)
    DIR=${2:?dir}
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  restart)
    DIR=${2:?dir}
    # Right after an immediate stop the old server's processes may still hold its shared
    # memory for a moment, and the new one refuses to start: try again shortly.
    for _ in $(seq 1 10); do
      if as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o "$(cat "$DIR/options")" \
          start >/dev/null 2>&1; then
        exit 0
      fi
      sleep 0.5
    done
    echo "PostgreSQL did not start again:" >&2; tail -20 "$DIR/log" >&2; exit 1
    ;;
  version)
    "$PGBIN/postgres" --version
    ;;
  *)
    echo "usage: $0 start DIR [setting=value...] | stop DIR | restart DIR | version" >&2; exit 2
    ;;
esac

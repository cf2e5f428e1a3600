#!/usr/bin/env bash
# A throw-away PostgreSQL server for ceuskit's tests, on 127.0.0.1 only.
#   scripts/pg-test-server.sh start        -> prints "URL DIR" (URL = postgresql+psycopg://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg-test-server.sh stop DIR     -> stops that server and deletes DIR
# As root (CI) the server runs as the `postgres` OS user through runuser. Exit 3 when the server binaries are missing.
set -euo pipefail

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  done
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  fi
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd=${1:-}
case "$cmd" in
  start)
    bindir=$(find_bindir) || {
      echo "ceuskit: PostgreSQL server binaries (initdb, pg_ctl) not found; run \`make install\` (it apt-installs postgresql)" >&2
      exit 3
    }
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
      echo "ceuskit: running as root but there is no 'postgres' OS user; run \`make install\` (it apt-installs postgresql)" >&2
      exit 3
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ceuskit-pg.XXXXXX")
    chmod 755 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
      || as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
      || { echo "ceuskit: initdb failed; see $dir/initdb.log" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    for attempt in 1 2 3 4 5; do
      port=$(free_port)
      if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
          -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
          start >/dev/null 2>&1; then
        echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres $dir"
        exit 0
      fi
    done
    echo "ceuskit: PostgreSQL did not start; see $dir/server.log" >&2
    tail -n 20 "$dir/server.log" >&2 || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: pg-test-server.sh stop DIR}
    [[ -d $dir/data ]] || exit 0
    bindir=$(find_bindir) || exit 0
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac

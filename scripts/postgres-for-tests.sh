#!/usr/bin/env bash
# A throw-away PostgreSQL server for the database tests (CI or a developer machine).
#
#   url=$(scripts/postgres-for-tests.sh start [DIR])   # prints the SQLAlchemy URL on stdout
#   REPOMEND_TEST_POSTGRES_URL=$url .venv/bin/python -m pytest tests/server -q
#   scripts/postgres-for-tests.sh stop DIR              # stops it and deletes DIR
#
# The server listens only on a unix socket inside DIR (no TCP port to collide with), trusts local
# connections, and keeps its data in DIR. Installs Debian's postgresql package when no server
# binaries are found (needs root). Run as root, the server runs as the `postgres` user.
set -euo pipefail

action=${1:-start}
dir=${2:-}

find_bindir() {
    local candidate
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
        pg_config --bindir
        return
    fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$candidate/pg_ctl" && -x "$candidate/initdb" ]]; then
            echo "$candidate"
            return
        fi
    done
}

as_owner() {
    # initdb and postgres refuse to run as root.
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

bindir=$(find_bindir)
if [[ -z "$bindir" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "postgres-for-tests: no PostgreSQL server found; install Debian's postgresql package" >&2
        exit 1
    fi
    echo "postgres-for-tests: installing postgresql" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir)
fi

case "$action" in
start)
    dir=${dir:-$(mktemp -d /tmp/repomend-pg.XXXXXX)}
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U repomend --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $dir -c fsync=off -c full_page_writes=off" start >&2
    as_owner "$bindir/createdb" -h "$dir" -U repomend repomend_test
    echo "postgresql+psycopg://repomend@/repomend_test?host=$dir"
    ;;
stop)
    if [[ -z "$dir" ]]; then
        echo "usage: $0 stop DIR" >&2
        exit 2
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac

#!/bin/sh
# A throwaway PostgreSQL 15 server for the tests (Debian's postgresql-15),
# in a folder of its own, on 127.0.0.1 and a Unix socket in that folder.
#
#   pg_server.sh start DIR PORT   initdb (once) and start; prints the admin URL
#   pg_server.sh stop DIR         fast shutdown
#
# initdb refuses to run as root, and CI runs as root: the server then runs
# as the unprivileged "postgres" user that the package creates (or nobody).
# fsync is off unless PG_FSYNC=on: the tests' servers hold nothing worth a
# power cut; tools/bench turns it on.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "pg_server.sh: PostgreSQL is not installed (apt-get install postgresql-15)" >&2; exit 2; }
user=""
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id -u postgres >/dev/null 2>&1 || user=nobody
fi
as() {
    if [ -n "$user" ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}
cmd=$1
dir=$2
case "$cmd" in
start)
    port=$3
    mkdir -p "$dir"
    [ -n "$user" ] && chown "$user" "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as "$bin/initdb" -D "$dir/data" -U webhookd --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
        "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://webhookd@127.0.0.1:$port/postgres"
    ;;
stop)
    as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: pg_server.sh start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac

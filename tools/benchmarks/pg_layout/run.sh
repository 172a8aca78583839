#!/bin/sh
# Would a narrow table of due and leased rows beside the deliveries history
# make PostgreSQL cheaper per delivery? Each pgbench transaction pair claims,
# leases, finishes and records the attempts of one batch of 64, in plain SQL:
# wide.sql on webhookd's schema; narrow.sql and offrow.sql on
# narrow_schema.sql's variant, the first writing both rows at the lease, the
# second only the narrow one (the history row once, at the finish).
# Runs alternate; each prints tps and the machine's CPU per delivery
# (/proc/stat, pgbench's own included). A server of its own, fsync on, the
# worker's synchronous_commit = off.
#
#   tools/benchmarks/pg_layout/run.sh [ROUNDS]     (from the source root, after a build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
ctl="$root/build/src/apps/webhookctl/webhookctl"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
rounds=${1:-3}
batches=700 # a run's batches of 64; rounds * batches * 64 <= 200,000
dir=$(mktemp -d /tmp/webhookd-pg-layout-XXXXXX)
chmod 755 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'sh "$root/tests/support/pg_server.sh" stop "$dir"; rm -rf "$dir"' EXIT
url=$(PG_FSYNC=on sh "$root/tests/support/pg_server.sh" start "$dir" "$port" | tail -1)
base=${url%/postgres}
python3 -c 'import json
for i in range(200000): print(json.dumps({"type": "order.created", "data": {"order": "ord_%d" % i}}))' >"$dir/events.ndjson"
for db in wide narrow offrow; do
    echo "filling $db: 200,000 deliveries" >&2
    psql -q "$url" -c "CREATE DATABASE $db"
    "$ctl" --db "$base/$db" init >/dev/null
    "$ctl" --db "$base/$db" target add t --url http://127.0.0.1:9/t --secret bench-secret-of-24-chars >/dev/null 2>&1
    "$ctl" --db "$base/$db" send --batch "$dir/events.ndjson" >/dev/null 2>&1
    [ "$db" != wide ] && psql -q "$base/$db" -f "$here/narrow_schema.sql"
    psql -q "$base/$db" -c "VACUUM FULL deliveries" -c "VACUUM ANALYZE" -c "CREATE SEQUENCE bseq START 0 MINVALUE 0"
done
psql -q "$url" -c CHECKPOINT
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
for r in $(seq "$rounds"); do
    for db in wide narrow offrow; do
        a=$(busy)
        tps=$(PGOPTIONS="-c synchronous_commit=off" "$bin/pgbench" -n -c 1 -t "$batches" -f "$here/$db.sql" "$base/$db" 2>&1 |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        b=$(busy)
        echo "round $r $db: $tps batch pairs/s, $(( (b - a) * 10 * 1000 / (batches * 64) )) us of CPU a delivery"
    done
done
for db in narrow offrow; do
    psql -tA "$base/$db" -c "SELECT '$db: ' || n_tup_hot_upd * 100 / greatest(n_tup_upd, 1) || ' % of deliveries updates HOT' FROM pg_stat_user_tables WHERE relname = 'deliveries'"
done

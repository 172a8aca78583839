#!/usr/bin/env bash
# Builds webhookd, then shows it working end to end on a fresh database:
# a local receiver, targets, events, the worker delivering them (one after
# retries, one to the dead-letter queue, one through a 429 Retry-After), and
# the resulting table and statistics. Leaves the database in demo/webhooks.db
# for the README's SQL examples.
#
# Installs only what the build and the demo need, and builds only the three
# programs the demo runs (tools/test.sh builds the rest in the same build/).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

started=$SECONDS
# shellcheck disable=SC2086 # lists of words
webhookd_install $WEBHOOKD_BUILD_PACKAGES $WEBHOOKD_DEMO_PACKAGES
installed=$SECONDS
echo "== building webhookd, webhookctl and webhook-receiver"
webhookd_configure build
# ninja shows its own progress: one rewritten line on a terminal, a line per
# step elsewhere.
ninja -C build src/apps/webhookd/webhookd src/apps/webhookctl/webhookctl tools/receiver/webhook-receiver
built=$SECONDS

bin=build
ctl="$bin/src/apps/webhookctl/webhookctl"
demo=demo
mkdir -p "$demo"
rm -f "$demo"/webhooks.db "$demo"/webhooks.db-wal "$demo"/webhooks.db-shm "$demo"/receiver.log
export WEBHOOKD_DB="$demo/webhooks.db"
secret=$("$ctl" secret generate)

# The receiver verifies every signature with the same secret and answers
# with scripted faults per path.
"$bin/tools/receiver/webhook-receiver" --port 0 --quiet --secret "$secret" --log "$demo/receiver.log" \
    --script '/flaky=500,503,200' --script '/legacy=422' --script '/busy=429;retry-after=1,200' \
    > "$demo/receiver.out" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$demo/receiver.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$demo/receiver.out")
base="http://127.0.0.1:$port"

echo "== a fresh database, four targets"
"$ctl" init
"$ctl" target add billing --name "Billing service" --url "$base/billing" --secret "$secret" --events 'invoice.*,payment.*' >/dev/null
"$ctl" target add analytics --url "$base/flaky" --secret "$secret" --initial-delay 200ms --max-delay 2s >/dev/null
"$ctl" target add legacy --url "$base/legacy" --secret "$secret" --events 'invoice.paid' >/dev/null
"$ctl" target add partner --url "$base/busy" --secret "$secret" --events 'payment.*' --rate 20 --burst 5 \
    --retry-schedule 1s,1m,1h >/dev/null
"$ctl" target list
echo "(targets retry for days unless told otherwise; analytics and partner retry sooner, for the demo)"
"$ctl" target show billing | grep '^retries'
"$ctl" target show analytics | grep '^retries'

echo
echo "== events: three one at a time, five in one NDJSON batch"
"$ctl" send invoice.paid --data '{"invoice":"in_1001","amount_cents":4200}' --priority 5 >/dev/null
"$ctl" send payment.succeeded --data '{"payment":"py_77","amount_cents":4200}' >/dev/null
"$ctl" send user.signed_up --data '{"user":"u_42"}' --idempotency-key signup-u_42 >/dev/null
for i in 1 2 3 4 5; do
    echo "{\"type\":\"invoice.created\",\"data\":{\"invoice\":\"in_20$i\"},\"idempotency_key\":\"inv-20$i\"}"
done | "$ctl" send --batch >/dev/null

echo
echo "== one more over the HTTP API (webhookd --api-listen, a key from webhookctl api-key create)"
token=$("$ctl" api-key create quickstart --scope events:write --scope read 2>/dev/null | tail -1)
"$bin/src/apps/webhookd/webhookd" --no-deliver --api-listen 127.0.0.1:0 2> "$demo/api.log" &
api=$!
trap 'kill $receiver $api 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "api listening" "$demo/api.log" 2>/dev/null && break; sleep 0.1; done
api_base="http://$(sed -n 's/.*api listening address=\([^ ]*\).*/\1/p' "$demo/api.log")/api/v1"
echo "\$ curl -H 'Authorization: Bearer whk_…' -d '{\"type\":\"payment.succeeded\",\"data\":{\"payment\":\"py_78\"}}' $api_base/events"
curl -s -H "Authorization: Bearer $token" -H "Idempotency-Key: py_78" \
    -d '{"type":"payment.succeeded","data":{"payment":"py_78","amount_cents":990}}' "$api_base/events"
echo
kill $api; wait $api 2>/dev/null || true
"$ctl" delivery list --limit 20

echo
echo "== webhookd --drain: delivers everything, retrying where it must"
"$bin/src/apps/webhookd/webhookd" --allow-private-networks --drain --poll-interval 250ms 2>&1

echo
echo "== deliveries"
"$ctl" delivery list --limit 20
echo
echo "== the delivery that needed retries"
"$ctl" delivery show "$("$ctl" delivery list --target analytics --json |
    python3 -c 'import json,sys; print(max(json.load(sys.stdin), key=lambda d: d["attempt_count"])["id"])')"
echo
echo "== dead-letter queue"
"$ctl" dlq list
echo
echo "== statistics"
"$ctl" stats
echo
echo "receiver: $(curl -s "$base/_stats")"
echo "database left in $demo/webhooks.db; try: sqlite3 $demo/webhooks.db 'SELECT * FROM delivery_history'"

echo
echo "== the dashboard (webhookd --no-deliver --api-listen), with a read-only key"
viewer=$("$ctl" api-key create dashboard --scope read 2>/dev/null | tail -1)
port=${WEBHOOKD_DASHBOARD_PORT:-8080}
: > "$demo/dashboard.log"
"$bin/src/apps/webhookd/webhookd" --no-deliver --listen off --api-listen "127.0.0.1:$port" 2>> "$demo/dashboard.log" &
dash=$!
trap 'kill $receiver $dash 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "api listening" "$demo/dashboard.log" && break; kill -0 $dash 2>/dev/null || break; sleep 0.1; done
if ! grep -q "api listening" "$demo/dashboard.log"; then
    # The port is taken: any free one.
    "$bin/src/apps/webhookd/webhookd" --no-deliver --listen off --api-listen 127.0.0.1:0 2>> "$demo/dashboard.log" &
    dash=$!
    for _ in $(seq 50); do grep -q "api listening" "$demo/dashboard.log" && break; sleep 0.1; done
fi
address=$(sed -n 's/.*api listening address=\([^ ]*\).*/\1/p' "$demo/dashboard.log" | tail -1)
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$address/")
echo "dashboard: http://$address/  (GET / answered $code)"
echo "read-only key: $viewer"
echo
echo "quickstart took $(webhookd_duration $((SECONDS - started))) (packages $(webhookd_duration $((installed - started))), build $(webhookd_duration $((built - installed))), demo $(webhookd_duration $((SECONDS - built))))"
if [ -t 0 ] && [ -t 1 ]; then
    echo "serving until Ctrl-C"
    wait $dash || true
else
    kill $dash; wait $dash 2>/dev/null || true
    echo "(not a terminal: stopped; start it again with: $bin/src/apps/webhookd/webhookd --db $demo/webhooks.db --no-deliver --api-listen 127.0.0.1:$port)"
fi

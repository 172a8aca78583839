#include "storage/postgres/statements.h"

#include <array>

#include "storage/sql/rollup_sql.h"
#include "storage/sql/rows.h"
#include "storage/sql/status_sql.h"

// webhookd's statements in PostgreSQL's dialect (storage/sql/statements.h):
// $N placeholders, IS NOT DISTINCT FROM where NULLs compare as values, and
// row locks where workers claim side by side (FOR UPDATE SKIP LOCKED, as
// River, pg-boss, Oban and Convoy do).

namespace webhookd::postgres {

namespace {

using detail::groupBusy;
using detail::sqlName;
using detail::statusIn;
using sql::Q;

std::string placeholder(int n) { return "$" + std::to_string(n); }

std::string spell(Q q)
{
    const std::string keyColumns = detail::kApiKeyColumns, targetColumns = detail::kTargetColumns,
                      deliveryColumns = detail::kDeliveryColumns, eventColumns = detail::kEventColumns;
    const std::string claimable = statusIn(status_set::kClaimable);
    const std::string sums = detail::eachCounter([](const std::string& c) { return "sum(" + c + ")"; });
    auto shift = [](const char* rows) {
        const std::string inProgress = sqlName(DeliveryStatus::InProgress);
        return "UPDATE deliveries SET next_attempt_at = CASE WHEN status = " + inProgress +
            " THEN next_attempt_at ELSE next_attempt_at + $1 END, lease_expires_at = CASE WHEN status = " + inProgress +
            " THEN lease_expires_at + $1 ELSE lease_expires_at END, updated_at = $2 WHERE " +
            statusIn(status_set::kUnfinished) +
            " AND next_attempt_at BETWEEN -4611686018427387904 AND 4611686018427387904"
            " AND coalesce(lease_expires_at, 0) BETWEEN -4611686018427387904 AND 4611686018427387904 AND " +
            rows;
    };
    switch (q) {
    // api_keys.cpp: the key's columns, in readKey's order.
    case Q::ApiKeyInsert:
        return "INSERT INTO api_keys (id, name, secret_sha256, scopes, created_at, expires_at, app_id, kind)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    case Q::ApiKeyList: return "SELECT " + keyColumns + " FROM api_keys ORDER BY created_at, id";
    case Q::ApiKeyRevoke: return "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1";
    case Q::ApiKeyById: return "SELECT " + keyColumns + " FROM api_keys WHERE id = $1";
    case Q::ApiKeyWithSecret: return "SELECT " + keyColumns + ", secret_sha256 FROM api_keys WHERE id = $1";
    case Q::PortalSessionsRevoke:
        return "UPDATE api_keys SET revoked_at = $2 WHERE app_id = $1 AND kind = 'portal' AND revoked_at IS NULL";
    case Q::ApiKeyUsed: return "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
    // settings.cpp
    case Q::SettingGet: return "SELECT value FROM settings WHERE name = $1";
    case Q::SettingPut:
        return "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)"
               " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
    // targets.cpp, rows.cpp
    case Q::TargetById: return "SELECT " + targetColumns + " FROM targets WHERE id = $1";
    case Q::TargetInsert:
        return "INSERT INTO targets (id, name, url, secret, previous_secret, previous_secret_expires_at, enabled,"
               " event_filters, headers, timeout_ms, max_attempts, initial_delay_ms, max_delay_ms, backoff_multiplier,"
               " jitter_factor, rate_per_second, burst, rate_limit_enabled, metadata, created_at, updated_at,"
               " bucket_tokens, bucket_updated_at, signature_scheme, ca_bundle, max_in_flight, min_rate, rate_step,"
               " retry_schedule, app_id, body_format, payload_filter, ordering, ordering_dead_letter)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $32, "
               "$20,"
               " NULL, NULL, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)";
    case Q::TargetUpdate:
        return "UPDATE targets SET name = $2, url = $3, secret = $4, previous_secret = $5,"
               " previous_secret_expires_at = $6, enabled = $7, event_filters = $8, headers = $9, timeout_ms = $10,"
               " max_attempts = $11, initial_delay_ms = $12, max_delay_ms = $13, backoff_multiplier = $14,"
               " jitter_factor = $15, rate_per_second = $16, burst = $17, rate_limit_enabled = $18, metadata = $19,"
               " updated_at = $20, signature_scheme = $21, ca_bundle = $22, max_in_flight = $23, min_rate = $24,"
               " rate_step = $25, retry_schedule = $26, app_id = $27, body_format = $28, payload_filter = $29, "
               "ordering = $30, ordering_dead_letter = $31,"
               // A new rate or floor ends a throttling the old one started.
               " rate_current = CASE WHEN rate_per_second IS NOT DISTINCT FROM $16 AND rate_limit_enabled = $18 AND "
               "min_rate IS NOT DISTINCT FROM $24"
               "                THEN rate_current END,"
               " bucket_tokens = CASE WHEN rate_per_second IS NOT DISTINCT FROM $16 AND burst IS NOT DISTINCT FROM $17 "
               "AND rate_limit_enabled = $18"
               "                 THEN bucket_tokens END,"
               " bucket_updated_at = CASE WHEN rate_per_second IS NOT DISTINCT FROM $16 AND burst IS NOT DISTINCT FROM "
               "$17 AND rate_limit_enabled = $18"
               "                 THEN bucket_updated_at END"
               " WHERE id = $1";
    case Q::TargetExists: return "SELECT 1 FROM targets WHERE id = $1";
    case Q::TargetList: return "SELECT " + targetColumns + " FROM targets ORDER BY id";
    case Q::TargetSetEnabled:
        return "UPDATE targets SET enabled = $2, updated_at = $3, consecutive_failures = $4,"
               " paused_until = $5, paused_at = $6, paused_reason = $7, disabled_reason = $8 WHERE id = $1";
    case Q::TargetDeleteDeliveries: return "DELETE FROM deliveries WHERE target_id = $1 RETURNING event_id";
    case Q::TargetDelete: return "DELETE FROM targets WHERE id = $1";
    case Q::TargetRotate:
        return "UPDATE targets SET previous_secret = $1, previous_secret_expires_at = $2, secret = $3,"
               " updated_at = $4, older_secrets = $5 WHERE id = $6";
    case Q::EventDeleteOrphan:
        return "DELETE FROM events WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = $1)";
    // events.cpp
    case Q::EventByKey:
        return "SELECT id, uid, idempotency_fingerprint, created_at FROM events"
               " WHERE coalesce(app_id, '') = $2 AND idempotency_key = $1 AND idempotency_key IS NOT NULL";
    case Q::EventDeliveries: return "SELECT id, target_id FROM deliveries WHERE event_id = $1 ORDER BY id";
    case Q::EventInsert:
        return "INSERT INTO events (uid, type, payload, priority, idempotency_key, created_at,"
               " idempotency_fingerprint, app_id, ordering_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
               " ON CONFLICT (coalesce(app_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL"
               " DO NOTHING RETURNING id";
    case Q::DeliveryInsert:
        // $7 the status: pending, or waiting behind its ordering group ($8).
        return "INSERT INTO deliveries (event_id, target_id, status, priority, next_attempt_at, created_at, updated_at,"
               " ordering_group) VALUES ($1, $2, $7, $3, $4, $5, $6, $8) RETURNING id";
    case Q::RouteTargets:
        return "SELECT id, enabled, event_filters, app_id, payload_filter, ordering FROM targets ORDER BY id";
    case Q::SavepointEach: return "SAVEPOINT webhookd_each";
    case Q::SavepointEachRelease: return "RELEASE webhookd_each";
    case Q::SavepointEachUndo: return "ROLLBACK TO webhookd_each";
    // The listing walks the index by time, newest first, whatever the
    // conditions composed after it (listEventsSql).
    case Q::EventListHead: return "SELECT " + eventColumns + " FROM events WHERE true";
    case Q::EventByUid: return "SELECT " + eventColumns + ", payload FROM events WHERE uid = $1";
    case Q::DeliveriesOfEvent:
        return "SELECT " + deliveryColumns +
            " FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.event_id = $1 ORDER BY d.id DESC";
    // deliveries.cpp: heads of the listings whose conditions are composed
    // after them (listDeliveriesSql, listDeadLettersSql), "WHERE …" open.
    case Q::DeliveryListHead:
        return "SELECT " + deliveryColumns +
            ", dl.reason, dl.moved_at FROM deliveries d JOIN events e ON e.id = d.event_id"
            " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE true";
    case Q::DeliveryCountHead: return "SELECT count(*) FROM deliveries d WHERE true";
    case Q::DeliveryCountByTypeHead:
        return "SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id WHERE true";
    // dead_letters walked backwards by its key, each row's delivery looked
    // up by id: the lateral subquery (kept apart by OFFSET 0) fixes that
    // order as CROSS JOIN does for SQLite. A plain join let the generic plan
    // scan deliveries and sort (the plan test caught it).
    case Q::DeadLetterListHead:
        return "SELECT " + deliveryColumns +
            ", dl.reason, dl.moved_at FROM dead_letters dl"
            " JOIN LATERAL (SELECT * FROM deliveries WHERE id = dl.delivery_id OFFSET 0) d ON true"
            " JOIN events e ON e.id = d.event_id WHERE dl.retried_at IS NULL AND d.status = " +
            sqlName(DeliveryStatus::DeadLetter);
    case Q::DeadLetterCountHead:
        return "SELECT count(*) FROM dead_letters dl JOIN deliveries d ON d.id = dl.delivery_id"
               " WHERE dl.retried_at IS NULL AND d.status = " +
            sqlName(DeliveryStatus::DeadLetter);
    case Q::DeadLetterCountByTypeHead:
        return "SELECT count(*) FROM dead_letters dl JOIN deliveries d ON d.id = dl.delivery_id"
               " JOIN events e ON e.id = d.event_id WHERE dl.retried_at IS NULL AND d.status = " +
            sqlName(DeliveryStatus::DeadLetter);
    case Q::DeliveryById:
        return "SELECT " + deliveryColumns +
            ", dl.reason, dl.moved_at FROM deliveries d JOIN events e ON e.id = d.event_id"
            " LEFT JOIN dead_letters dl ON dl.delivery_id = d.id WHERE d.id = $1";
    case Q::AttemptsOfDelivery:
        return "SELECT number, started_at, duration_ms, status_code, error_type, error_message, retry_after_ms,"
               " response_excerpt, request_head, response_head FROM attempts WHERE delivery_id = $1 ORDER BY number";
    // redrive.cpp
    case Q::DeliveryStatus: return "SELECT status FROM deliveries WHERE id = $1";
    case Q::DeliveryRequeue:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Pending) +
            ", retry_base = attempt_count, next_attempt_at = $1, updated_at = $1, completed_at = NULL,"
            " lease_owner = NULL, lease_expires_at = NULL, ordering_blocking = 0 WHERE id = $2";
    // A dead letter's row has retried_at NULL (moving a delivery to the queue
    // again clears it); a delivered one keeps the time it was retried before.
    case Q::DeadLetterRetried:
        return "UPDATE dead_letters SET retried_at = $1 WHERE delivery_id = $2 AND retried_at IS NULL";
    // retention.cpp
    case Q::PurgeAttempts: return "DELETE FROM attempts WHERE delivery_id = $1";
    case Q::PurgeDeadLetter: return "DELETE FROM dead_letters WHERE delivery_id = $1";
    case Q::PurgeDelivery: return "DELETE FROM deliveries WHERE id = $1";
    // The per-minute rollup, 5,000 rows a transaction.
    case Q::PurgeStats:
        return "DELETE FROM stats_minutely WHERE (minute, target_id) IN (SELECT minute, target_id"
               " FROM stats_minutely WHERE minute < $1 ORDER BY minute LIMIT 5000)";
    // copy.cpp: leases not yet ended by the store's own clock, and a holder
    // of one (a webhookd still delivering from the source).
    case Q::CopyLiveLeases:
        return "SELECT count(*), min(lease_owner) FROM deliveries WHERE status = " +
            sqlName(DeliveryStatus::InProgress) +
            " AND lease_expires_at > CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)";
    // stats.cpp: heads whose conditions are composed after them, "WHERE …" open.
    // Counted without GROUP BY: at 100k deliveries SQLite's sorter took 3-4
    // times as long as one pass, which also collects the times to deliver.
    case Q::StatsHead:
        return "SELECT e.type, d.target_id, d.status, d.completed_at - d.created_at"
               " FROM deliveries d JOIN events e ON e.id = d.event_id WHERE true";
    case Q::StatsAttemptsHead:
        return "SELECT a.duration_ms, a.status_code IS NOT NULL FROM attempts a"
               " JOIN deliveries d ON d.id = a.delivery_id WHERE true";
    case Q::StatsAttemptsByTypeHead:
        return "SELECT a.duration_ms, a.status_code IS NOT NULL FROM attempts a"
               " JOIN deliveries d ON d.id = a.delivery_id JOIN events e ON e.id = d.event_id WHERE true";
    // The claimable states spelled as in the deliveries_due index, so the
    // scan stays inside that index (the backlog), not the whole table.
    case Q::StatsDueHead:
        return "SELECT min(d.next_attempt_at) FROM deliveries d JOIN targets t ON t.id = d.target_id WHERE " +
            statusIn(status_set::kClaimable, "d.status") + " AND t.enabled = 1";
    case Q::StatsDueByTypeHead:
        return "SELECT min(d.next_attempt_at) FROM deliveries d JOIN events e ON e.id = d.event_id"
               " JOIN targets t ON t.id = d.target_id WHERE " +
            statusIn(status_set::kClaimable, "d.status") + " AND t.enabled = 1";
    // A range of the primary key (minute, target_id).
    case Q::StatsSeries:
        return "SELECT minute, " + sums +
            " FROM stats_minutely WHERE minute >= $1 AND minute < $2"
            " GROUP BY minute ORDER BY minute";
    case Q::StatsSeriesOfApp:
        return "SELECT minute, " + sums +
            " FROM stats_minutely WHERE minute >= $1 AND minute < $2"
            " AND target_id IN (SELECT id FROM targets WHERE app_id = $3) GROUP BY minute ORDER BY minute";
    case Q::StatsSeriesOfTarget:
        return "SELECT minute, " + sums +
            " FROM stats_minutely WHERE minute >= $1 AND minute < $2"
            " AND target_id = $3 GROUP BY minute ORDER BY minute";
    case Q::Ping: return "SELECT 1";
    // monitor.cpp
    case Q::MonitorTargets:
        return "SELECT id, enabled, paused_until IS NOT NULL, consecutive_failures,"
               " CASE WHEN rate_limit_enabled = 1 THEN rate_per_second END, rate_current,"
               " coalesce(max_in_flight, 0) FROM targets ORDER BY id";
    case Q::MonitorDeliveries: return "SELECT target_id, status, next_attempt_at FROM deliveries";
    // queue.cpp: the claim's queries must be index seeks, never a scan of
    // deliveries (the plan tests hold each to it).
    // The rows are locked first, skipping those another worker's claim
    // holds: two workers reclaiming at once never wait on each other.
    case Q::QueueReclaim:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Pending) +
            ", lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 WHERE id IN (SELECT id FROM deliveries"
            " WHERE status = " +
            sqlName(DeliveryStatus::InProgress) + " AND lease_expires_at < $1 FOR UPDATE SKIP LOCKED)";
    // The next lower priority level that has claimable rows.
    case Q::QueueNextPriority:
        return "SELECT priority FROM deliveries WHERE " + claimable +
            " AND priority < $1 ORDER BY priority DESC LIMIT 1";
    // Due rows of one priority level: a range seek that ends at the first row
    // not yet due, however many of those wait behind it. Rows of disabled
    // targets and of targets whose breaker is open until after $2 are stepped
    // over here, not in the caller: a backlog of theirs larger than the LIMIT
    // would otherwise hide every other target's rows.
    // The rows returned are locked for the claim, and rows another worker's
    // claim holds are skipped: workers claim side by side and never take the
    // same row. The status comes back too, and the caller checks it: a row
    // another worker claimed and committed while this query ran is re-read
    // by PostgreSQL after the lock (EvalPlanQual), which rechecks the index
    // conditions but not the partial index's WHERE, so it can come back
    // in_progress. Found by the four-worker test: 40 of 20,000 sent twice.
    case Q::QueueDueAtPriority:
        return "SELECT d.id, d.target_id, d.event_id, d.attempt_count, d.retry_base, d.throttle_deferrals, d.status"
               " FROM deliveries d JOIN targets t ON t.id = d.target_id WHERE " +
            claimable +
            " AND d.priority = $1 AND d.next_attempt_at <= $2"
            " AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= $2)"
            " ORDER BY d.priority DESC, d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED";
    // The first row of an enabled target ends the walk; targets whose breaker
    // is open until after $2 are stepped over (their next probe is
    // QueueFirstProbe's).
    case Q::QueueFirstAtPriority:
        return "SELECT d.next_attempt_at FROM deliveries d JOIN targets t ON t.id = d.target_id WHERE " + claimable +
            " AND d.priority = $1 AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= $2)"
            " ORDER BY d.priority DESC, d.next_attempt_at LIMIT 1";
    case Q::QueueFirstLease:
        return "SELECT lease_expires_at FROM deliveries WHERE status = " + sqlName(DeliveryStatus::InProgress) +
            " ORDER BY lease_expires_at LIMIT 1";
    case Q::QueueFirstProbe: return "SELECT min(paused_until) FROM targets WHERE enabled = 1 AND paused_until > $1";
    // The batch's statements read their rows from one parameter, a JSON
    // array of arrays (storage/sql/json_rows.h), parsed once (rows). The rows
    // to change are found by `id = ANY(…)`: an index lookup whatever the
    // planner believes of the table. A join with the rows alone is planned
    // as a hash join over a scan of deliveries while the table is small or
    // has no statistics yet (a bulk send just made it), which cost a full
    // scan a batch.
    case Q::QueueLeaseMany:
        return "WITH r AS MATERIALIZED (SELECT (value ->> 0)::bigint AS id, (value ->> 1)::bigint AS expires_at"
               " FROM jsonb_array_elements($3::jsonb)) UPDATE deliveries d SET status = " +
            sqlName(DeliveryStatus::InProgress) +
            ", lease_owner = $1, lease_expires_at = r.expires_at, updated_at = $2 FROM r"
            " WHERE d.id = r.id AND d.id = ANY (ARRAY(SELECT id FROM r))";
    case Q::QueueDeferMany:
        return "WITH r AS MATERIALIZED (SELECT (value ->> 0)::bigint AS id, (value ->> 1)::bigint AS due_at"
               " FROM jsonb_array_elements($2::jsonb)) UPDATE deliveries d SET status = " +
            sqlName(DeliveryStatus::RateLimited) +
            ", next_attempt_at = r.due_at, updated_at = $1 FROM r WHERE d.id = r.id AND d.id = ANY (ARRAY(SELECT id "
            "FROM r))";
    case Q::QueueHoldBackMany:
        return "WITH r AS MATERIALIZED (SELECT (value ->> 0)::bigint AS id, (value ->> 1)::bigint AS due_at"
               " FROM jsonb_array_elements($2::jsonb)) UPDATE deliveries d SET next_attempt_at = r.due_at, updated_at "
               "= $1"
               " FROM r WHERE d.id = r.id AND d.id = ANY (ARRAY(SELECT id FROM r))";
    // One target's deliveries in flight, across every worker: a range of the
    // deliveries_in_flight index (the WHERE is the index's, word for word).
    case Q::QueueInFlightOfTarget:
        return "SELECT count(*) FROM deliveries WHERE status = " + sqlName(DeliveryStatus::InProgress) +
            " AND target_id = $1";
    case Q::QueueLeasedEvents:
        return "SELECT d.id, e.uid, e.type, e.payload, e.created_at FROM deliveries d JOIN events e ON e.id = "
               "d.event_id"
               " WHERE d.id = ANY (ARRAY(SELECT (value ->> 0)::bigint FROM jsonb_array_elements($1::jsonb)))";
    case Q::QueueTargets: return "SELECT " + targetColumns + ", bucket_tokens, bucket_updated_at FROM targets";
    // A claim's hold on a target whose shared state (bucket, cap, breaker)
    // it reads; a target another claim holds is left for the next claim.
    case Q::QueueLockTarget:
        return "SELECT " + targetColumns +
            ", bucket_tokens, bucket_updated_at FROM targets WHERE id = $1 FOR UPDATE SKIP LOCKED";
    case Q::QueueSaveBucket: return "UPDATE targets SET bucket_tokens = $1, bucket_updated_at = $2 WHERE id = $3";
    // Fenced by the lease: a row another worker reclaimed is not written.
    // Returns the ids written.
    case Q::QueueFinishMany:
        return "WITH r AS MATERIALIZED (SELECT (value ->> 0)::bigint AS id, value ->> 1 AS status,"
               " (value ->> 2)::bigint AS next_attempt_at, (value ->> 3)::bigint AS status_code, value ->> 4 AS error,"
               " (value ->> 5)::bigint AS completed_at, (value ->> 6)::bigint AS free FROM "
               "jsonb_array_elements($3::jsonb))"
               " UPDATE deliveries d SET status = r.status, attempt_count = d.attempt_count + 1,"
               " next_attempt_at = r.next_attempt_at, last_status_code = r.status_code, last_error = r.error,"
               " lease_owner = NULL, lease_expires_at = NULL, updated_at = $2, completed_at = r.completed_at,"
               " retry_base = d.retry_base + r.free, throttle_deferrals = d.throttle_deferrals + r.free FROM r"
               " WHERE d.id = r.id AND d.id = ANY (ARRAY(SELECT id FROM r)) AND d.status = " +
            sqlName(DeliveryStatus::InProgress) + " AND d.lease_owner = $1 RETURNING d.id";
    case Q::QueueAttemptMany:
        return "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type,"
               " error_message, response_excerpt, retry_after_ms, request_head, response_head) SELECT"
               " (r.value ->> 0)::bigint, (r.value ->> 1)::bigint, (r.value ->> 2)::bigint, (r.value ->> 3)::bigint,"
               " (r.value ->> 4)::bigint, r.value ->> 5, r.value ->> 6, r.value ->> 7, (r.value ->> 8)::bigint,"
               " r.value ->> 9, r.value ->> 10 FROM jsonb_array_elements($1::jsonb) AS r";
    case Q::QueueDeadLetterMany:
        return "INSERT INTO dead_letters (delivery_id, reason, moved_at) SELECT (r.value ->> 0)::bigint, r.value ->> 1,"
               " (r.value ->> 2)::bigint FROM jsonb_array_elements($1::jsonb) AS r"
               " ON CONFLICT (delivery_id) DO UPDATE SET reason = excluded.reason, moved_at = excluded.moved_at,"
               " retried_at = NULL";
    // Locked, waiting (completions lock targets in id order, and claims
    // never wait for a target), so no other worker's update of the breaker
    // or the rate is lost.
    case Q::QueueTargetState:
        return "SELECT consecutive_failures, paused_until, enabled, rate_current, rate_adjusted_at, rate_signal_at,"
               " CASE WHEN rate_limit_enabled = 1 THEN rate_per_second END, min_rate, rate_step FROM targets"
               " WHERE id = $1 FOR UPDATE";
    case Q::QueueSaveRate:
        return "UPDATE targets SET rate_current = $2, rate_adjusted_at = $3, rate_signal_at = $4,"
               " rate_signal = coalesce($5, rate_signal) WHERE id = $1";
    case Q::QueueSaveBreaker:
        return "UPDATE targets SET consecutive_failures = $2, paused_until = $3,"
               " paused_at = CASE WHEN CAST($3 AS BIGINT) IS NULL THEN NULL ELSE coalesce(paused_at, $4) END,"
               " paused_reason = CASE WHEN CAST($3 AS BIGINT) IS NULL THEN NULL ELSE coalesce($5, paused_reason) END,"
               " enabled = $6, disabled_reason = coalesce($7, disabled_reason) WHERE id = $1";
    case Q::QueueProbe: return "UPDATE targets SET paused_until = $2 WHERE id = $1";
    case Q::RollupUpsert: return detail::rollupUpsert(placeholder);
    case Q::QueueDisableUnreadable:
        return "UPDATE targets SET enabled = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1";
    case Q::QueueOrphan:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::DeadLetter) +
            ", lease_owner = NULL, lease_expires_at = NULL, updated_at = $2, completed_at = $2, last_error = $3"
            " WHERE id = $1";
    case Q::QueueReleaseMany:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Pending) +
            ", lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 WHERE id = ANY (ARRAY(SELECT (value ->> "
            "0)::bigint"
            " FROM jsonb_array_elements($3::jsonb))) AND status = " +
            sqlName(DeliveryStatus::InProgress) + " AND lease_owner = $2";
    case Q::QueueOutstanding:
        return "SELECT count(*) FROM deliveries d JOIN targets t ON t.id = d.target_id WHERE t.enabled = 1 AND " +
            statusIn(status_set::kUnfinished, "d.status");
    // After a clock jump (Queue::shiftSchedule): $1 the jump, $2 now, $3 the
    // updated_at that tells the rows apart. Times beyond ±2^62 (rows edited by
    // hand) stay: adding could overflow.
    case Q::QueueShiftForward: return shift("updated_at <= $3");
    case Q::QueueShiftBack: return shift("updated_at > $3");
    // ordering.cpp. The group's lock: PostgreSQL sessions side by side
    // decide a group in turn (a transaction-scoped advisory lock on a hash of
    // target and group; a collision only makes two groups take turns).
    case Q::OrderingLock: return "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 0))";
    case Q::OrderingBusy: return "SELECT CASE WHEN " + groupBusy("$1", "$2", true) + " THEN 1 ELSE 0 END";
    // The groups of the deliveries given (JSON rows, id first), in one order
    // every session takes them in.
    case Q::OrderingLockMany:
        return "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(target_id || chr(1) || "
               "ordering_group, 0) AS k"
               " FROM deliveries WHERE id = ANY (ARRAY(SELECT (value ->> 0)::bigint FROM "
               "jsonb_array_elements($1::jsonb))) AND ordering_group IS NOT NULL ORDER BY 1) AS g";
    // The dead letters given whose target says block hold their group.
    case Q::OrderingBlockMany:
        return "UPDATE deliveries SET ordering_blocking = 1 WHERE id = ANY (ARRAY(SELECT (value ->> 0)::bigint FROM "
               "jsonb_array_elements($1::jsonb))) AND status = " +
            sqlName(DeliveryStatus::DeadLetter) +
            " AND ordering_group IS NOT NULL AND target_id IN (SELECT id FROM targets WHERE ordering_dead_letter = "
            "'block')";
    // For each group of the deliveries given: its next waiting delivery goes,
    // unless something ahead of it is still unfinished or blocking.
    case Q::OrderingPromoteMany:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Pending) +
            ", next_attempt_at = $1, updated_at = $1"
            " WHERE id IN (SELECT (SELECT w.id FROM deliveries w WHERE w.target_id = g.target_id"
            " AND w.ordering_group = g.ordering_group AND w.status = " +
            sqlName(DeliveryStatus::Waiting) +
            " AND w.ordering_blocking = 0 ORDER BY w.id LIMIT 1) FROM (SELECT DISTINCT f.target_id, f.ordering_group"
            " FROM deliveries f WHERE f.id = ANY (ARRAY(SELECT (value ->> 0)::bigint FROM "
            "jsonb_array_elements($2::jsonb))) AND f.ordering_group IS NOT NULL) AS g WHERE NOT " +
            groupBusy("g.target_id", "g.ordering_group", false) + ")";
    case Q::OrderingOfDelivery:
        return "SELECT target_id, ordering_group, ordering_blocking, status FROM deliveries WHERE id = $1";
    // A delivery put back in the queue waits if its group has one ahead.
    case Q::OrderingRequeued:
        return "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Waiting) +
            " WHERE id = $1 AND ordering_group IS NOT NULL AND " +
            groupBusy("deliveries.target_id", "deliveries.ordering_group", false, "$1");
    // What the group waits for: its unfinished delivery, or the dead letter
    // that blocks it.
    case Q::OrderingHead:
        return "SELECT min(o.id) FROM deliveries o WHERE o.target_id = $1 AND o.ordering_group = $2 AND (" +
            statusIn(status_set::kUnfinished, "o.status") + " OR (o.status = " + sqlName(DeliveryStatus::DeadLetter) +
            " AND o.ordering_blocking = 1))";
    case Q::OrderingRelease:
        return "UPDATE deliveries SET ordering_blocking = 0 WHERE id = $1 AND ordering_blocking = 1 AND status = " +
            sqlName(DeliveryStatus::DeadLetter);
    // The target's ordering changed: what waited under the old one goes.
    case Q::OrderingReset:
        return "UPDATE deliveries SET status = CASE WHEN status = " + sqlName(DeliveryStatus::Waiting) + " THEN " +
            sqlName(DeliveryStatus::Pending) +
            " ELSE status END, next_attempt_at = CASE WHEN status = " + sqlName(DeliveryStatus::Waiting) +
            " THEN $2 ELSE next_attempt_at END, ordering_group = NULL, ordering_blocking = 0, updated_at = $2"
            " WHERE target_id = $1 AND ordering_group IS NOT NULL AND status <> " +
            sqlName(DeliveryStatus::Delivered);
    }
    return {};
}

} // namespace

const std::string& statement(sql::Q q)
{
    static const auto all = [] {
        std::array<std::string, sql::kStatementCount> texts;
        for (size_t i = 0; i < texts.size(); ++i)
            texts[i] = spell(static_cast<Q>(i));
        return texts;
    }();
    return all[static_cast<size_t>(q)];
}

std::string parameter(int n) { return placeholder(n); }

} // namespace webhookd::postgres

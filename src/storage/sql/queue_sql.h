#pragma once

// storage/ internals: the claim's queries, named so tests can check their
// query plans (every one must be an index seek, never a scan of deliveries).
// Built once from the status enum's names (storage/sql/status_sql.h).

#include <string>

#include "storage/sql/status_sql.h"

namespace webhookd::detail::queue_sql {

// Word for word the WHERE clause of the deliveries_due index, so SQLite can use it.
inline const std::string& claimable()
{
    static const std::string s = statusIn(status_set::kClaimable);
    return s;
}

// On PostgreSQL the rows are locked first, skipping those another worker's
// claim holds: two workers reclaiming at once never wait on each other.
inline const std::string& reclaim(bool postgres = false)
{
    static const std::string set = "UPDATE deliveries SET status = " + sqlName(DeliveryStatus::Pending) +
        ", lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1 WHERE ";
    static const std::string expired = "status = " + sqlName(DeliveryStatus::InProgress) + " AND lease_expires_at < ?1";
    static const std::string s = set + expired;
    static const std::string pg =
        set + "id IN (SELECT id FROM deliveries WHERE " + expired + " FOR UPDATE SKIP LOCKED)";
    return postgres ? pg : s;
}

// The next lower priority level that has claimable rows.
inline const std::string& nextPriority()
{
    static const std::string s =
        "SELECT priority FROM deliveries WHERE " + claimable() + " AND priority < ?1 ORDER BY priority DESC LIMIT 1";
    return s;
}

// Due rows of one priority level: a range seek that ends at the first row not
// yet due, however many of those wait behind it. Rows of disabled targets and
// of targets whose breaker is open until after ?2 are stepped over here, not
// in the caller: a backlog of theirs larger than the LIMIT would otherwise
// hide every other target's rows. CROSS JOIN: see firstAtPriority.
// On PostgreSQL the rows returned are locked for the claim, and rows
// another worker's claim holds are skipped: workers claim side by side and
// never take the same row (FOR UPDATE SKIP LOCKED, as River, pg-boss, Oban
// and Convoy do). The status comes back too, and the caller checks it: a
// row another worker claimed and committed while this query ran is
// re-read by PostgreSQL after the lock (EvalPlanQual), which rechecks the
// index conditions but not the partial index's WHERE, so it can come back
// in_progress. Found by the four-worker test: 40 of 20,000 sent twice.
inline const std::string& dueAtPriority(bool postgres = false)
{
    static const std::string s =
        "SELECT d.id, d.target_id, d.event_id, d.attempt_count, d.retry_base, d.throttle_deferrals, d.status"
        " FROM deliveries d CROSS JOIN targets t"
        " ON t.id = d.target_id WHERE " +
        claimable() +
        " AND d.priority = ?1 AND d.next_attempt_at <= ?2"
        " AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= ?2)"
        " ORDER BY d.priority DESC, d.next_attempt_at LIMIT ?3";
    static const std::string pg = s + " FOR UPDATE OF d SKIP LOCKED";
    return postgres ? pg : s;
}

// CROSS JOIN keeps deliveries the outer loop: walked in index order, the
// first row of an enabled target ends the query (a plain JOIN lets the
// planner scan targets and sort).
// Targets whose breaker is open until after ?2 are stepped over; their next
// probe is firstProbe's.
inline const std::string& firstAtPriority()
{
    static const std::string s =
        "SELECT d.next_attempt_at FROM deliveries d CROSS JOIN targets t ON t.id = d.target_id WHERE " + claimable() +
        " AND d.priority = ?1 AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= ?2)"
        " ORDER BY d.priority DESC, d.next_attempt_at LIMIT 1";
    return s;
}

// One target's deliveries in flight, across every worker: a range of the
// deliveries_in_flight index (the WHERE is the index's, word for word).
inline const std::string& inFlightOfTarget()
{
    static const std::string s =
        "SELECT count(*) FROM deliveries WHERE status = " + sqlName(DeliveryStatus::InProgress) + " AND target_id = ?1";
    return s;
}

inline const std::string& firstProbe()
{
    static const std::string s = "SELECT min(paused_until) FROM targets WHERE enabled = 1 AND paused_until > ?1";
    return s;
}

inline const std::string& firstLease()
{
    static const std::string s =
        "SELECT lease_expires_at FROM deliveries WHERE status = " + sqlName(DeliveryStatus::InProgress) +
        " ORDER BY lease_expires_at LIMIT 1";
    return s;
}

} // namespace webhookd::detail::queue_sql

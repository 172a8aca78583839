#pragma once

// storage/ internals: the claim's queries, named so tests can check their
// query plans (every one must be an index seek, never a scan of deliveries).

namespace webhookd::detail::queue_sql {

// Word for word the WHERE clause of the deliveries_due index, so SQLite can use it.
#define WEBHOOKD_CLAIMABLE "(status = 'pending' OR status = 'failed' OR status = 'rate_limited')"

inline constexpr const char* kReclaim =
    "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
    " updated_at = ?1 WHERE status = 'in_progress' AND lease_expires_at < ?1";

// The next lower priority level that has claimable rows.
inline constexpr const char* kNextPriority =
    "SELECT priority FROM deliveries WHERE " WEBHOOKD_CLAIMABLE
    " AND priority < ?1 ORDER BY priority DESC LIMIT 1";

// Due rows of one priority level: a range seek that ends at the first row not
// yet due, however many of those wait behind it. Rows of disabled targets and
// of targets whose breaker is open until after ?2 are stepped over here, not
// in the caller: a backlog of theirs larger than the LIMIT would otherwise
// hide every other target's rows. CROSS JOIN: see kFirstAtPriority.
inline constexpr const char* kDueAtPriority =
    "SELECT d.id, d.target_id, d.event_id, d.attempt_count, d.retry_base FROM deliveries d CROSS JOIN targets t"
    " ON t.id = d.target_id WHERE " WEBHOOKD_CLAIMABLE " AND d.priority = ?1 AND d.next_attempt_at <= ?2"
    " AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= ?2)"
    " ORDER BY d.priority DESC, d.next_attempt_at LIMIT ?3";

// CROSS JOIN keeps deliveries the outer loop: walked in index order, the
// first row of an enabled target ends the query (a plain JOIN lets the
// planner scan targets and sort).
// Targets whose breaker is open until after ?2 are stepped over; their next
// probe is kFirstProbe's.
inline constexpr const char* kFirstAtPriority =
    "SELECT d.next_attempt_at FROM deliveries d CROSS JOIN targets t ON t.id = d.target_id WHERE " WEBHOOKD_CLAIMABLE
    " AND d.priority = ?1 AND t.enabled = 1 AND (t.paused_until IS NULL OR t.paused_until <= ?2)"
    " ORDER BY d.priority DESC, d.next_attempt_at LIMIT 1";

inline constexpr const char* kFirstProbe =
    "SELECT min(paused_until) FROM targets WHERE enabled = 1 AND paused_until > ?1";

inline constexpr const char* kFirstLease =
    "SELECT lease_expires_at FROM deliveries WHERE status = 'in_progress' ORDER BY lease_expires_at LIMIT 1";

#undef WEBHOOKD_CLAIMABLE

} // namespace webhookd::detail::queue_sql

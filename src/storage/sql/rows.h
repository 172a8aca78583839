#pragma once

// storage/ internals: the column lists and row readers shared by the queries.

#include <optional>
#include <vector>

#include "core/error.h"
#include "model/delivery.h"
#include "model/event.h"
#include "model/target.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/sql/driver.h"

namespace webhookd::detail {

// Binds the value, or NULL when there is none.
// A column as an optional: nullopt for NULL.
template <typename T>
std::optional<T> optionalColumn(sql::Statement& q, int i)
{
    auto c = q.getColumn(i);
    if (c.isNull())
        return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>)
        return c.getString();
    else if constexpr (std::is_same_v<T, double>)
        return c.getDouble();
    else if constexpr (std::is_same_v<T, int>)
        return c.getInt();
    else
        return c.getInt64();
}

template <typename T>
void bindOptional(sql::Statement& q, int index, const std::optional<T>& value)
{
    if (value)
        q.bind(index, *value);
    else
        q.bind(index);
}

// Columns readTarget expects, in order, from a table aliased as nothing or "t".
inline constexpr const char* kTargetColumns =
    "id, name, url, secret, previous_secret, previous_secret_expires_at, enabled, event_filters, headers,"
    " timeout_ms, max_attempts, initial_delay_ms, max_delay_ms, backoff_multiplier, jitter_factor,"
    " rate_per_second, burst, rate_limit_enabled, metadata, created_at, updated_at, signature_scheme, ca_bundle,"
    " consecutive_failures, paused_until, paused_at, paused_reason, disabled_reason, max_in_flight, min_rate,"
    " rate_step, rate_current, rate_adjusted_at, rate_signal_at, rate_signal, retry_schedule, older_secrets,"
    " app_id, body_format, payload_filter, ordering, ordering_dead_letter";
// How many: columns a query selects after these start at this index.
constexpr int columnCount(const char* list)
{
    int n = 1;
    for (const char* c = list; *c != '\0'; ++c)
        n += *c == ',' ? 1 : 0;
    return n;
}
inline constexpr int kTargetColumnCount = columnCount(kTargetColumns);
static_assert(kTargetColumnCount == 42, "readTarget reads 42 columns: keep it and kTargetColumns in step");
Target readTarget(sql::Statement& q, int first = 0);

// Columns readDelivery expects, in order, from "deliveries d JOIN events e".
extern const char* const kDeliveryColumns;

// Columns of an API key (api_keys.cpp's readKey) and of an event (events.cpp's readEvent), in order.
// " AND <column> IN (that application's targets)", when an application is
// given: how every listing keeps to one tenant.
inline void appCondition(sql::Composer& q, const char* targetColumn, const std::optional<std::string>& appId)
{
    if (appId)
        q << " AND " << targetColumn << " IN (SELECT id FROM targets WHERE app_id = " << sql::value(*appId) << ")";
}

// " AND <column> = type", or for a pattern ending in * (order.*) the types
// that start with what precedes it: substr() compares characters exactly in
// both dialects, where a range would follow PostgreSQL's collation.
inline void typeCondition(sql::Composer& q, const char* column, const std::optional<std::string>& type)
{
    if (!type)
        return;
    if (!type->empty() && type->back() == '*') {
        const std::string prefix = type->substr(0, type->size() - 1);
        q << " AND substr(" << column << ", 1, " << std::to_string(prefix.size()) << ") = " << sql::value(prefix);
    } else {
        q << " AND " << column << " = " << sql::value(*type);
    }
}

inline constexpr const char* kApiKeyColumns =
    "id, name, scopes, created_at, expires_at, revoked_at, last_used_at, app_id, kind";
inline constexpr const char* kEventColumns =
    "id, uid, type, priority, created_at, idempotency_key, app_id, ordering_key";
Delivery readDelivery(sql::Statement& q, int first = 0);

// NotFound ("there is no target 'ID'") unless the target exists; nothing to
// check without an id (a filter that does not narrow by target).
Status knownTarget(sql::Connection& sql, const std::optional<std::string>& id);

} // namespace webhookd::detail

namespace webhookd::detail {

// Runs a "DELETE FROM deliveries … RETURNING event_id" statement, then deletes
// those events that no delivery refers to any more (events that never had a
// delivery are kept). Returns the number of deliveries deleted.
int64_t deleteDeliveriesAndOrphans(sql::Connection& sql, sql::Statement& deleteReturningEventId);

// Deletes those of the given events that no delivery refers to any more.
// Returns how many went.
int64_t deleteOrphanEvents(sql::Connection& sql, std::vector<int64_t> eventIds);

} // namespace webhookd::detail

namespace webhookd::detail {

// Records one event and its deliveries inside the caller's transaction,
// reading the routes afresh (the outbox's path: storage/sqlite/outbox.cpp).
Result<SendResult> writeEventOnce(sql::Connection& connection, const EventInput& event, int64_t nowMs);

} // namespace webhookd::detail

namespace webhookd::detail {

// The listing queries, composed as the connection spells them; named so
// tests can check their plans.
sql::Composer listDeliveriesSql(sql::Connection& c, const DeliveryFilter& filter);
sql::Composer listDeadLettersSql(sql::Connection& c, const DeliveryFilter& filter);
sql::Composer listEventsSql(sql::Connection& c, const EventFilter& filter);

} // namespace webhookd::detail

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
extern const char* const kTargetColumns;
constexpr int kTargetColumnCount = 39; // columns after these start at this index
Target readTarget(sql::Statement& q, int first = 0);

// Columns readDelivery expects, in order, from "deliveries d JOIN events e".
extern const char* const kDeliveryColumns;

// Columns of an API key (api_keys.cpp's readKey) and of an event (events.cpp's readEvent), in order.
inline constexpr const char* kApiKeyColumns = "id, name, scopes, created_at, expires_at, revoked_at, last_used_at";
inline constexpr const char* kEventColumns = "id, uid, type, priority, created_at, idempotency_key, app_id, ordering_key";
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

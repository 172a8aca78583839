#pragma once

#include <functional>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "storage/model.h"

namespace SQLite {
class Database;
}

namespace webhookd {

class Database;

// Event priorities are whole numbers in this range; higher goes first.
constexpr int kMinPriority = -1000;
constexpr int kMaxPriority = 1000;

// Records one event and its deliveries in one transaction, committed with the
// database's durability (FULL by default) before returning. Without explicit
// targets it fans out to every enabled target whose filters match; an event
// that matches none is stored with no deliveries. A known idempotency key
// returns the original event's deliveries with duplicate = true.
// Errors: Invalid (type, payload, priority), NotFound (an explicit target).
Result<SendResult> sendEvent(Database& db, const EventInput& event, const Clock& clock, const Limits& limits = {});

// Records every event in one transaction: all go in or none do. An error names
// the 1-based position of the bad event ("event 7: …").
using Progress = std::function<void(size_t done, size_t total)>;
Result<std::vector<SendResult>> sendBatch(Database& db, const std::vector<EventInput>& events, const Clock& clock,
                                          const Limits& limits = {}, const Progress& progress = {});

// The transactional outbox: records the event on the caller's own connection,
// inside the transaction the caller has open (Invalid if none is), so the event
// commits or rolls back with the caller's own writes. The file must have been
// created by webhookd (Invalid otherwise).
Result<SendResult> sendInTransaction(SQLite::Database& connection, const EventInput& event, const Clock& clock,
                                     const Limits& limits = {});

} // namespace webhookd

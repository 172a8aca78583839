#pragma once

#include <functional>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "model/event.h"

namespace webhookd {

class Database;

// Records one event and its deliveries in one transaction, committed with the
// database's durability (FULL by default) before returning. Without explicit
// targets it fans out to every enabled target whose filters match; an event
// that matches none is stored with no deliveries. A known idempotency key
// returns the original event's deliveries with duplicate = true.
// Errors: Invalid (validateEvent, model/event_rules.h), NotFound (an
// explicit target).
Result<SendResult> sendEvent(Database& db, const EventInput& event, const Clock& clock, const Limits& limits = {});

// Records every event in one transaction: all go in or none do. An error names
// the 1-based position of the bad event ("event 7: …").
using Progress = std::function<void(size_t done, size_t total)>;
Result<std::vector<SendResult>> sendBatch(Database& db, const std::vector<EventInput>& events, const Clock& clock,
                                          const Limits& limits = {}, const Progress& progress = {});

// The transactional outbox on an application's own SQLite connection is in
// storage/sqlite/outbox.h.

} // namespace webhookd

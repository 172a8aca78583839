#pragma once

#include <functional>
#include <optional>
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
// that matches none is stored with no deliveries. Either way it reaches only
// targets of its own application (app_id), or of none when it has none. A
// known idempotency key returns the original event's deliveries with
// duplicate = true, also when another connection recorded it concurrently
// (its insert waits for that commit, then replays).
// Errors: Invalid (validateEvent, model/event_rules.h, an explicit target of
// another application), NotFound (an explicit target), Conflict (the
// idempotency key was first used with another event).
Result<SendResult> sendEvent(Database& db, const EventInput& event, const Clock& clock, const Limits& limits = {});

// Records every event in one transaction: all go in or none do. An error names
// the 1-based position of the bad event ("event 7: …").
using Progress = std::function<void(size_t done, size_t total)>;
Result<std::vector<SendResult>> sendBatch(Database& db, const std::vector<EventInput>& events, const Clock& clock,
                                          const Limits& limits = {}, const Progress& progress = {});

// Records events pulled one at a time from next() until it gives nullopt,
// all in one transaction: all go in or none do, and memory does not grow
// with the number of events (a batch of a gigabyte streams through). Each
// recorded event's result goes to onRecorded before the commit; the caller
// must not act on them until this returns success (on an error they were
// rolled back). An error from next() is returned as it is; a bad event's
// error names its 1-based position ("event 7: …"). Returns how many.
using EventSource = std::function<Result<std::optional<EventInput>>()>;
using ResultSink = std::function<void(const SendResult&)>;
Result<size_t> sendStream(Database& db, const EventSource& next, const ResultSink& onRecorded, const Clock& clock,
                          const Limits& limits = {}, const Progress& progress = {});

// Records each event on its own (a savepoint apiece) in one transaction,
// committed once: what the HTTP API's group commit needs. Each result is that
// event's own outcome, as sendEvent would give it; the outer error is the
// transaction's (nothing was recorded).
Result<std::vector<Result<SendResult>>> sendEach(Database& db, const std::vector<EventInput>& events,
                                                 const Clock& clock, const Limits& limits = {});

// Events newest first ((created_at, id) descending), through events_by_created.
// Invalid for a limit below 1.
Result<std::vector<EventRecord>> listEvents(Database& db, const EventFilter& filter);

// One event by uid, with its payload and its deliveries (newest first).
// NotFound for an unknown uid.
Result<EventRecord> getEvent(Database& db, const std::string& uid);

// The transactional outbox on an application's own SQLite connection is in
// storage/sqlite/outbox.h.

} // namespace webhookd

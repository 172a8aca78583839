#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/delivery_status.h"

namespace webhookd {

class Clock;
class Database;

// Sending deliveries again: dead letters back to the queue (dlq retry) and
// finished deliveries as a new attempt series (delivery resend). A requeued
// delivery becomes `pending`, due now, with retry_base = attempt_count (a
// fresh attempt budget), completed_at and its lease cleared, and its
// dead_letters row, if one is open, marked retried_at = now. Its attempts
// rows stay: the next attempt continues their numbering.

struct Requeued {
    int64_t id = 0;
    DeliveryStatus previousStatus = DeliveryStatus::DeadLetter; // Delivered or DeadLetter
};

struct RedriveOptions {
    int batchSize = 1000;                                      // deliveries per transaction, at least 1
    std::function<void(int64_t done, int64_t total)> progress; // after every batch
};

// Which dead letters retryAllDeadLetters takes; unset fields do not narrow.
struct DeadLetterSelection {
    std::optional<std::string> targetId;
    std::optional<std::string> type;
    std::optional<int64_t> movedSince; // moved to the queue at or after this (epoch ms)
    std::optional<std::string> appId;  // only dead letters of this application's targets
};

// Requeues the given dead letters. Every id is checked in the first batch's
// transaction before anything changes: NotFound for an unknown id, Invalid for
// one not in the dead-letter queue (or no ids), and then nothing changed.
// Later batches skip a row whose status someone else changed meanwhile.
Result<std::vector<Requeued>> retryDeadLetters(Database& db, const std::vector<int64_t>& ids, const Clock& clock,
                                               const RedriveOptions& options = {});

// Requeues every dead letter the selection takes, in batches. NotFound for an
// unknown target.
Result<std::vector<Requeued>> retryAllDeadLetters(Database& db, const DeadLetterSelection& selection,
                                                  const Clock& clock, const RedriveOptions& options = {});

// Starts a new attempt series for delivered or dead-lettered deliveries, all
// checked first as retryDeadLetters does: NotFound for an unknown id, Invalid
// for one still pending, failed, rate_limited or in_progress.
Result<std::vector<Requeued>> resendDeliveries(Database& db, const std::vector<int64_t>& ids, const Clock& clock,
                                               const RedriveOptions& options = {});

// dlq release: the ordering group a dead letter holds back (its target says
// --ordering-dead-letter block) goes on with its next delivery; the dead
// letter stays in the queue, and `dlq retry` still takes it. NotFound for an
// unknown id; Conflict when it is not a dead letter that blocks a group.
Status releaseDeadLetter(Database& db, int64_t id, const Clock& clock);

} // namespace webhookd

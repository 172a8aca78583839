#pragma once

// A delivery (one event to one target) and its attempts, as stored.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/delivery_status.h"

namespace webhookd {

struct Attempt {
    int number = 0;
    int64_t startedAt = 0;
    int64_t durationMs = 0;
    std::optional<int> statusCode;
    std::optional<std::string> errorType;
    std::optional<std::string> errorMessage;
    std::optional<int64_t> retryAfterMs;
    std::string responseExcerpt;
    std::optional<std::string> requestHead;  // "POST URL" and the headers sent (masked), one per line
    std::optional<std::string> responseHead; // the answer's status line and headers
};

struct Delivery {
    int64_t id = 0;
    int64_t eventId = 0;
    std::string eventUid;
    std::string type;
    std::string targetId;
    DeliveryStatus status = DeliveryStatus::Pending;
    int priority = 0;
    int attemptCount = 0;
    int64_t nextAttemptAt = 0;
    std::optional<int> lastStatusCode;
    std::optional<std::string> lastError;
    int64_t createdAt = 0;
    int64_t updatedAt = 0;
    std::optional<int64_t> completedAt;
    std::optional<std::string> deadLetterReason;
    std::optional<int64_t> deadLetteredAt; // when it entered the dead-letter queue (while it is in it)
    std::vector<Attempt> attempts;         // filled by getDelivery only
    // Ordered targets, filled by getDelivery only: the delivery's group ('' for
    // fifo, the event's key for key), the delivery of the group a waiting one
    // waits behind, and whether this dead letter holds its group back.
    std::optional<std::string> orderingGroup;
    std::optional<int64_t> waitingBehind;
    bool blocksGroup = false;
};

// Which deliveries a listing takes, newest first: (created_at, id)
// descending, the order the indexes give.
struct DeliveryFilter {
    std::optional<DeliveryStatus> status;
    std::optional<std::string> targetId;
    std::optional<std::string> appId; // only deliveries to this application's targets
    std::optional<std::string> type;
    std::optional<int64_t> createdSince; // created_at >= this (epoch ms)
    std::optional<int64_t> createdUntil; // created_at < this (epoch ms)
    // Keyset paging: only what comes after this (created_at, id) in the
    // listing's order, i.e. older.
    std::optional<std::pair<int64_t, int64_t>> after;
    int limit = 100;
};

} // namespace webhookd

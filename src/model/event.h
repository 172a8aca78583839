#pragma once

// An event as a producer gives it, and what recording it produced.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/delivery.h"

namespace webhookd {

// Event priorities are whole numbers in this range; higher goes first.
constexpr int kMinPriority = -1000;
constexpr int kMaxPriority = 1000;

struct EventInput {
    std::string type;
    std::string payload = "{}"; // JSON text, stored as given
    int priority = 0;
    std::vector<std::string> targets; // empty: fan out by filters
    std::optional<std::string> idempotencyKey;
    std::optional<std::string> appId; // only that application's targets receive it (without: only targets of none)
    // Its deliveries to a target with ordering key go one at a time per key
    // (DESIGN.md "Ordering and payload filters"); 1 to 256 bytes of UTF-8.
    std::optional<std::string> orderingKey;
};

// A stored event, as listed. payload and deliveries are filled by getEvent only.
struct EventRecord {
    int64_t id = 0;
    std::string uid;
    std::string type;
    int priority = 0;
    int64_t createdAt = 0;
    std::optional<std::string> idempotencyKey;
    std::optional<std::string> appId;
    std::optional<std::string> orderingKey;
    std::string payload;
    std::vector<Delivery> deliveries;
};

// Which events listEvents takes; unset fields do not narrow.
struct EventFilter {
    std::optional<std::string> type;
    std::optional<std::string> appId;                 // only this application's events
    std::optional<std::string> idempotencyKey;        // the events sent with this key (one per application)
    std::optional<int64_t> createdSince;              // created_at >= this
    std::optional<int64_t> createdUntil;              // created_at < this
    std::optional<std::pair<int64_t, int64_t>> after; // keyset: older than this (created_at, id)
    int limit = 50;
};

struct SendResult {
    int64_t eventId = 0;
    std::string uid;
    std::vector<int64_t> deliveryIds;
    std::vector<std::string> targetIds; // parallel to deliveryIds
    bool duplicate = false;             // the idempotency key was seen before
    int64_t createdAt = 0;              // the event's, epoch ms
};

} // namespace webhookd

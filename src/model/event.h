#pragma once

// An event as a producer gives it, and what recording it produced.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
};

struct SendResult {
    int64_t eventId = 0;
    std::string uid;
    std::vector<int64_t> deliveryIds;
    std::vector<std::string> targetIds; // parallel to deliveryIds
    bool duplicate = false;             // the idempotency key was seen before
};

} // namespace webhookd

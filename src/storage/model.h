#pragma once

// Plain records stored by webhookd; no database types leak out of storage/.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "retry/retry.h"
#include "signing/signing.h"

namespace webhookd {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Every status a delivery can have (DESIGN.md, Delivery states), in the order
// listings show them.
inline constexpr const char* kDeliveryStatuses[] = {"pending",      "in_progress", "failed",
                                                    "rate_limited", "delivered",   "dead_letter"};

struct Target {
    std::string id;
    std::string name;
    std::string url;
    std::string secret;
    std::optional<std::string> previousSecret;
    std::optional<int64_t> previousSecretExpiresAt;
    bool enabled = true;
    std::vector<std::string> eventFilters; // empty: every event
    HeaderList headers;
    std::optional<int64_t> timeoutMs;      // nullopt: the worker's default
    RetryPolicy retry;
    std::optional<double> ratePerSecond;
    std::optional<int> burst;
    bool rateLimitEnabled = false;
    std::map<std::string, std::string> metadata;
    SignatureScheme signatureScheme = SignatureScheme::Standard;
    std::optional<std::string> caBundle;   // PEM file; nullopt: the worker's CA bundle
    // Written by the worker. The circuit breaker: failed attempts in a row,
    // and while it is open, until when no delivery is claimed (one probe
    // after that). disabledReason: why the worker disabled it (410 Gone).
    int consecutiveFailures = 0;
    std::optional<int64_t> pausedUntil;
    std::optional<int64_t> pausedAt;
    std::optional<std::string> pausedReason;
    std::optional<std::string> disabledReason;
    int64_t createdAt = 0;
    int64_t updatedAt = 0;
};

// A target's settings as given to add or update: unset fields keep their
// current value (or the default, for add).
struct TargetSpec {
    std::optional<std::string> name;
    std::optional<std::string> url;
    std::optional<std::string> secret;
    std::optional<std::vector<std::string>> eventFilters;
    std::optional<HeaderList> headers;
    std::optional<int64_t> timeoutMs;
    std::optional<int> maxAttempts;
    std::optional<int64_t> initialDelayMs;
    std::optional<int64_t> maxDelayMs;
    std::optional<double> backoffMultiplier;
    std::optional<double> jitterFactor;
    std::optional<double> ratePerSecond;
    std::optional<int> burst;
    std::optional<bool> rateLimitEnabled;
    std::optional<std::map<std::string, std::string>> metadata;
    std::optional<bool> enabled;
    std::optional<SignatureScheme> signatureScheme;
    std::optional<std::string> caBundle;     // an empty string clears it
};

struct EventInput {
    std::string type;
    std::string payload = "{}";              // JSON text, stored as given
    int priority = 0;
    std::vector<std::string> targets;        // empty: fan out by filters
    std::optional<std::string> idempotencyKey;
};

struct SendResult {
    int64_t eventId = 0;
    std::string uid;
    std::vector<int64_t> deliveryIds;
    std::vector<std::string> targetIds;      // parallel to deliveryIds
    bool duplicate = false;                  // the idempotency key was seen before
};

struct Attempt {
    int number = 0;
    int64_t startedAt = 0;
    int64_t durationMs = 0;
    std::optional<int> statusCode;
    std::optional<std::string> errorType;
    std::optional<std::string> errorMessage;
    std::optional<int64_t> retryAfterMs;
    std::string responseExcerpt;
};

struct Delivery {
    int64_t id = 0;
    int64_t eventId = 0;
    std::string eventUid;
    std::string type;
    std::string targetId;
    std::string status;
    int priority = 0;
    int attemptCount = 0;
    int64_t nextAttemptAt = 0;
    std::optional<int> lastStatusCode;
    std::optional<std::string> lastError;
    int64_t createdAt = 0;
    int64_t updatedAt = 0;
    std::optional<int64_t> completedAt;
    std::optional<std::string> deadLetterReason;
    std::vector<Attempt> attempts;           // filled by getDelivery only
};

struct DeliveryFilter {
    std::optional<std::string> status;
    std::optional<std::string> targetId;
    std::optional<std::string> type;
    std::optional<int64_t> createdSince;     // epoch ms
    int limit = 100;
};

struct Counts {
    int64_t total = 0;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t deadLetter = 0;
    int64_t pending = 0;     // pending + rate_limited + in_progress
};

// Nearest-rank percentiles of a set of milliseconds; nullopt when it is empty.
struct Percentiles {
    std::optional<int64_t> p50;
    std::optional<int64_t> p95;
    std::optional<int64_t> p99;
};

struct Stats {
    Counts all;
    double averageResponseTimeMs = 0;
    double successRate = 0;  // delivered / (delivered + dead_letter); 0 when neither
    std::map<std::string, Counts> byEventType;
    std::map<std::string, Counts> byTarget;
    Percentiles attemptLatencyMs;   // duration_ms of every attempt
    Percentiles timeToDeliverMs;    // completed_at - created_at of delivered ones
    std::map<std::string, int64_t> queueDepth; // every status, 0 included
    std::optional<int64_t> oldestDueAgeMs;     // now - next_attempt_at of the longest-due claimable one
};

} // namespace webhookd

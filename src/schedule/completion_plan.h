#pragma once

// What finished attempts write (DESIGN.md "Delivery states", "Flow control
// per target") as plans: from the worker's completions, each delivery's new
// status, its attempt row, its dead letter, the per-minute rollup; from what
// each target's attempts said, its breaker and its adaptive rate. No SQL:
// storage writes the rows, one statement per kind, and reads each target's
// stored state (locked, on PostgreSQL) before its update is decided.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/outcome.h"
#include "model/breaker.h"
#include "model/delivery_status.h"
#include "model/rollup.h"
#include "ratelimit/aimd.h"

namespace webhookd {

// What one attempt led to, as the worker decided it (retry/ decide()).
struct Completion {
    int64_t deliveryId = 0;
    std::string targetId;
    int attemptNumber = 0;
    Outcome outcome;
    DeliveryStatus status = DeliveryStatus::Failed; // Delivered, Failed or DeadLetter
    int64_t nextAttemptAt = 0;                      // for failed
    std::string lastError;                          // empty when delivered
    std::string deadLetterReason;                   // for dead_letter
    bool freeThrottle = false;                      // a 429 with Retry-After that does not use up the budget
};

// A change the worker made to a target while claiming or recording attempts.
struct TargetEvent {
    // Disabled: a 410 Gone. Unreadable: its row was edited into a shape the
    // worker cannot deliver from (Target::rowError), so it was disabled.
    // Throttled: adaptive throttling cut its rate (reason says to what, and why).
    enum class Kind { Paused, Resumed, Disabled, Unreadable, Throttled } kind;
    std::string targetId;
    std::string reason;
};

// A delivery's row after its attempt, written only while this worker still
// holds its lease (else another worker owns the delivery now).
struct FinishRow {
    int64_t deliveryId = 0;
    DeliveryStatus status = DeliveryStatus::Failed;
    int64_t nextAttemptAt = 0;
    std::optional<int> statusCode;
    std::optional<std::string_view> lastError;
    std::optional<int64_t> completedAt; // nullopt while a retry is scheduled
    bool freeThrottle = false;          // counts into retry_base and throttle_deferrals
};

struct AttemptRow {
    int64_t deliveryId = 0;
    int number = 0;
    int64_t startedAt = 0;
    int64_t durationMs = 0;
    std::optional<int> statusCode;
    std::optional<std::string_view> errorType;
    std::optional<std::string_view> errorMessage;
    std::optional<std::string> responseExcerpt;
    std::optional<int64_t> retryAfterMs;
    std::optional<std::string> requestHead;
    std::optional<std::string> responseHead;
};

struct DeadLetterRow {
    int64_t deliveryId = 0;
    std::string_view reason;
    int64_t movedAt = 0;
};

// Each list in the completions' order: finishes and attempts one per
// completion, dead letters one per completion that is a dead letter. An
// attempt row and a dead letter are written only where the delivery's finish
// was. Views into the completions, which must outlive the plan.
struct CompletionPlan {
    std::vector<FinishRow> finishes;
    std::vector<AttemptRow> attempts;
    std::vector<DeadLetterRow> deadLetters;
};

CompletionPlan planCompletions(const std::vector<Completion>& completions, int64_t nowMs);

// The rollup (stats_minutely) of the attempts written: finished[i] says
// whether completions[i]'s finish was. In (minute, target) order.
struct RollupRow {
    int64_t minute = 0;
    std::string targetId;
    MinuteCounts counts;
};
std::vector<RollupRow> rollupOf(const std::vector<Completion>& completions, const std::vector<bool>& finished);

// Per target, what its attempts in the batch said, in the order they
// finished; targets in id order (the order completions lock them in).
std::map<std::string, AttemptRun, std::less<>> attemptRuns(const std::vector<Completion>& completions);

// Requests per second this worker sent each target over the last second (a
// sliding window: this second's count and the share of the last one's still
// inside it), counted as they are claimed: where adaptive throttling's first
// cut starts. Kept for a Queue's life.
class SendRates {
public:
    void sent(std::string_view targetId, int64_t nowMs);
    double perSecond(std::string_view targetId, int64_t nowMs) const;

private:
    struct Rate {
        int64_t windowMs = 0; // when the current one-second window began
        double current = 0;   // attempts finished in it
        double previous = 0;  // attempts finished in the window before
        void roll(int64_t nowMs);
    };
    std::map<std::string, Rate, std::less<>> rates_;
};

// A target's breaker and adaptive rate as stored.
struct TargetHealth {
    BreakerState breaker;
    AimdState rate;
    std::optional<double> ceiling; // the configured rate, when rate limiting is on
    std::optional<double> minRate;
    std::optional<double> step;
};

struct RateSave {
    AimdState after;
    std::optional<std::string> signal; // what cut it ("HTTP 429"); nullopt: keep the last
};

struct BreakerSave {
    int consecutiveFailures = 0;
    std::optional<int64_t> pausedUntil;      // nullopt: closed
    std::optional<std::string> pausedReason; // when it opened
    bool enabled = true;
    std::optional<std::string> disabledReason; // when a 410 Gone disabled it
};

struct TargetUpdate {
    std::optional<RateSave> rate;
    std::optional<BreakerSave> breaker;
    std::vector<TargetEvent> events;
    bool claimViewChanged = false; // its rate, breaker or enabled flag as a claim keeps them
};

// Adaptive throttling (nextRate) from the receiver's overload signals, then
// the breaker (nextBreakerState) unless it is off and nothing answered 410.
TargetUpdate planTargetUpdate(const std::string& targetId, const TargetHealth& before, const AttemptRun& run,
                              double sentPerSecond, int64_t nowMs, const BreakerPolicy& breaker,
                              const AimdPolicy& aimd);

} // namespace webhookd

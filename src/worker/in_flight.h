#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "schedule/flow.h"
#include "storage/queue.h"

namespace webhookd {

// The worker's transfers under way, keyed by their tag (the delivery's id),
// and how long each target's answers took lately: what a claim shares the
// free slots by (ClaimContext). The worker's thread only.
class InFlight {
public:
    size_t size() const { return deliveries_.size(); }
    bool empty() const { return deliveries_.empty(); }
    bool contains(uint64_t tag) const { return deliveries_.count(tag) > 0; }

    // d is in flight from monoMs (monotonic clock) on.
    void add(uint64_t tag, ClaimedDelivery d, int64_t monoMs);
    // The delivery in flight under tag; nullptr when none. Valid until remove().
    const ClaimedDelivery* find(uint64_t tag) const;
    void remove(uint64_t tag);
    // Forgets every transfer; the answer times stay.
    void clear();

    // A target answered, or timed out, after durationMs: either says how
    // long a slot stays taken.
    void answered(const std::string& targetId, int64_t durationMs);

    // Each target's transfers in flight, how long its answers take, and
    // whether it is slow (answers lately over kFastAnswerMs, or one in
    // flight longer) at monoMs.
    ClaimContext context(int concurrency, int64_t leaseMarginMs, int64_t monoMs) const;

private:
    std::unordered_map<uint64_t, ClaimedDelivery> deliveries_;
    std::unordered_map<uint64_t, int64_t> startedMono_; // when each transfer in flight began
    std::unordered_map<std::string, double> answerMs_;  // moving average per target
};

} // namespace webhookd

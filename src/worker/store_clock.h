#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "core/clock.h"

namespace webhookd {

// The clock the schedule is kept on: the given one for a SQLite file; for a
// store shared between hosts, the store's (its server's time as this host's
// monotonic clock plus a measured offset), so a worker whose own clock is
// off still honours retry times, and a jump of this host's clock changes
// nothing. Any thread may read it; the base clock must outlive it.
class StoreClock final : public Clock {
public:
    explicit StoreClock(const Clock& base)
        : base_(base)
    { }
    int64_t nowMs() const override { return shared_.load() ? base_.monotonicMs() + offset_.load() : base_.nowMs(); }
    int64_t monotonicMs() const override { return base_.monotonicMs(); }
    // The store's clock minus the monotonic clock (nullopt: a file on this host).
    void set(std::optional<int64_t> offsetMs)
    {
        if (!offsetMs)
            return;
        offset_.store(*offsetMs);
        shared_.store(true);
    }

private:
    const Clock& base_;
    std::atomic<bool> shared_{false};
    std::atomic<int64_t> offset_{0};
};

} // namespace webhookd

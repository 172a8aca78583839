#pragma once

#include <atomic>
#include <cstdint>

namespace webhookd {

// All time the core reads goes through a Clock, so tests can control it
// (leveldb routes OS access through Env for the same reason).
// Wall time is milliseconds since the Unix epoch (UTC) and is what the database
// stores; monotonic time never jumps and is what timeouts and sleeps use.
class Clock {
public:
    virtual ~Clock() = default;
    virtual int64_t nowMs() const = 0;
    virtual int64_t monotonicMs() const = 0;
};

class SystemClock final : public Clock {
public:
    int64_t nowMs() const override;
    int64_t monotonicMs() const override;

    // A process-wide instance; it has no state, any thread may use it.
    static SystemClock& instance();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
public:
    explicit FakeClock(int64_t startMs = 1'700'000'000'000)
        : wall_(startMs),
          mono_(0)
    { }
    int64_t nowMs() const override { return wall_.load(); }
    int64_t monotonicMs() const override { return mono_.load(); }
    void advance(int64_t ms)
    {
        wall_ += ms;
        mono_ += ms;
    }
    // Moves only the wall clock, as an NTP step or a manual change would.
    void jumpWall(int64_t ms) { wall_ += ms; }

private:
    std::atomic<int64_t> wall_;
    std::atomic<int64_t> mono_;
};

} // namespace webhookd

#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

namespace webhookd::api {

// At most one line a second for a message any client can cause; the line
// after a quiet spell says how many were left out. Any thread.
class LogThrottle {
public:
    // The number left out since the last line written, or nullopt when this
    // one is left out too.
    std::optional<int64_t> admit(int64_t nowMs)
    {
        std::lock_guard lock(mutex_);
        if (written_ && nowMs >= *written_ && nowMs - *written_ < 1000) {
            ++leftOut_;
            return std::nullopt;
        }
        written_ = nowMs;
        return std::exchange(leftOut_, 0);
    }

private:
    std::mutex mutex_;
    std::optional<int64_t> written_;
    int64_t leftOut_ = 0;
};

} // namespace webhookd::api

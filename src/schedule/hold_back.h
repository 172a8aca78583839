#pragma once

// Where the claim puts rows it holds back for want of a slot (DESIGN.md "Flow
// control per target"): spread at the rate the target's slots free, after
// the rows held back before them, within a horizon.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace webhookd {

// Rows one claim may move out of the walk's way (held back or deferred for a
// token): a few milliseconds of updates, whatever the free slots.
inline constexpr int kMovePerClaim = 1024;

// Where rows held back for want of a slot go, per target: after the rows
// held back before them, so a backlog moves out of the walk's way at the
// rate the target's slots free. A scheduling hint kept for a Queue's life;
// the rows keep their times in the store.
class HoldBack {
public:
    // When a row of the target held back at nowMs comes due again, given
    // about how long one of its answers takes and how many slots it has.
    int64_t next(const std::string& targetId, int64_t nowMs, double answerMs, int slots);

private:
    // The latest time a row was moved to, in fractional milliseconds (a fast
    // target frees several slots a millisecond).
    std::map<std::string, double, std::less<>> until_;
};

} // namespace webhookd

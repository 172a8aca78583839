#include "schedule/hold_back.h"

#include <algorithm>
#include <cmath>

namespace webhookd {

namespace {

// The furthest past one answer's time a target's rows held back at its share
// are spread: they come due again and meet the share of that moment. A
// backlog of B rows so comes back at B / 30 s or faster, whatever the
// estimate it was spread by (a share that has since grown, a second for a
// target that had not answered yet and answers in a millisecond).
constexpr int64_t kHoldBackHorizonMs = 30'000;

} // namespace

// Rows come due at the rate the target's slots free (its slots per answer
// time), continuing after the rows earlier claims held back, so its backlog
// moves out of the walk's way instead of coming back to the head a second
// later. The spread reaches at most one claim's worth of moves, and
// kHoldBackHorizonMs, ahead, then starts again from the front. It is an
// estimate of this moment (the target's share, its answer time:
// SlotShare::answerMs) that the rows keep: a row moved again when it comes
// due must not push the backlog ever further out, and a target whose share
// grows, or that turns out fast, must not find its backlog spread minutes
// ahead.
int64_t HoldBack::next(const std::string& targetId, int64_t nowMs, double answerMs, int slots)
{
    const double step = answerMs / std::max(1, slots), first = static_cast<double>(nowMs) + answerMs;
    double& until = until_[targetId];
    until = std::max(first, until + step);
    if (until > first + std::min(step * kMovePerClaim, static_cast<double>(kHoldBackHorizonMs)))
        until = first;
    return static_cast<int64_t>(std::ceil(until));
}

} // namespace webhookd

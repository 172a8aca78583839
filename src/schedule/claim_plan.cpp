#include "schedule/claim_plan.h"

#include <algorithm>
#include <limits>

#include "core/duration.h"
#include "model/target_rules.h"

namespace webhookd {

namespace {

// The furthest a throttled target's rows are deferred for want of a token:
// they come due again and meet the rate of that moment.
constexpr int64_t kDeferHorizonMs = 5'000;

} // namespace

ClaimTarget claimTargetOf(std::shared_ptr<const Target> target, std::optional<double> tokens,
                          std::optional<int64_t> tokensAt, int64_t nowMs)
{
    ClaimTarget c;
    if (auto bucket = bucketFor(*target, nowMs)) {
        c.limited = true;
        c.bucket = *bucket;
        if (tokens && tokensAt) {
            c.bucket.tokens = std::min(c.bucket.burst, *tokens);
            c.bucket.updatedAtMs = *tokensAt;
        }
    }
    c.pausedUntil = target->pausedUntil;
    c.target = std::move(target);
    return c;
}

// Rows examined per claim are bounded, so a claim stays short whatever waits:
// rows it takes or steps over count against examineBudget_, rows it moves out
// of the walk's way (held back, or deferred for a token) against moveBudget_,
// which does not shrink with the free slots, so a backlog ahead of other
// targets' rows is moved in a few claims.
ClaimPlanner::ClaimPlanner(const ClaimContext& context, const ClaimRequest& request, const BreakerPolicy& breaker,
                           HoldBack& holdBack)
    : context_(context),
      request_(request),
      breaker_(breaker),
      holdBack_(holdBack),
      slots_(context),
      examineBudget_(4 * request.limit + 64),
      moveBudget_(kMovePerClaim)
{ }

// Pages a little larger than what is still wanted; a page of rows mostly
// moved out of the way says more of the same follow: the next page is twice
// as large.
int ClaimPlanner::openPage()
{
    page_ = std::min(std::max(request_.limit - claimed_ + 8, 2 * lastMoved_), examineBudget_ + moveBudget_);
    return page_;
}

void ClaimPlanner::pageRead(const std::vector<DueRow>& rows)
{
    pageRows_ = rows.size();
    moved_ = 0;
    lastMoved_ = 0;
    for (const auto& r : rows)
        slots_.due(r.targetId);
    // A full page: more due rows wait behind it, maybe another target's.
    // Sticky: rows held back leave the range, so a later page coming up
    // short says nothing.
    windowFull_ = windowFull_ || static_cast<int>(rows.size()) == page_;
}

PagePlan ClaimPlanner::plan(const std::vector<DueRow>& rows, size_t from, const ClaimTargets& targets)
{
    const int64_t now = request_.nowMs;
    PagePlan p;
    size_t i = from;
    for (; i < rows.size() && wantsMore(); ++i) {
        const DueRow& row = rows[i];
        auto [at, fresh] = seen_.try_emplace(row.targetId);
        Seen& seen = at->second;
        if (fresh)
            seen.found = targets.find(row.targetId);
        if (seen.found.state == ClaimTargets::State::Gone)
            continue; // waits for its target to be enabled
        if (seen.found.state == ClaimTargets::State::Busy) {
            ++p.steppedOver;
            continue;
        }
        ClaimTarget& cached = seen.found.target;
        const Target& t = *cached.target;
        if (!t.enabled)
            continue;
        if (cached.pausedUntil && *cached.pausedUntil > now)
            continue; // the breaker is open: waits without spending attempts
        ++moved_;
        int64_t* capCount = nullptr;
        if (t.maxInFlight) {
            if (!seen.inFlight)
                seen.inFlight = targets.inFlight(row.targetId);
            capCount = &*seen.inFlight;
        }
        auto verdict = slots_.verdict(row.targetId, windowFull_);
        if (capCount && *capCount >= *t.maxInFlight)
            verdict = SlotShare::Verdict::Defer;
        if (verdict == SlotShare::Verdict::Skip) {
            --moved_; // stays due, in the walk's way: a page of only these ends it
            ++p.steppedOver;
            continue;
        }
        if (verdict == SlotShare::Verdict::Defer) {
            // Held back until about when a slot of its frees (HoldBack::next).
            const int per = std::max(1, capCount ? *t.maxInFlight : std::max(slots_.held(row.targetId), 1));
            const double answer = static_cast<double>(slots_.answerMs(row.targetId));
            p.heldBack.push_back({row.id, holdBack_.next(row.targetId, now, answer, per)});
            ++lastMoved_;
            continue;
        }
        // A retry of a target only adaptive throttling limits goes at its
        // schedule (DESIGN.md: throttling never stretches a retry schedule
        // beyond what the receiver asked for, which its due time holds);
        // the throttle holds back new deliveries, and the configured rate
        // holds back everything.
        const bool scheduledRetry = row.attemptCount > 0 && !configuredRate(*cached.target);
        if (cached.limited && !cached.bucket.tryTake(now) && !scheduledRetry) {
            const int k = ++deferred_[row.targetId];
            // While throttled the rate climbs back each second, so rows are
            // not spread further out than kDeferHorizonMs.
            int64_t wait = cached.bucket.msUntilToken(k);
            if (t.rateCurrent)
                wait = std::min(wait, kDeferHorizonMs);
            p.deferred.push_back({row.id, saturatingAdd(now, wait)});
            ++lastMoved_;
            continue;
        }
        if (cached.pausedUntil) {
            // The cool-down is over: this delivery is the probe. The next
            // waits for its outcome (or another cool-down).
            cached.pausedUntil = saturatingAdd(now, breaker_.cooldownMs);
            p.probes.push_back({row.targetId, *cached.pausedUntil});
        }
        slots_.took(row.targetId);
        if (capCount)
            ++*capCount;
        const int64_t lease = std::max(
            request_.leaseMs, saturatingAdd(t.timeoutMs.value_or(request_.defaultTimeoutMs), context_.leaseMarginMs));
        p.leases.push_back({row.id, row.eventId, saturatingAdd(now, lease), row.attemptCount + 1,
                            row.attemptCount - row.retryBase, row.throttleDeferrals, cached.target});
        ++claimed_;
    }
    p.end = i;
    return p;
}

bool ClaimPlanner::closePage()
{
    const int rows = static_cast<int>(pageRows_);
    examineBudget_ -= rows - lastMoved_;
    moveBudget_ -= lastMoved_;
    return rows >= page_ && wantsMore() && moved_ > 0 && examineBudget_ > 0 && moveBudget_ > 0;
}

bool ClaimPlanner::nextLevel(int priority) const
{
    return examineBudget_ > 0 && moveBudget_ > 0 && priority != std::numeric_limits<int>::min();
}

std::vector<const ClaimTarget*> ClaimPlanner::spent() const
{
    std::vector<const ClaimTarget*> out;
    for (const auto& [id, seen] : seen_)
        if (seen.found.state == ClaimTargets::State::Ready)
            out.push_back(&seen.found.target);
    return out;
}

} // namespace webhookd

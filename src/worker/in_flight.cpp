#include "worker/in_flight.h"

#include <algorithm>
#include <cmath>

namespace webhookd {

void InFlight::add(uint64_t tag, ClaimedDelivery d, int64_t monoMs)
{
    deliveries_.emplace(tag, std::move(d));
    startedMono_[tag] = monoMs;
}

const ClaimedDelivery* InFlight::find(uint64_t tag) const
{
    auto it = deliveries_.find(tag);
    return it == deliveries_.end() ? nullptr : &it->second;
}

void InFlight::remove(uint64_t tag)
{
    startedMono_.erase(tag);
    deliveries_.erase(tag);
}

void InFlight::clear()
{
    deliveries_.clear();
    startedMono_.clear();
}

void InFlight::answered(const std::string& targetId, int64_t durationMs)
{
    auto [avg, fresh] = answerMs_.try_emplace(targetId, static_cast<double>(durationMs));
    if (!fresh)
        avg->second = 0.8 * avg->second + 0.2 * static_cast<double>(durationMs);
}

ClaimContext InFlight::context(int concurrency, int64_t leaseMarginMs, int64_t monoMs) const
{
    ClaimContext ctx;
    ctx.concurrency = concurrency;
    ctx.leaseMarginMs = leaseMarginMs;
    for (const auto& [id, ms] : answerMs_) {
        auto& load = ctx.targets[id];
        load.typicalMs = std::max<int64_t>(1, std::llround(ms));
        load.slow = ms > static_cast<double>(kFastAnswerMs);
    }
    for (const auto& [tag, d] : deliveries_) {
        auto& load = ctx.targets[d.target->id];
        ++load.inFlight;
        auto started = startedMono_.find(tag);
        if (started != startedMono_.end() && monoMs - started->second > kFastAnswerMs)
            load.slow = true;
    }
    return ctx;
}

} // namespace webhookd

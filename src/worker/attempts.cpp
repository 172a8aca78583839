#include "worker/loop.h"

#include <algorithm>

#include "core/duration.h"
#include "core/log.h"
#include "retry/retry.h"
#include "worker/reports.h"
#include "worker/request.h"

namespace webhookd {

namespace {

Log::Fields withPayload(bool logPayloads, const ClaimedDelivery& d, Log::Fields fields)
{
    if (logPayloads) {
        fields.emplace_back("type", d.type);
        fields.emplace_back("payload", d.payload);
    }
    return fields;
}

} // namespace

void Worker::Impl::claim(int64_t now)
{
    const int free = opt.concurrency - static_cast<int>(inflight.size());
    auto r = queue.completeAndClaim(unrecorded, now, opt.leaseMs, opt.defaultTimeoutMs, free,
                                    inflight.context(opt.concurrency, opt.leaseMarginMs, clock.monotonicMs()));
    if (!r) {
        storageFailed(r.error(), unrecorded.empty() ? "claim" : "record attempts and claim");
        return;
    }
    storageRecovered();
    recorded();
    if (r->reclaimed > 0)
        Log::info("reclaimed expired leases", {{"count", r->reclaimed}});
    for (int64_t id : r->orphaned)
        Log::error("moved to the dead-letter queue: its event row is missing", {{"delivery", id}});
    for (auto& d : r->claimed) {
        const auto tag = static_cast<uint64_t>(d.id);
        if (inflight.contains(tag)) {
            // Our own lease ran out mid-flight and this claim took the
            // delivery again: the transfer under way records it (the
            // lease is still ours); a second one would send it twice.
            Log::warn("claimed a delivery already in flight; not sending it twice", {{"delivery", d.id}});
            continue;
        }
        auto request = buildRequest(d, now, opt.userAgent, opt.defaultTimeoutMs);
        if (request) {
            http->start(std::move(*request));
        } else {
            // Recorded as an attempt that sent nothing; collect() takes it.
            HttpResult failed;
            failed.tag = tag;
            failed.outcome.startedAtMs = now;
            failed.outcome.error = TransportError::Signing;
            failed.outcome.errorMessage = request.error().message();
            done.push_back(std::move(failed));
        }
        inflight.add(tag, std::move(d), clock.monotonicMs());
    }
    counters.claimed += static_cast<int64_t>(r->claimed.size());
    counters.inFlight = static_cast<int64_t>(inflight.size());
    if (r->moreToMove && static_cast<int>(r->claimed.size()) < free) {
        // The claim moved as many rows out of the way as it may: claim
        // again at once, for what waits behind them.
        nextClaimAt = now;
    } else if (r->heldBack > 0 && static_cast<int>(r->claimed.size()) < free) {
        // Targets at their share or cap had rows stepped over: claim
        // again when a transfer finishes (collect) and frees a slot, or
        // when the rows held back come due, not at once (the walk would
        // only step over the same targets' next rows).
        nextClaimAt = saturatingAdd(now, kFastAnswerMs);
        claimOnCompletion = true;
    } else if (static_cast<int>(r->claimed.size()) < free) {
        // Everything due is taken: sleep until the next due row, a poll
        // interval at most, or until another process commits.
        auto due = queue.nextDueAt(now);
        int64_t next = saturatingAdd(now, opt.pollIntervalMs);
        if (due && *due)
            next = std::min(next, std::max(**due, now + 1));
        nextClaimAt = next;
    }
}

void Worker::Impl::collect()
{
    const int64_t now = clock.nowMs();
    for (auto& res : done) {
        const ClaimedDelivery* found = inflight.find(res.tag);
        if (!found)
            continue;
        const ClaimedDelivery& d = *found;
        const RetryPolicy& policy = d.target->retry;
        Decision dec =
            decide(res.outcome, policy, d.attemptsUsed + 1, unit(rng), now, opt.retryAfterCapMs, d.throttleDeferrals);
        if (res.outcome.error != TransportError::Signing)
            inflight.answered(d.target->id, res.outcome.durationMs);
        Completion c;
        c.deliveryId = d.id;
        c.targetId = d.target->id;
        c.attemptNumber = d.attemptNumber;
        c.outcome = std::move(res.outcome);
        if (dec.verdict == Verdict::Delivered && !opt.allAttemptHeads) {
            c.outcome.requestHead.clear();
            c.outcome.responseHead.clear();
        }
        c.lastError = dec.lastError;
        c.freeThrottle = dec.freeThrottle;
        ++counters.attempts;
        switch (dec.verdict) {
        case Verdict::Delivered:
            c.status = DeliveryStatus::Delivered;
            ++counters.delivered;
            break;
        case Verdict::Retry:
            c.status = DeliveryStatus::Failed;
            c.nextAttemptAt = dec.nextAttemptAt;
            ++counters.retried;
            Log::info("attempt failed; retry scheduled",
                      withPayload(opt.logPayloads, d,
                                  {{"delivery", d.id},
                                   {"target", d.target->id},
                                   {"attempt", d.attemptNumber},
                                   {"error", dec.lastError},
                                   {"next_attempt_at", isoTime(dec.nextAttemptAt)}}));
            break;
        case Verdict::DeadLetter:
            c.status = DeliveryStatus::DeadLetter;
            c.deadLetterReason = dec.deadLetterReason;
            ++counters.deadLettered;
            Log::warn("moved to the dead-letter queue",
                      withPayload(opt.logPayloads, d,
                                  {{"delivery", d.id},
                                   {"target", d.target->id},
                                   {"attempt", d.attemptNumber},
                                   {"reason", dec.deadLetterReason}}));
            break;
        }
        metrics.recordAttempt(c.outcome, d.target->id, c.status, dec.freeThrottle, now);
        if (unrecorded.empty())
            firstUnrecordedMono = clock.monotonicMs();
        unrecorded.push_back(std::move(c));
        inflight.remove(res.tag);
        if (claimOnCompletion) {
            nextClaimAt = 0; // a slot is free: the rows held back may have their turn
            claimOnCompletion = false;
        }
    }
    done.clear();
    counters.inFlight = static_cast<int64_t>(inflight.size());
}

void Worker::Impl::record()
{
    if (unrecorded.empty())
        return;
    const int64_t now = clock.nowMs();
    if (auto s = queue.complete(unrecorded, now); !s) {
        storageFailed(s.error(), "record attempts");
        return;
    }
    storageRecovered();
    recorded();
}

// A scheduled retry may be due before the next planned claim.
void Worker::Impl::recorded()
{
    for (const auto& c : unrecorded)
        if (c.status == DeliveryStatus::Failed)
            nextClaimAt = std::min(nextClaimAt, c.nextAttemptAt);
    unrecorded.clear();
    reportTargetEvents(queue.takeTargetEvents(), counters, opt.breaker.cooldownMs);
}

} // namespace webhookd

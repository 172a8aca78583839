#include "storage/queue.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/duration.h"
#include "core/utf8.h"
#include "model/flow.h"
#include "model/target_rules.h"
#include "ratelimit/aimd.h"
#include "ratelimit/token_bucket.h"
#include "storage/sql/connection.h"
#include "storage/sql/rollup_sql.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

namespace {

// The furthest a throttled target's rows are deferred for want of a token:
// they come due again and meet the rate of that moment.
constexpr int64_t kDeferHorizonMs = 5'000;

// Rows one claim may move out of the walk's way (held back or deferred for a
// token): a few milliseconds of updates, whatever the free slots.
constexpr int kMovePerClaim = 1024;

// The furthest past one answer's time a target's rows held back at its share
// are spread: they come due again and meet the share of that moment. A
// backlog of B rows so comes back at B / 30 s or faster, whatever the
// estimate it was spread by (a share that has since grown, a second for a
// target that had not answered yet and answers in a millisecond).
constexpr int64_t kHoldBackHorizonMs = 30'000;

} // namespace

// Every statement is reset as soon as its row is read: a statement left
// mid-result keeps a read snapshot open on the connection, and the next
// BEGIN IMMEDIATE on a stale snapshot fails with SQLITE_BUSY_SNAPSHOT, which
// no busy timeout waits out.
struct Queue::Statements {
    explicit Statements(sql::Connection& db)
        : reclaim(db, sql::Q::QueueReclaim),
          nextPriority(db, sql::Q::QueueNextPriority),
          dueAtPriority(db, sql::Q::QueueDueAtPriority),
          firstAtPriority(db, sql::Q::QueueFirstAtPriority),
          firstLease(db, sql::Q::QueueFirstLease),
          firstProbe(db, sql::Q::QueueFirstProbe),
          takeLease(db, sql::Q::QueueTakeLease),
          defer(db, sql::Q::QueueDefer),
          holdBack(db, sql::Q::QueueHoldBack),
          inFlightOfTarget(db, sql::Q::QueueInFlightOfTarget),
          event(db, sql::Q::QueueEvent),
          targets(db, sql::Q::QueueTargets),
          lockTarget(db, sql::Q::QueueLockTarget),
          saveBucket(db, sql::Q::QueueSaveBucket),
          finish(db, sql::Q::QueueFinish),
          attempt(db, sql::Q::QueueAttempt),
          deadLetter(db, sql::Q::QueueDeadLetter),
          targetState(db, sql::Q::QueueTargetState),
          saveRate(db, sql::Q::QueueSaveRate),
          saveBreaker(db, sql::Q::QueueSaveBreaker),
          probe(db, sql::Q::QueueProbe),
          rollup(db, sql::Q::RollupUpsert),
          disableUnreadable(db, sql::Q::QueueDisableUnreadable),
          orphan(db, sql::Q::QueueOrphan),
          release(db, sql::Q::QueueRelease),
          outstanding(db, sql::Q::QueueOutstanding)
    { }

    // Other connections write while a claim's transaction is open
    // (PostgreSQL): the claim locks the targets whose shared state it reads.
    bool lockTargets = false;
    sql::Statement reclaim, nextPriority, dueAtPriority, firstAtPriority, firstLease, firstProbe, takeLease, defer,
        holdBack, inFlightOfTarget, event, targets, lockTarget, saveBucket, finish, attempt, deadLetter, targetState,
        saveRate, saveBreaker, probe, rollup, disableUnreadable, orphan, release, outstanding;

    // Targets as last read, with their bucket state. Reloaded when another
    // connection has committed since (data_version moved); this connection's
    // own writes keep it current.
    struct CachedTarget {
        std::shared_ptr<const Target> target;
        TokenBucket bucket;
        bool limited = false;
        std::optional<int64_t> pausedUntil; // the breaker; kept current by this connection's probes
    };
    std::map<std::string, CachedTarget, std::less<>> cache;
    int64_t cacheVersion = -1;
};

Queue::Queue(Database& db, std::string workerId)
    : db_(db),
      workerId_(std::move(workerId)),
      st_(std::make_unique<Statements>(detail::sql(db)))
{
    st_->lockTargets = detailImpl(db).concurrentWriters();
}

Queue::~Queue() = default;

template <typename Body>
auto Queue::transaction(const char* what, Body body)
{
    pendingEvents_.clear();
    auto result = detail::guarded(what, [&]() -> decltype(body()) {
        sql::Transaction tx(detail::sql(db_), true);
        auto out = body();
        if (out)
            tx.commit();
        return out;
    });
    if (result) {
        targetEvents_.insert(targetEvents_.end(), pendingEvents_.begin(), pendingEvents_.end());
    } else {
        st_->cacheVersion = -1; // the rolled-back claim may have spent cached tokens or probes
    }
    pendingEvents_.clear();
    return result;
}

uint64_t Queue::changeToken() { return static_cast<uint64_t>(detailImpl(db_).changeVersion()); }

Result<ClaimResult> Queue::claim(int64_t now, int64_t leaseMs, int64_t defaultTimeoutMs, int limit,
                                 const ClaimContext& context)
{
    return completeAndClaim({}, now, leaseMs, defaultTimeoutMs, limit, context);
}

Result<ClaimResult> Queue::completeAndClaim(const std::vector<Completion>& completions, int64_t now, int64_t leaseMs,
                                            int64_t defaultTimeoutMs, int limit, const ClaimContext& context)
{
    return transaction("claim deliveries", [&]() -> Result<ClaimResult> {
        recordLocked(completions, now);
        return claimLocked(now, leaseMs, defaultTimeoutMs, limit, context);
    });
}

Result<ClaimResult> Queue::claimLocked(int64_t now, int64_t leaseMs, int64_t defaultTimeoutMs, int limit,
                                       const ClaimContext& context)
{
    auto& s = *st_;
    ClaimResult out;

    s.reclaim.reset();
    s.reclaim.bind(1, now);
    out.reclaimed = s.reclaim.exec();

    std::vector<std::shared_ptr<Target>> unreadable;
    // A target row (kTargetColumns, then its bucket) as the claim keeps it.
    auto readCached = [&](sql::Statement& row) {
        auto t = std::make_shared<Target>(detail::readTarget(row));
        if (t->rowError && t->enabled) {
            t->enabled = false;
            t->disabledReason = "its row cannot be read: " + *t->rowError;
            unreadable.push_back(t);
        }
        Statements::CachedTarget c;
        if (auto bucket = bucketFor(*t, now)) {
            c.limited = true;
            c.bucket = *bucket;
            auto tokens = row.getColumn(detail::kTargetColumnCount);
            auto at = row.getColumn(detail::kTargetColumnCount + 1);
            if (!tokens.isNull() && !at.isNull()) {
                c.bucket.tokens = std::min(c.bucket.burst, tokens.getDouble());
                c.bucket.updatedAtMs = at.getInt64();
            }
        }
        c.pausedUntil = t->pausedUntil;
        c.target = std::move(t);
        return c;
    };
    const int64_t version = detail::dataVersion(db_);
    if (version != s.cacheVersion) {
        s.cache.clear();
        s.targets.reset();
        while (s.targets.executeStep()) {
            auto c = readCached(s.targets);
            std::string id = c.target->id;
            s.cache.emplace(std::move(id), std::move(c));
        }
        s.targets.reset();
        // A row edited into a shape nothing can deliver from disables its
        // own target, with the reason, so the claim steps over its backlog
        // in SQL and every other target goes on (the change is this
        // connection's own, so the cache stays current).
        for (const auto& t : unreadable) {
            s.disableUnreadable.reset();
            s.disableUnreadable.bind(1, t->id);
            s.disableUnreadable.bind(2, *t->disabledReason);
            s.disableUnreadable.bind(3, now);
            s.disableUnreadable.exec();
            pendingEvents_.push_back({TargetEvent::Kind::Unreadable, t->id, *t->disabledReason});
        }
        s.cacheVersion = version;
    }

    // PostgreSQL: workers claim side by side, so a target whose shared state
    // the claim spends (its token bucket, its in-flight cap, its breaker's
    // probe) is locked for the claim and read afresh. One that another
    // worker's claim holds is stepped over for this claim (SKIP LOCKED),
    // never waited for: claims cannot deadlock on targets.
    std::map<std::string, bool, std::less<>> lockedTargets; // target → this claim holds its row
    auto lockTarget = [&](const std::string& id, Statements::CachedTarget*& cached) -> bool {
        auto [at, fresh] = lockedTargets.try_emplace(id, false);
        if (!fresh)
            return at->second;
        s.lockTarget.reset();
        s.lockTarget.bind(1, id);
        if (s.lockTarget.executeStep()) {
            at->second = true;
            auto c = readCached(s.lockTarget);
            auto& slot = s.cache[id];
            slot = std::move(c);
            cached = &slot;
        }
        s.lockTarget.reset();
        return at->second;
    };

    std::map<std::string, int, std::less<>> deferred;        // per target, for spreading deferrals
    std::map<std::string, int, std::less<>> heldBack;        // the same, for rows held back
    std::map<std::string, int64_t, std::less<>> inFlightAll; // capped targets: every worker's transfers
    SlotShare slots(context);
    bool windowFull = false;
    struct Candidate {
        int64_t id, eventId;
        std::string targetId;
        int attemptCount, retryBase, throttleDeferrals;
    };
    std::vector<Candidate> candidates;
    int64_t below = std::numeric_limits<int64_t>::max();
    // Rows examined per claim are bounded, so a claim stays short whatever
    // waits: rows it takes or steps over count against examineBudget, rows
    // it moves out of the walk's way (held back, or deferred for a token)
    // against moveBudget, which does not shrink with the free slots, so a
    // backlog ahead of other targets' rows is moved in a few claims.
    int examineBudget = 4 * limit + 64;
    int moveBudget = kMovePerClaim;
    int lastMoved = 0;
    // One index seek per priority level: rows that are not yet due end
    // each range scan instead of being stepped over.
    while (static_cast<int>(out.claimed.size()) < limit) {
        s.nextPriority.reset();
        s.nextPriority.bind(1, below);
        if (!s.nextPriority.executeStep())
            break;
        const int priority = s.nextPriority.getColumn(0).getInt();
        s.nextPriority.reset();
        below = priority;

        // Pages of candidates a little larger than what is still wanted:
        // collected first, then changed (updating rows while a SELECT walks
        // the same index is not something to rely on). Claimed and deferred
        // rows leave the due range, so the next page starts after them. Rows
        // examined per claim are bounded, so a rate-limited backlog is
        // deferred a slice at a time.
        for (;;) {
            // A page of rows mostly moved out of the way says more of the
            // same follow: the next page is twice as large.
            const int page = std::min(std::max(limit - static_cast<int>(out.claimed.size()) + 8, 2 * lastMoved),
                                      examineBudget + moveBudget);
            candidates.clear();
            s.dueAtPriority.reset();
            s.dueAtPriority.bind(1, priority);
            s.dueAtPriority.bind(2, now);
            s.dueAtPriority.bind(3, page);
            while (s.dueAtPriority.executeStep())
                if (isClaimable(parseDeliveryStatus(s.dueAtPriority.getColumn(6).getText())
                                    .value_or(DeliveryStatus::InProgress))) // see QueueDueAtPriority
                    candidates.push_back(
                        {s.dueAtPriority.getColumn(0).getInt64(), s.dueAtPriority.getColumn(2).getInt64(),
                         s.dueAtPriority.getColumn(1).getString(), s.dueAtPriority.getColumn(3).getInt(),
                         s.dueAtPriority.getColumn(4).getInt(), s.dueAtPriority.getColumn(5).getInt()});
            s.dueAtPriority.reset();
            lastMoved = 0; // rows of this page moved out of the walk's way
            int moved = 0; // rows claimed or deferred from this page
            for (const auto& c : candidates)
                slots.due(c.targetId);
            // A full page: more due rows wait behind it, maybe another
            // target's. Sticky: rows held back leave the range, so a later
            // page coming up short says nothing.
            windowFull = windowFull || static_cast<int>(candidates.size()) == page;

            for (const auto& c : candidates) {
                if (static_cast<int>(out.claimed.size()) >= limit)
                    break;
                auto it = s.cache.find(c.targetId);
                if (it == s.cache.end() || !it->second.target->enabled)
                    continue; // waits for its target to be enabled
                Statements::CachedTarget* entry = &it->second;
                if (s.lockTargets && (entry->limited || entry->target->maxInFlight || entry->pausedUntil) &&
                    !lockTarget(c.targetId, entry)) {
                    ++out.heldBack; // another worker's claim holds the target: stays due for the next claim
                    continue;
                }
                auto& cached = *entry;
                if (!cached.target->enabled)
                    continue;
                if (cached.pausedUntil && *cached.pausedUntil > now)
                    continue; // the breaker is open: waits without spending attempts
                ++moved;
                const Target& t = *cached.target;
                int64_t* capCount = nullptr;
                if (t.maxInFlight) {
                    auto [at, fresh] = inFlightAll.try_emplace(c.targetId, 0);
                    if (fresh) {
                        s.inFlightOfTarget.reset();
                        s.inFlightOfTarget.bind(1, c.targetId);
                        s.inFlightOfTarget.executeStep();
                        at->second = s.inFlightOfTarget.getColumn(0).getInt64();
                        s.inFlightOfTarget.reset();
                    }
                    capCount = &at->second;
                }
                auto verdict = slots.verdict(c.targetId, windowFull);
                if (capCount && *capCount >= *t.maxInFlight)
                    verdict = SlotShare::Verdict::Defer;
                if (verdict == SlotShare::Verdict::Skip) {
                    --moved; // stays due, in the walk's way: a page of only these ends it
                    ++out.heldBack;
                    continue;
                }
                if (verdict == SlotShare::Verdict::Defer) {
                    // Held back until about when a slot of its frees: rows
                    // come due at the rate its slots free (its slots per
                    // answer time), continuing after the rows earlier claims
                    // held back, so its backlog moves out of the walk's way
                    // instead of coming back to the head a second later.
                    // The spread reaches at most one claim's worth of moves,
                    // and kHoldBackHorizonMs, ahead, then starts again from
                    // the front. It is an estimate of this moment (the target's
                    // share, its answer time: SlotShare::answerMs) that the
                    // rows keep: a row moved again when it comes due
                    // must not push the backlog ever further out, and a
                    // target whose share grows, or that turns out fast, must
                    // not find its backlog spread minutes ahead.
                    const int per = std::max(1, capCount ? *t.maxInFlight : std::max(slots.held(c.targetId), 1));
                    const double answer = static_cast<double>(slots.answerMs(c.targetId));
                    const double step = answer / per, first = static_cast<double>(now) + answer;
                    double& until = heldBackUntil_[c.targetId];
                    until = std::max(first, until + step);
                    if (until > first + std::min(step * kMovePerClaim, static_cast<double>(kHoldBackHorizonMs)))
                        until = first;
                    s.holdBack.reset();
                    s.holdBack.bind(1, static_cast<int64_t>(std::ceil(until)));
                    s.holdBack.bind(2, now);
                    s.holdBack.bind(3, c.id);
                    s.holdBack.exec();
                    ++out.heldBack;
                    ++lastMoved;
                    continue;
                }
                if (cached.limited && !cached.bucket.tryTake(now)) {
                    const int k = ++deferred[c.targetId];
                    s.defer.reset();
                    // While throttled the rate climbs back each second, so
                    // rows are not spread further out than kDeferHorizonMs.
                    int64_t wait = cached.bucket.msUntilToken(k);
                    if (t.rateCurrent)
                        wait = std::min(wait, kDeferHorizonMs);
                    s.defer.bind(1, saturatingAdd(now, wait));
                    s.defer.bind(2, now);
                    s.defer.bind(3, c.id);
                    s.defer.exec();
                    ++out.rateLimited;
                    ++lastMoved;
                    continue;
                }
                if (cached.pausedUntil) {
                    // The cool-down is over: this delivery is the probe. The
                    // next waits for its outcome (or another cool-down).
                    cached.pausedUntil = saturatingAdd(now, breaker_.cooldownMs);
                    s.probe.reset();
                    s.probe.bind(1, c.targetId);
                    s.probe.bind(2, *cached.pausedUntil);
                    s.probe.exec();
                }
                slots.took(c.targetId);
                if (capCount)
                    ++*capCount;
                const int64_t lease =
                    std::max(leaseMs, saturatingAdd(t.timeoutMs.value_or(defaultTimeoutMs), context.leaseMarginMs));
                s.takeLease.reset();
                s.takeLease.bind(1, workerId_);
                s.takeLease.bind(2, saturatingAdd(now, lease));
                s.takeLease.bind(3, now);
                s.takeLease.bind(4, c.id);
                s.takeLease.exec();

                ClaimedDelivery d;
                d.id = c.id;
                d.attemptNumber = c.attemptCount + 1;
                d.attemptsUsed = c.attemptCount - c.retryBase;
                d.throttleDeferrals = c.throttleDeferrals;
                d.target = cached.target;
                s.event.reset();
                s.event.bind(1, c.eventId);
                if (!s.event.executeStep()) {
                    // Its event was deleted by hand (the sqlite3 shell does not
                    // enforce foreign keys): nothing can ever be sent for it.
                    s.event.reset();
                    const std::string reason = "its event " + std::to_string(c.eventId) + " is missing";
                    s.orphan.reset();
                    s.orphan.bind(1, c.id);
                    s.orphan.bind(2, now);
                    s.orphan.bind(3, reason);
                    s.orphan.exec();
                    s.deadLetter.reset();
                    s.deadLetter.bind(1, c.id);
                    s.deadLetter.bind(2, reason);
                    s.deadLetter.bind(3, now);
                    s.deadLetter.exec();
                    out.orphaned.push_back(c.id);
                    continue;
                }
                d.eventUid = s.event.getColumn(0).getString();
                d.type = s.event.getColumn(1).getString();
                d.payload = s.event.getColumn(2).getString();
                d.eventCreatedAt = s.event.getColumn(3).getInt64();
                s.event.reset();
                out.claimed.push_back(std::move(d));
            }
            examineBudget -= static_cast<int>(candidates.size()) - lastMoved;
            moveBudget -= lastMoved;
            if (static_cast<int>(candidates.size()) < page || static_cast<int>(out.claimed.size()) >= limit ||
                moved == 0 || examineBudget <= 0 || moveBudget <= 0)
                break;
        }
        if (moveBudget <= 0)
            out.moreToMove = true;
        if (examineBudget <= 0 || moveBudget <= 0 || below == std::numeric_limits<int>::min())
            break;
    }

    for (auto& [id, c] : s.cache) {
        if (!c.limited || c.bucket.updatedAtMs != now)
            continue;
        s.saveBucket.reset();
        s.saveBucket.bind(1, c.bucket.tokens);
        s.saveBucket.bind(2, c.bucket.updatedAtMs);
        s.saveBucket.bind(3, id);
        s.saveBucket.exec();
    }
    return out;
}

Status Queue::complete(const std::vector<Completion>& completions, int64_t now)
{
    if (completions.empty())
        return {};
    return transaction("record delivery attempts", [&]() -> Status {
        recordLocked(completions, now);
        return {};
    });
}

void Queue::recordLocked(const std::vector<Completion>& completions, int64_t now)
{
    auto& s = *st_;
    // The batch's attempts by minute and target, for stats_minutely: one
    // upsert for each pair (a batch seldom spans more than one minute).
    std::map<std::pair<int64_t, std::string_view>, MinuteCounts> minutes;
    for (const auto& c : completions) {
        const Outcome& o = c.outcome;
        s.finish.reset();
        const bool retrying = c.status == DeliveryStatus::Failed;
        s.finish.bind(1, std::string(toString(c.status)));
        s.finish.bind(2, retrying ? c.nextAttemptAt : now);
        if (o.statusCode)
            s.finish.bind(3, o.statusCode);
        else
            s.finish.bind(3);
        if (c.lastError.empty())
            s.finish.bind(4);
        else
            s.finish.bind(4, c.lastError);
        s.finish.bind(5, now);
        if (retrying)
            s.finish.bind(6);
        else
            s.finish.bind(6, now);
        s.finish.bind(7, c.deliveryId);
        s.finish.bind(8, workerId_);
        s.finish.bind(9, c.freeThrottle ? 1 : 0);
        if (s.finish.exec() == 0)
            continue; // the lease was lost; the delivery is someone else's now

        s.attempt.reset();
        s.attempt.bind(1, c.deliveryId);
        s.attempt.bind(2, c.attemptNumber);
        s.attempt.bind(3, o.startedAtMs);
        s.attempt.bind(4, o.durationMs);
        if (o.statusCode)
            s.attempt.bind(5, o.statusCode);
        else
            s.attempt.bind(5);
        const auto errorType = transportErrorName(o.error);
        if (errorType.empty())
            s.attempt.bind(6);
        else
            s.attempt.bind(6, std::string(errorType));
        if (o.errorMessage.empty())
            s.attempt.bind(7);
        else
            s.attempt.bind(7, o.errorMessage);
        // The excerpt is already a rendering (ill-formed bytes became U+FFFD,
        // the end was cut), not the receiver's exact bytes; U+0000 becomes
        // U+FFFD as well, so both stores keep the same text (PostgreSQL's
        // text cannot hold U+0000).
        if (o.responseExcerpt.empty())
            s.attempt.bind(8);
        else
            s.attempt.bind(8, utf8::storable(o.responseExcerpt));
        if (o.retryAfterMs)
            s.attempt.bind(9, *o.retryAfterMs);
        else
            s.attempt.bind(9);
        s.attempt.exec();
        minutes[{o.startedAtMs - o.startedAtMs % kMinuteMs, c.targetId}].add(c.status, o.statusCode, o.durationMs);

        if (c.status == DeliveryStatus::DeadLetter) {
            s.deadLetter.reset();
            s.deadLetter.bind(1, c.deliveryId);
            s.deadLetter.bind(2, c.deadLetterReason);
            s.deadLetter.bind(3, now);
            s.deadLetter.exec();
        }
    }
    for (const auto& [key, counts] : minutes) {
        s.rollup.reset();
        s.rollup.bind(1, key.first);
        s.rollup.bind(2, std::string(key.second));
        detail::bindCounters(s.rollup, 3, counts);
        s.rollup.exec();
    }
    updateTargetsLocked(completions, now);
}

void Queue::updateTargetsLocked(const std::vector<Completion>& completions, int64_t now)
{
    auto& s = *st_;
    std::map<std::string_view, AttemptRun> runs; // per target, in the order the attempts finished
    for (const auto& c : completions) {
        if (c.targetId.empty())
            continue;
        runs[c.targetId].add(endpointSignal(c.outcome), c.outcome.statusCode, c.deliveryId);
        // This worker's send rate to the target, decaying over ~5 s.
        auto& r = sendRates_[c.targetId];
        constexpr double kTauMs = 5000;
        r.perSecond =
            r.perSecond * std::exp(-static_cast<double>(std::max<int64_t>(0, now - r.atMs)) / kTauMs) + 1000.0 / kTauMs;
        r.atMs = now;
    }
    for (const auto& [targetId, run] : runs) {
        s.targetState.reset();
        s.targetState.bind(1, std::string(targetId));
        if (!s.targetState.executeStep()) {
            s.targetState.reset();
            continue; // removed meanwhile
        }
        BreakerState before;
        before.consecutiveFailures = s.targetState.getColumn(0).getInt();
        before.pausedUntil = s.targetState.getColumn(1).isNull() ? 0 : s.targetState.getColumn(1).getInt64();
        before.enabled = s.targetState.getColumn(2).getInt() != 0;
        const AimdState rateBefore{detail::optionalColumn<double>(s.targetState, 3),
                                   detail::optionalColumn<int64_t>(s.targetState, 4),
                                   detail::optionalColumn<int64_t>(s.targetState, 5)};
        AimdInput in;
        in.ceiling = detail::optionalColumn<double>(s.targetState, 6);
        in.minRate = detail::optionalColumn<double>(s.targetState, 7);
        in.step = detail::optionalColumn<double>(s.targetState, 8);
        s.targetState.reset();
        in.signalStatus = run.throttleStatus;
        in.succeeded = run.succeeded;
        in.observedRate = sendRates_[std::string(targetId)].perSecond;

        // Adaptive throttling: the receiver's overload signals set the rate.
        const AimdChange rate = nextRate(rateBefore, in, now, aimd_);
        if (rate.changed) {
            s.saveRate.reset();
            s.saveRate.bind(1, std::string(targetId));
            detail::bindOptional(s.saveRate, 2, rate.after.current);
            detail::bindOptional(s.saveRate, 3, rate.after.adjustedAt);
            detail::bindOptional(s.saveRate, 4, rate.after.signalAt);
            if (rate.cut)
                s.saveRate.bind(5, "HTTP " + std::to_string(run.throttleStatus));
            else
                s.saveRate.bind(5);
            s.saveRate.exec();
            s.cacheVersion = -1; // the claim's buckets take their rate from the cache
            if (rate.cut)
                pendingEvents_.push_back({TargetEvent::Kind::Throttled, std::string(targetId),
                                          fmt::format("HTTP {} cut the rate to {:g}/s", run.throttleStatus,
                                                      rate.after.current.value_or(0))});
        }

        if (breaker_.failures <= 0 && !run.goneDelivery)
            continue;
        const BreakerTransition t = nextBreakerState(before, run, breaker_, now);
        if (!t.changed)
            continue;
        s.saveBreaker.reset();
        s.saveBreaker.bind(1, std::string(targetId));
        s.saveBreaker.bind(2, t.after.consecutiveFailures);
        if (t.after.pausedUntil != 0)
            s.saveBreaker.bind(3, t.after.pausedUntil);
        else
            s.saveBreaker.bind(3);
        s.saveBreaker.bind(4, now);
        if (t.opened)
            s.saveBreaker.bind(5, t.pausedReason);
        else
            s.saveBreaker.bind(5);
        s.saveBreaker.bind(6, t.after.enabled ? 1 : 0);
        if (t.disabledReason.empty())
            s.saveBreaker.bind(7);
        else
            s.saveBreaker.bind(7, t.disabledReason);
        s.saveBreaker.exec();

        if (t.opened)
            pendingEvents_.push_back({TargetEvent::Kind::Paused, std::string(targetId), t.pausedReason});
        if (t.resumed)
            pendingEvents_.push_back({TargetEvent::Kind::Resumed, std::string(targetId), "a delivery succeeded"});
        if (!t.disabledReason.empty())
            pendingEvents_.push_back({TargetEvent::Kind::Disabled, std::string(targetId), t.disabledReason});
        if (t.after.pausedUntil != before.pausedUntil || t.after.enabled != before.enabled)
            s.cacheVersion = -1; // the claim reads breaker state from the cache
    }
}

Status Queue::release(const std::vector<int64_t>& ids, int64_t now)
{
    if (ids.empty())
        return {};
    return transaction("release deliveries", [&]() -> Status {
        auto& s = *st_;
        for (int64_t id : ids) {
            s.release.reset();
            s.release.bind(1, now);
            s.release.bind(2, id);
            s.release.bind(3, workerId_);
            s.release.exec();
        }
        return {};
    });
}

Result<std::optional<int64_t>> Queue::nextDueAt(int64_t now)
{
    return detail::guarded("find the next due delivery", [&]() -> Result<std::optional<int64_t>> {
        auto& s = *st_;
        std::optional<int64_t> best;
        s.firstLease.reset();
        if (s.firstLease.executeStep() && !s.firstLease.getColumn(0).isNull())
            best = s.firstLease.getColumn(0).getInt64();
        s.firstLease.reset();
        s.firstProbe.reset();
        s.firstProbe.bind(1, now);
        if (s.firstProbe.executeStep() && !s.firstProbe.getColumn(0).isNull()) {
            const int64_t at = s.firstProbe.getColumn(0).getInt64();
            best = best ? std::min(*best, at) : at;
        }
        s.firstProbe.reset();
        int64_t below = std::numeric_limits<int64_t>::max();
        for (;;) {
            s.nextPriority.reset();
            s.nextPriority.bind(1, below);
            if (!s.nextPriority.executeStep())
                break;
            below = s.nextPriority.getColumn(0).getInt64();
            s.nextPriority.reset();
            s.firstAtPriority.reset();
            s.firstAtPriority.bind(1, below);
            s.firstAtPriority.bind(2, now);
            if (s.firstAtPriority.executeStep()) {
                const int64_t at = s.firstAtPriority.getColumn(0).getInt64();
                best = best ? std::min(*best, at) : at;
            }
            s.firstAtPriority.reset();
        }
        return best;
    });
}

Result<int64_t> Queue::outstanding()
{
    return detail::guarded("count outstanding deliveries", [&]() -> Result<int64_t> {
        auto& s = *st_;
        s.outstanding.reset();
        s.outstanding.executeStep();
        const int64_t n = s.outstanding.getColumn(0).getInt64();
        s.outstanding.reset();
        return n;
    });
}

// Rows last written before a jump are told apart by updated_at. After a jump
// forward they are older than the clock's reading minus the jump; after one
// backward those written in the jump's span before it lie in the future, and
// older ones cannot be told from new ones: they keep their times (a retry
// scheduled further ahead than the jump runs late by it). Rows another worker
// shifted got its nowMs, within kShiftRaceMs of ours.
Result<int64_t> Queue::shiftSchedule(int64_t deltaMs, int64_t nowMs)
{
    constexpr int64_t kShiftRaceMs = 10'000;
    if (deltaMs == 0)
        return int64_t{0};
    return detail::guarded("move the schedule after a clock change", [&]() -> Result<int64_t> {
        auto& sql = detail::sql(db_);
        sql::Transaction tx(sql, true);
        sql::Statement shift(sql, deltaMs > 0 ? sql::Q::QueueShiftForward : sql::Q::QueueShiftBack);
        shift.bind(1, deltaMs);
        shift.bind(2, nowMs);
        shift.bind(3, deltaMs > 0 ? nowMs - deltaMs : nowMs + kShiftRaceMs);
        const int64_t moved = shift.exec();
        tx.commit();
        return moved;
    });
}

} // namespace webhookd

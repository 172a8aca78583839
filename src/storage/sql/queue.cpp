#include "storage/queue.h"

#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "core/duration.h"
#include "schedule/claim_plan.h"
#include "schedule/completion_plan.h"
#include "storage/sql/bind.h"
#include "storage/sql/connection.h"
#include "storage/sql/json_rows.h"
#include "storage/sql/ordering.h"
#include "storage/sql/rollup_sql.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"
#include "storage/sql/status_sql.h"

namespace webhookd {

using detail::bindAll;
using detail::deferWith;
using detail::execWith;
using detail::firstInt64;
using detail::JsonRows;

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
          leaseMany(db, sql::Q::QueueLeaseMany),
          deferMany(db, sql::Q::QueueDeferMany),
          holdBackMany(db, sql::Q::QueueHoldBackMany),
          inFlightOfTarget(db, sql::Q::QueueInFlightOfTarget),
          leasedEvents(db, sql::Q::QueueLeasedEvents),
          targets(db, sql::Q::QueueTargets),
          lockTarget(db, sql::Q::QueueLockTarget),
          saveBucket(db, sql::Q::QueueSaveBucket),
          finishMany(db, sql::Q::QueueFinishMany),
          attemptMany(db, sql::Q::QueueAttemptMany),
          deadLetterMany(db, sql::Q::QueueDeadLetterMany),
          targetState(db, sql::Q::QueueTargetState),
          saveRate(db, sql::Q::QueueSaveRate),
          saveBreaker(db, sql::Q::QueueSaveBreaker),
          probe(db, sql::Q::QueueProbe),
          rollup(db, sql::Q::RollupUpsert),
          disableUnreadable(db, sql::Q::QueueDisableUnreadable),
          orphan(db, sql::Q::QueueOrphan),
          releaseMany(db, sql::Q::QueueReleaseMany),
          outstanding(db, sql::Q::QueueOutstanding),
          ordering(db)
    { }

    // Other connections write while a claim's transaction is open
    // (PostgreSQL): the claim locks the targets whose shared state it reads.
    bool lockTargets = false;
    // A claim's page and a completion write each kind of row for the whole
    // batch in one statement (storage/sql/json_rows.h).
    sql::Statement reclaim, nextPriority, dueAtPriority, firstAtPriority, firstLease, firstProbe, leaseMany, deferMany,
        holdBackMany, inFlightOfTarget, leasedEvents, targets, lockTarget, saveBucket, finishMany, attemptMany,
        deadLetterMany, targetState, saveRate, saveBreaker, probe, rollup, disableUnreadable, orphan, releaseMany,
        outstanding;
    detail::FinishStatements ordering; // what a finished delivery of an ordered target does to its group

    // Targets as last read, each with its bucket and its breaker. Reloaded
    // when another connection has committed since (data_version moved); this
    // connection's own writes and probes keep it current.
    std::map<std::string, ClaimTarget, std::less<>> cache;
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

namespace {

// A target row (kTargetColumns, then its bucket) as the claim keeps it. A
// row that cannot be read and is still enabled is disabled in memory, with
// the reason; `unreadable`, when given, collects it to be written back.
ClaimTarget readClaimTarget(sql::Statement& row, int64_t now, std::vector<std::shared_ptr<Target>>* unreadable)
{
    auto t = std::make_shared<Target>(detail::readTarget(row));
    if (t->rowError && t->enabled) {
        t->enabled = false;
        t->disabledReason = "its row cannot be read: " + *t->rowError;
        if (unreadable)
            unreadable->push_back(t);
    }
    return claimTargetOf(std::move(t), detail::optionalColumn<double>(row, detail::kTargetColumnCount),
                         detail::optionalColumn<int64_t>(row, detail::kTargetColumnCount + 1), now);
}

} // namespace

void Queue::loadTargets(int64_t now)
{
    auto& s = *st_;
    const int64_t version = detail::dataVersion(db_);
    if (version == s.cacheVersion)
        return;
    std::vector<std::shared_ptr<Target>> unreadable;
    s.cache.clear();
    s.targets.reset();
    while (s.targets.executeStep()) {
        auto c = readClaimTarget(s.targets, now, &unreadable);
        std::string id = c.target->id;
        s.cache.emplace(std::move(id), std::move(c));
    }
    s.targets.reset();
    // A row edited into a shape nothing can deliver from disables its own
    // target, with the reason, so the claim steps over its backlog in SQL
    // and every other target goes on (the change is this connection's own,
    // so the cache stays current).
    for (const auto& t : unreadable) {
        execWith(s.disableUnreadable, t->id, *t->disabledReason, now);
        pendingEvents_.push_back({TargetEvent::Kind::Unreadable, t->id, *t->disabledReason});
    }
    s.cacheVersion = version;
}

ClaimTargets::Found Queue::findTarget(const std::string& id, int64_t now)
{
    auto& s = *st_;
    auto it = s.cache.find(id);
    if (it == s.cache.end() || !it->second.target->enabled)
        return {}; // waits for its target to be enabled
    ClaimTarget& cached = it->second;
    // PostgreSQL: workers claim side by side, so a target whose shared state
    // the claim spends (its token bucket, its in-flight cap, its breaker's
    // probe) is locked for the claim and read afresh. One that another
    // worker's claim holds is stepped over for this claim (SKIP LOCKED),
    // never waited for: claims cannot deadlock on targets.
    if (s.lockTargets && (cached.limited || cached.target->maxInFlight || cached.pausedUntil)) {
        const bool locked = bindAll(s.lockTarget, id).executeStep();
        if (locked)
            cached = readClaimTarget(s.lockTarget, now, nullptr);
        s.lockTarget.reset();
        if (!locked)
            return {ClaimTargets::State::Busy, {}};
    }
    return {ClaimTargets::State::Ready, cached};
}

// Rows are read a page at a time, then changed (updating rows while a SELECT
// walks the same index is not something to rely on).
void Queue::readDue(int priority, int64_t now, int page, std::vector<DueRow>& rows)
{
    rows.clear();
    auto& q = bindAll(st_->dueAtPriority, priority, now, page);
    while (q.executeStep())
        if (isClaimable(parseDeliveryStatus(q.getColumn(6).getText())
                            .value_or(DeliveryStatus::InProgress))) // see QueueDueAtPriority
            rows.push_back({q.getColumn(0).getInt64(), q.getColumn(2).getInt64(), q.getColumn(1).getString(),
                            q.getColumn(3).getInt(), q.getColumn(4).getInt(), q.getColumn(5).getInt()});
    q.reset();
}

namespace {

// Moves each row's next_attempt_at, in one statement.
void moveRows(sql::Statement& q, const std::vector<MovedRow>& rows, int64_t now)
{
    if (rows.empty())
        return;
    JsonRows moved;
    for (const auto& m : rows)
        moved.add(m.deliveryId, m.dueAt);
    deferWith(q, now, moved.text());
}

struct LeasedEvent {
    std::string uid, type, payload;
    int64_t createdAt = 0;
};

} // namespace

int Queue::writePage(const PagePlan& page, int64_t now, ClaimResult& out)
{
    auto& s = *st_;
    moveRows(s.holdBackMany, page.heldBack, now);
    moveRows(s.deferMany, page.deferred, now);
    for (const auto& p : page.probes)
        deferWith(s.probe, p.targetId, p.pausedUntil);
    out.heldBack += page.steppedOver + static_cast<int64_t>(page.heldBack.size());
    out.rateLimited += static_cast<int64_t>(page.deferred.size());
    if (page.leases.empty())
        return 0;

    JsonRows leases;
    for (const auto& l : page.leases)
        leases.add(l.deliveryId, l.expiresAt);
    const std::string rows = leases.text();
    deferWith(s.leaseMany, workerId_, now, rows); // goes with the events' query
    std::unordered_map<int64_t, LeasedEvent> events;
    events.reserve(page.leases.size());
    auto& e = bindAll(s.leasedEvents, rows); // reads each row's first value, the id
    while (e.executeStep())
        events.emplace(e.getColumn(0).getInt64(), LeasedEvent{e.getColumn(1).getString(), e.getColumn(2).getString(),
                                                               e.getColumn(3).getString(), e.getColumn(4).getInt64()});
    e.reset();

    int lost = 0;
    JsonRows orphans;
    for (const auto& l : page.leases) {
        auto it = events.find(l.deliveryId);
        if (it == events.end()) {
            // Its event was deleted by hand (the sqlite3 shell does not
            // enforce foreign keys): nothing can ever be sent for it.
            const std::string reason = "its event " + std::to_string(l.eventId) + " is missing";
            deferWith(s.orphan, l.deliveryId, now, reason);
            orphans.add(l.deliveryId, reason, now);
            out.orphaned.push_back(l.deliveryId);
            ++lost;
            continue;
        }
        LeasedEvent& ev = it->second;
        sendRates_.sent(l.target->id, now);
        out.claimed.push_back({l.deliveryId, l.attemptNumber, l.attemptsUsed, l.throttleDeferrals, std::move(ev.uid),
                               std::move(ev.type), std::move(ev.payload), ev.createdAt, l.target});
    }
    if (!orphans.empty())
        deferWith(s.deadLetterMany, orphans.text());
    return lost;
}

Result<ClaimResult> Queue::claimLocked(int64_t now, int64_t leaseMs, int64_t defaultTimeoutMs, int limit,
                                       const ClaimContext& context)
{
    auto& s = *st_;
    ClaimResult out;

    out.reclaimed = execWith(s.reclaim, now);
    loadTargets(now);

    ClaimPlanner plan(context, {now, leaseMs, defaultTimeoutMs, limit}, breaker_, holdBack_);
    const ClaimTargets targets{[&](const std::string& id) { return findTarget(id, now); },
                               [&](const std::string& id) { return firstInt64(s.inFlightOfTarget, id).value_or(0); }};
    std::vector<DueRow> rows;
    int64_t below = std::numeric_limits<int64_t>::max();
    // One index seek per priority level: rows that are not yet due end each
    // range scan instead of being stepped over. Claimed and moved rows leave
    // the due range, so each page starts after them.
    while (plan.wantsMore()) {
        const auto level = firstInt64(s.nextPriority, below);
        if (!level)
            break;
        const int priority = static_cast<int>(*level);
        below = priority;
        do {
            readDue(priority, now, plan.openPage(), rows);
            plan.pageRead(rows);
            for (size_t from = 0; from < rows.size() && plan.wantsMore();) {
                const PagePlan page = plan.plan(rows, from, targets);
                from = page.end;
                plan.lost(writePage(page, now, out));
            }
        } while (plan.closePage());
        if (!plan.nextLevel(priority))
            break;
    }
    out.moreToMove = plan.moreToMove();

    for (const ClaimTarget* t : plan.spent()) {
        auto it = s.cache.find(t->target->id);
        if (it == s.cache.end())
            continue;
        it->second.bucket = t->bucket;
        it->second.pausedUntil = t->pausedUntil;
    }
    for (auto& [id, c] : s.cache) {
        if (!c.limited || c.bucket.updatedAtMs != now)
            continue;
        deferWith(s.saveBucket, c.bucket.tokens, c.bucket.updatedAtMs, id);
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
    if (completions.empty())
        return;
    auto& s = *st_;
    const CompletionPlan plan = planCompletions(completions, now);
    JsonRows finishes;
    for (const FinishRow& f : plan.finishes)
        finishes.add(f.deliveryId, toString(f.status), f.nextAttemptAt, f.statusCode, f.lastError, f.completedAt,
                     f.freeThrottle);
    // A row not written: its lease was lost, the delivery is someone else's now.
    std::unordered_set<int64_t> written;
    auto& q = bindAll(s.finishMany, workerId_, now, finishes.text());
    while (q.executeStep())
        written.insert(q.getColumn(0).getInt64());
    q.reset();

    std::vector<bool> finished(completions.size(), false);
    JsonRows attempts, deadLetters;
    for (size_t i = 0; i < plan.finishes.size(); ++i) {
        finished[i] = written.count(plan.finishes[i].deliveryId) != 0;
        if (!finished[i])
            continue;
        const AttemptRow& a = plan.attempts[i];
        attempts.add(a.deliveryId, a.number, a.startedAt, a.durationMs, a.statusCode, a.errorType, a.errorMessage,
                     a.responseExcerpt, a.retryAfterMs, a.requestHead, a.responseHead);
    }
    for (const DeadLetterRow& d : plan.deadLetters)
        if (written.count(d.deliveryId))
            deadLetters.add(d.deliveryId, d.reason, d.movedAt);
    // What nothing reads back goes with the next statement that returns
    // something, or the commit (StatementImpl::execDeferred).
    if (!attempts.empty())
        deferWith(s.attemptMany, attempts.text());
    if (!deadLetters.empty())
        deferWith(s.deadLetterMany, deadLetters.text());
    // Ordered targets: a finished delivery lets the next of its group go
    // (or, dead-lettered where the target says block, holds the group).
    std::vector<int64_t> ordered;
    for (size_t i = 0; i < completions.size(); ++i) {
        const Completion& c = completions[i];
        if (!finished[i] || !isFinished(c.status))
            continue;
        auto it = s.cache.find(c.targetId);
        if (it != s.cache.end() && it->second.target->ordering != Ordering::None)
            ordered.push_back(c.deliveryId);
    }
    detail::afterFinished(s.ordering, ordered, now);
    for (const RollupRow& r : rollupOf(completions, finished)) {
        detail::bindCounters(bindAll(s.rollup, r.minute, r.targetId), 3, r.counts);
        s.rollup.execDeferred();
    }
    updateTargetsLocked(completions, now);
}

void Queue::updateTargetsLocked(const std::vector<Completion>& completions, int64_t now)
{
    auto& s = *st_;
    for (const auto& [targetId, run] : attemptRuns(completions)) {
        s.targetState.reset();
        s.targetState.bind(1, targetId);
        if (!s.targetState.executeStep()) {
            s.targetState.reset();
            continue; // removed meanwhile
        }
        TargetHealth before;
        before.breaker.consecutiveFailures = s.targetState.getColumn(0).getInt();
        before.breaker.pausedUntil = detail::optionalColumn<int64_t>(s.targetState, 1).value_or(0);
        before.breaker.enabled = s.targetState.getColumn(2).getInt() != 0;
        before.rate = {detail::optionalColumn<double>(s.targetState, 3),
                       detail::optionalColumn<int64_t>(s.targetState, 4),
                       detail::optionalColumn<int64_t>(s.targetState, 5)};
        before.ceiling = detail::optionalColumn<double>(s.targetState, 6);
        before.minRate = detail::optionalColumn<double>(s.targetState, 7);
        before.step = detail::optionalColumn<double>(s.targetState, 8);
        s.targetState.reset();

        const TargetUpdate u =
            planTargetUpdate(targetId, before, run, sendRates_.perSecond(targetId, now), now, breaker_, aimd_);
        if (u.rate) {
            const AimdState& r = u.rate->after;
            deferWith(s.saveRate, targetId, r.current, r.adjustedAt, r.signalAt, u.rate->signal);
        }
        if (u.breaker) {
            const BreakerSave& b = *u.breaker;
            deferWith(s.saveBreaker, targetId, b.consecutiveFailures, b.pausedUntil, now, b.pausedReason,
                      b.enabled ? 1 : 0, b.disabledReason);
        }
        if (u.claimViewChanged)
            s.cacheVersion = -1; // the claim takes buckets and breakers from the cache
        pendingEvents_.insert(pendingEvents_.end(), u.events.begin(), u.events.end());
    }
}

Status Queue::release(const std::vector<int64_t>& ids, int64_t now)
{
    if (ids.empty())
        return {};
    return transaction("release deliveries", [&]() -> Status {
        JsonRows rows;
        for (int64_t id : ids)
            rows.add(id);
        execWith(st_->releaseMany, now, workerId_, rows.text());
        return {};
    });
}

Result<std::optional<int64_t>> Queue::nextDueAt(int64_t now)
{
    return detail::guarded("find the next due delivery", [&]() -> Result<std::optional<int64_t>> {
        auto& s = *st_;
        std::optional<int64_t> best;
        auto consider = [&](std::optional<int64_t> at) {
            if (at)
                best = best ? std::min(*best, *at) : *at;
        };
        consider(firstInt64(s.firstLease));
        consider(firstInt64(s.firstProbe, now));
        int64_t below = std::numeric_limits<int64_t>::max();
        while (auto level = firstInt64(s.nextPriority, below)) {
            below = *level;
            consider(firstInt64(s.firstAtPriority, below, now));
        }
        return best;
    });
}

Result<int64_t> Queue::outstanding()
{
    return detail::guarded("count outstanding deliveries",
                           [&]() -> Result<int64_t> { return firstInt64(st_->outstanding).value_or(0); });
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

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "model/breaker.h"
#include "model/target.h"
#include "ratelimit/aimd.h"
#include "schedule/claim_plan.h"
#include "schedule/completion_plan.h"
#include "schedule/flow.h"

namespace webhookd {

class Database;

// A delivery this worker holds a lease on, with what sending it needs.
struct ClaimedDelivery {
    int64_t id = 0;
    int attemptNumber = 0; // the number the coming attempt will get
    int attemptsUsed = 0;  // attempts spent since the budget was last refreshed
    int throttleDeferrals = 0;
    std::string eventUid;
    std::string type;
    std::string payload;
    int64_t eventCreatedAt = 0;
    std::shared_ptr<const Target> target; // as of the claim; shared between claims
};

struct ClaimResult {
    std::vector<ClaimedDelivery> claimed;
    int64_t reclaimed = 0;         // expired leases returned to pending
    int64_t rateLimited = 0;       // deferred for want of a token
    int64_t heldBack = 0;          // deferred: their target had its share of slots or its in-flight cap
    std::vector<int64_t> orphaned; // due, but their event row is gone: dead-lettered
    bool moreToMove = false;       // stopped at its bound of rows moved: more due rows may wait behind
};

// The worker's side of the deliveries table: claim, complete, release. Keeps
// prepared statements, so it borrows the database for its whole life (the
// Database must outlive the Queue). One thread.
class Queue {
public:
    Queue(Database& db, std::string workerId);
    ~Queue();
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    const std::string& workerId() const { return workerId_; }

    void setBreaker(BreakerPolicy policy) { breaker_ = policy; }
    void setThrottling(AimdPolicy policy) { aimd_ = policy; }

    // A token that moves when another connection (another process, or
    // another thread's connection) has committed to the store since: compare
    // it with the last one seen to learn that new work may have arrived.
    // This Queue's own commits do not move it. Cheap enough for every turn
    // of the loop.
    uint64_t changeToken();

    // Targets paused, resumed, throttled or disabled (410 Gone) by the completions
    // committed since the last call, in order.
    std::vector<TargetEvent> takeTargetEvents() { return std::exchange(targetEvents_, {}); }

    // In one BEGIN IMMEDIATE transaction: returns expired leases to pending,
    // then takes up to `limit` due deliveries of enabled targets whose breaker
    // is closed (or one probe of a paused target whose cool-down ended), priority
    // first then next_attempt_at, spending each target's token bucket. Rows
    // without a token become rate_limited, due when their token will exist.
    // Each claimed row gets a lease of max(leaseMs, target timeout + margin).
    // With a context, a target that holds its fair share of the worker's
    // slots, or has its in-flight cap reached across every worker, is
    // stepped over: its rows examined are deferred by about one answer's
    // time, so the walk stays one index range per priority level.
    Result<ClaimResult> claim(int64_t nowMs, int64_t leaseMs, int64_t defaultTimeoutMs, int limit,
                              const ClaimContext& context = {});

    // Records every completion (attempt row, status change, dead letter, the
    // target's breaker state; a 410 Gone disables the target) in one
    // transaction. A completion whose lease this worker no longer holds is
    // dropped: another worker owns that delivery now.
    Status complete(const std::vector<Completion>& completions, int64_t nowMs);

    // Both in one transaction: one commit records what finished and claims
    // what comes next. A failure changes nothing.
    Result<ClaimResult> completeAndClaim(const std::vector<Completion>& completions, int64_t nowMs, int64_t leaseMs,
                                         int64_t defaultTimeoutMs, int limit, const ClaimContext& context = {});

    // Returns claimed deliveries to pending without recording an attempt.
    Status release(const std::vector<int64_t>& ids, int64_t nowMs);

    // The earliest time work may be due: a claimable delivery of an enabled
    // target that is not paused, a paused target's next probe, or a lease to
    // reclaim. nullopt when there is nothing at all.
    Result<std::optional<int64_t>> nextDueAt(int64_t nowMs);

    // Deliveries of enabled targets not yet delivered or dead-lettered.
    Result<int64_t> outstanding();

    // The wall clock jumped by deltaMs (new minus old; seen at nowMs, new
    // time). Moves next_attempt_at and lease_expires_at of every unfinished
    // delivery last written before the jump by deltaMs, in one transaction,
    // so each keeps the time it had left. Shifted rows get updated_at = nowMs,
    // which marks them as written after the jump: a second worker that saw
    // the same jump leaves them alone. Returns the number of rows moved.
    Result<int64_t> shiftSchedule(int64_t deltaMs, int64_t nowMs);

private:
    // The bodies of claim and complete, inside a transaction the caller holds:
    // they read rows, ask schedule/ what to do, and write its plans.
    Result<ClaimResult> claimLocked(int64_t nowMs, int64_t leaseMs, int64_t defaultTimeoutMs, int limit,
                                    const ClaimContext& context);
    void recordLocked(const std::vector<Completion>& completions, int64_t nowMs);
    void updateTargetsLocked(const std::vector<Completion>& completions, int64_t nowMs);
    // The claim's steps: the targets cache, one target for the planner,
    // one page of due rows, one page's plan written (returns its leases lost).
    void loadTargets(int64_t nowMs);
    ClaimTargets::Found findTarget(const std::string& targetId, int64_t nowMs);
    void readDue(int priority, int64_t nowMs, int page, std::vector<DueRow>& rows);
    int writePage(const PagePlan& page, int64_t nowMs, ClaimResult& out);
    // Run the body in one BEGIN IMMEDIATE transaction; target events it
    // produced count only once it commits.
    template <typename Body>
    auto transaction(const char* what, Body body);

    struct Statements;
    Database& db_; // must outlive the Queue
    std::string workerId_;
    std::unique_ptr<Statements> st_;
    BreakerPolicy breaker_;
    AimdPolicy aimd_;
    std::vector<TargetEvent> pendingEvents_; // of the open transaction
    std::vector<TargetEvent> targetEvents_;  // committed, not yet taken
    SendRates sendRates_;
    HoldBack holdBack_;
};

} // namespace webhookd

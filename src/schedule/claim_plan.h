#pragma once

// The claim's decisions (DESIGN.md "Worker loop", "Flow control per target")
// as plans: given a page of due rows from the claim's index walk and their
// targets' state, which rows get a lease and until when, which are held back
// for want of a slot (fair share, in-flight cap) or deferred for want of a
// token and until when, which paused target sends its breaker probe, and how
// far the walk goes (page sizes, the budgets of rows examined and moved).
// No SQL: storage reads the rows and the targets and writes each page's plan.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/breaker.h"
#include "model/target.h"
#include "ratelimit/token_bucket.h"
#include "schedule/flow.h"
#include "schedule/hold_back.h"

namespace webhookd {

// A due row as the index walk returns it (priority DESC, next_attempt_at).
struct DueRow {
    int64_t id = 0;
    int64_t eventId = 0;
    std::string targetId;
    int attemptCount = 0;
    int retryBase = 0; // attempt_count when the attempt budget was last refreshed
    int throttleDeferrals = 0;
};

// A target as the claim sees it: its record, its token bucket, its breaker.
struct ClaimTarget {
    std::shared_ptr<const Target> target;
    bool limited = false; // it has a rate: each lease spends a token
    TokenBucket bucket;
    std::optional<int64_t> pausedUntil; // the breaker's; at or before now: the next lease is its probe
};

// A target row as the claim keeps it: the bucket its rate gives, holding the
// tokens stored at tokensAt (both nullopt: never saved, so full at nowMs).
ClaimTarget claimTargetOf(std::shared_ptr<const Target> target, std::optional<double> tokens,
                          std::optional<int64_t> tokensAt, int64_t nowMs);

// Where the planner reads the targets of the rows it decides: asked once per
// target and claim, in walk order, only for the targets the walk reaches, so
// a backend that locks what it reads (PostgreSQL: a bucket, a cap and a probe
// are shared by every worker) locks no more than the claim spends.
struct ClaimTargets {
    enum class State {
        Gone,  // removed or disabled: its rows wait where they are
        Busy,  // another worker's claim holds it: its rows stay due for the next claim
        Ready, // `target` holds its state
    };
    struct Found {
        State state = State::Gone;
        ClaimTarget target;
    };
    std::function<Found(const std::string& targetId)> find;
    // Every worker's transfers to a target that has an in-flight cap.
    std::function<int64_t(const std::string& targetId)> inFlight;
};

struct ClaimRequest {
    int64_t nowMs = 0;
    int64_t leaseMs = 0;          // the shortest lease
    int64_t defaultTimeoutMs = 0; // for a target without a timeout of its own
    int limit = 0;                // rows to lease at most
};

struct LeaseRow { // in_progress, leased to this worker until expiresAt
    int64_t deliveryId = 0;
    int64_t eventId = 0;
    int64_t expiresAt = 0;
    int attemptNumber = 0; // the number the coming attempt will get
    int attemptsUsed = 0;  // since the budget was last refreshed
    int throttleDeferrals = 0;
    std::shared_ptr<const Target> target;
};

struct MovedRow { // out of the walk's way, due again at dueAt
    int64_t deliveryId = 0;
    int64_t dueAt = 0;
};

// A paused target whose cool-down ended: one of the page's leases is its
// probe, and the next probe waits until pausedUntil.
struct ProbeTarget {
    std::string targetId;
    int64_t pausedUntil = 0;
};

// One page's decisions, each list in walk order.
struct PagePlan {
    std::vector<LeaseRow> leases;
    std::vector<MovedRow> heldBack; // next_attempt_at moved: the target holds its share or its cap
    std::vector<MovedRow> deferred; // rate_limited until a token will exist
    std::vector<ProbeTarget> probes;
    int steppedOver = 0; // left due: a target busy elsewhere, or not yet known to be fast
    size_t end = 0;      // rows before this were decided
};

// The decisions of one claim, page by page and priority level by level:
//   while (wantsMore() && a level is left) {
//       do { read openPage() rows; pageRead(rows); plan(…) until all decided; } while (closePage());
//       if (!nextLevel(priority)) break; }
// It keeps the claim's running state (slots each target holds, tokens spent,
// in-flight counts, budgets). context and holdBack must outlive it.
class ClaimPlanner {
public:
    ClaimPlanner(const ClaimContext& context, const ClaimRequest& request, const BreakerPolicy& breaker,
                 HoldBack& holdBack);

    bool wantsMore() const { return claimed_ < request_.limit; }
    // A page begins: how many due rows to read for it.
    int openPage();
    void pageRead(const std::vector<DueRow>& rows);
    // Decides rows[from…] in order until the claim has its limit.
    PagePlan plan(const std::vector<DueRow>& rows, size_t from, const ClaimTargets& targets);
    // Leases the store could not give after all (their event is gone): they
    // leave the count, so the rest of the page is decided.
    void lost(int leases) { claimed_ -= leases; }
    // After a page was written: whether the walk reads another at this level.
    bool closePage();
    // After a priority level: whether the walk goes on to the next lower one.
    bool nextLevel(int priority) const;
    // The claim stopped at its bound of rows moved: more due rows may wait.
    bool moreToMove() const { return moveBudget_ <= 0; }
    // The targets read, with their buckets spent and probes taken.
    std::vector<const ClaimTarget*> spent() const;

private:
    struct Seen {
        ClaimTargets::Found found;
        std::optional<int64_t> inFlight; // every worker's, for a capped target, counting this claim's leases
    };

    const ClaimContext& context_;
    const ClaimRequest request_;
    const BreakerPolicy breaker_;
    HoldBack& holdBack_;
    SlotShare slots_;
    std::map<std::string, Seen, std::less<>> seen_;
    std::map<std::string, int, std::less<>> deferred_; // per target, for spreading deferrals
    int claimed_ = 0;
    int examineBudget_;   // rows taken or stepped over
    int moveBudget_;      // rows held back or deferred
    int page_ = 0;        // rows the open page asked for
    size_t pageRows_ = 0; // rows it got
    int moved_ = 0;       // rows of the page claimed or moved
    int lastMoved_ = 0;   // rows of the page moved out of the walk's way
    bool windowFull_ = false;
};

} // namespace webhookd

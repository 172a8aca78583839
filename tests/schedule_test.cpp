#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <set>

#include "schedule/claim_plan.h"
#include "schedule/completion_plan.h"

// The scheduler's decisions without a database: the rows and targets a
// claim's walk would read are plain values here, as are the completions.

using namespace webhookd;

namespace {

constexpr int64_t kNow = 1'700'000'000'000;

std::shared_ptr<const Target> target(const std::string& id, void (*tune)(Target&) = nullptr)
{
    Target t;
    t.id = id;
    t.timeoutMs = 10'000;
    if (tune)
        tune(t);
    return std::make_shared<const Target>(t);
}

// The targets as the store would answer the planner, counting what it asks.
struct Targets {
    std::map<std::string, ClaimTarget> ready;
    std::set<std::string> busy; // held by another worker's claim
    std::map<std::string, int64_t> inFlight;
    std::map<std::string, int> finds, counts;

    void add(std::shared_ptr<const Target> t, std::optional<double> tokens = std::nullopt)
    {
        const std::string id = t->id;
        ready[id] = claimTargetOf(std::move(t), tokens, tokens ? std::optional<int64_t>(kNow) : std::nullopt, kNow);
    }

    ClaimTargets view()
    {
        return {[this](const std::string& id) -> ClaimTargets::Found {
                    ++finds[id];
                    if (busy.count(id))
                        return {ClaimTargets::State::Busy, {}};
                    auto it = ready.find(id);
                    if (it == ready.end())
                        return {};
                    return {ClaimTargets::State::Ready, it->second};
                },
                [this](const std::string& id) {
                    ++counts[id];
                    return inFlight[id];
                }};
    }
};

std::vector<DueRow> rowsOf(std::initializer_list<std::string> targetIds, int64_t firstId = 1)
{
    std::vector<DueRow> rows;
    int64_t id = firstId;
    for (const auto& t : targetIds) {
        rows.push_back({id, 1000 + id, t, 0, 0, 0});
        ++id;
    }
    return rows;
}

// One page, decided whole (no lease lost).
PagePlan planPage(ClaimPlanner& planner, const std::vector<DueRow>& rows, Targets& targets)
{
    planner.openPage();
    planner.pageRead(rows);
    return planner.plan(rows, 0, targets.view());
}

std::vector<int64_t> idsOf(const std::vector<LeaseRow>& leases)
{
    std::vector<int64_t> ids;
    for (const auto& l : leases)
        ids.push_back(l.deliveryId);
    return ids;
}

std::vector<int64_t> idsOf(const std::vector<MovedRow>& moved)
{
    std::vector<int64_t> ids;
    for (const auto& m : moved)
        ids.push_back(m.deliveryId);
    return ids;
}

ClaimRequest request(int limit) { return {kNow, 30'000, 5'000, limit}; }

} // namespace

TEST_CASE("schedule: a claim leases rows in walk order up to its limit, each for its timeout plus the margin")
{
    Targets targets;
    targets.add(target("a"));
    targets.add(target("slow", [](Target& t) { t.timeoutMs = 60'000; }));
    ClaimContext context;
    context.leaseMarginMs = 15'000;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(3), {}, holdBack);
    auto rows = rowsOf({"a", "slow", "a", "a"});
    rows[0].attemptCount = 4;
    rows[0].retryBase = 3;
    rows[0].throttleDeferrals = 2;

    const PagePlan p = planPage(planner, rows, targets);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{1, 2, 3});
    CHECK(p.end == 3); // the fourth row was not decided
    CHECK_FALSE(planner.wantsMore());
    CHECK(p.leases[0].expiresAt == kNow + 30'000);          // the lease is the longer
    CHECK(p.leases[1].expiresAt == kNow + 60'000 + 15'000); // the timeout plus the margin is
    CHECK(p.leases[0].eventId == 1001);
    CHECK(p.leases[0].attemptNumber == 5);
    CHECK(p.leases[0].attemptsUsed == 1);
    CHECK(p.leases[0].throttleDeferrals == 2);
    CHECK(p.leases[1].target->id == "slow");
}

TEST_CASE("schedule: a higher priority level fills the claim before a lower one is read")
{
    Targets targets;
    targets.add(target("a"));
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(3), {}, holdBack);

    // Level 10: two rows, fewer than the page asked for: the level ends.
    const int page = planner.openPage();
    CHECK(page == 3 + 8);
    const auto high = rowsOf({"a", "a"}, 1);
    planner.pageRead(high);
    CHECK(idsOf(planner.plan(high, 0, targets.view()).leases) == std::vector<int64_t>{1, 2});
    CHECK_FALSE(planner.closePage());
    REQUIRE(planner.nextLevel(10));
    // Level 0 gives the one row still wanted, and the claim is full.
    const auto low = rowsOf({"a", "a"}, 3);
    const PagePlan p = planPage(planner, low, targets);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{3});
    CHECK_FALSE(planner.wantsMore());
    CHECK_FALSE(planner.closePage());
    // The lowest priority there is has no level below it.
    CHECK_FALSE(planner.nextLevel(std::numeric_limits<int>::min()));
}

TEST_CASE("schedule: targets are read once per claim, and only those the walk reaches")
{
    Targets targets;
    for (const char* id : {"a", "b", "c"})
        targets.add(target(id, [](Target& t) { t.maxInFlight = 10; }));
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(3), {}, holdBack);
    const PagePlan p = planPage(planner, rowsOf({"a", "b", "a", "c"}), targets);
    CHECK(p.leases.size() == 3);
    CHECK(targets.finds == std::map<std::string, int>{{"a", 1}, {"b", 1}});
    CHECK(targets.counts == std::map<std::string, int>{{"a", 1}, {"b", 1}});
}

TEST_CASE("schedule: a lease lost to a missing event frees its place for the rest of the page")
{
    Targets targets;
    targets.add(target("a"));
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(2), {}, holdBack);
    const auto rows = rowsOf({"a", "a", "a", "a"});
    planner.openPage();
    planner.pageRead(rows);
    const PagePlan first = planner.plan(rows, 0, targets.view());
    CHECK(first.end == 2);
    planner.lost(1);
    REQUIRE(planner.wantsMore());
    const PagePlan rest = planner.plan(rows, first.end, targets.view());
    CHECK(idsOf(rest.leases) == std::vector<int64_t>{3});
    CHECK(rest.end == 3);
}

TEST_CASE("schedule: rows of a removed target wait; rows of a target another claim holds are stepped over")
{
    Targets targets;
    targets.add(target("a"));
    targets.add(target("off", [](Target& t) { t.enabled = false; }));
    targets.busy.insert("held");
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(10), {}, holdBack);
    const PagePlan p = planPage(planner, rowsOf({"gone", "held", "off", "held", "a"}), targets);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{5});
    CHECK(p.steppedOver == 2); // both of "held"; nothing for the gone and the disabled one
    CHECK(p.heldBack.empty());
    CHECK(targets.finds["held"] == 1);
}

TEST_CASE("schedule: a target holding its share of the slots is held back while another has due work")
{
    Targets targets;
    targets.add(target("a"));
    targets.add(target("b"));
    ClaimContext context;
    context.concurrency = 4;
    context.targets["a"] = {2, 10, false}; // two in flight, answers in 10 ms
    context.targets["b"] = {0, 10, false};
    HoldBack holdBack;

    SUBCASE("shared")
    {
        ClaimPlanner planner(context, request(4), {}, holdBack);
        const PagePlan p = planPage(planner, rowsOf({"a", "a", "b", "b", "b"}), targets);
        // Two targets with due work: a share is 2 slots, which a holds.
        CHECK(idsOf(p.leases) == std::vector<int64_t>{3, 4});
        CHECK(idsOf(p.heldBack) == std::vector<int64_t>{1, 2, 5}); // b's third: b holds its share now
    }
    SUBCASE("alone")
    {
        ClaimPlanner planner(context, request(4), {}, holdBack);
        const PagePlan p = planPage(planner, rowsOf({"a", "a"}), targets);
        CHECK(idsOf(p.leases) == std::vector<int64_t>{1, 2}); // no one else waits: a gets them
        CHECK(p.heldBack.empty());
    }
}

TEST_CASE("schedule: held-back rows are spread at the rate the target's slots free, then start again")
{
    HoldBack holdBack;
    // 100 ms answers over 2 slots: one slot frees every 50 ms.
    CHECK(holdBack.next("a", kNow, 100, 2) == kNow + 100);
    CHECK(holdBack.next("a", kNow, 100, 2) == kNow + 150);
    CHECK(holdBack.next("a", kNow, 100, 2) == kNow + 200);
    // Another target has a spread of its own.
    CHECK(holdBack.next("b", kNow, 100, 2) == kNow + 100);
    // A later claim continues after the rows earlier ones moved.
    CHECK(holdBack.next("a", kNow + 10, 100, 2) == kNow + 250);
    // A fast target's steps are kept in fractions of a millisecond.
    CHECK(holdBack.next("fast", kNow, 1, 4) == kNow + 1);
    CHECK(holdBack.next("fast", kNow, 1, 4) == kNow + 2); // 1.25, rounded up
    CHECK(holdBack.next("fast", kNow, 1, 4) == kNow + 2); // 1.5

    // A second per row: never further out than 30 s past the first.
    int64_t last = 0;
    for (int i = 0; i < 31; ++i)
        last = holdBack.next("slow", kNow, 1000, 1);
    CHECK(last == kNow + 1000 + 30'000);
    CHECK(holdBack.next("slow", kNow, 1000, 1) == kNow + 1000);
}

TEST_CASE("schedule: the planner spreads a held-back backlog by the target's answer time")
{
    Targets targets;
    targets.add(target("a"));
    targets.add(target("b"));
    ClaimContext context;
    context.concurrency = 2;
    context.targets["a"] = {1, 200, false}; // one in flight (its share of two), 200 ms answers
    HoldBack holdBack;
    ClaimPlanner planner(context, request(2), {}, holdBack);
    const PagePlan p = planPage(planner, rowsOf({"a", "a", "a", "b"}), targets);
    REQUIRE(p.heldBack.size() == 3);
    CHECK(p.heldBack[0].dueAt == kNow + 200);
    CHECK(p.heldBack[1].dueAt == kNow + 400);
    CHECK(p.heldBack[2].dueAt == kNow + 600);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{4});
}

TEST_CASE("schedule: the in-flight cap counts every worker's transfers and holds back the rest")
{
    Targets targets;
    targets.add(target("capped", [](Target& t) { t.maxInFlight = 3; }));
    targets.inFlight["capped"] = 1; // another worker's
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(10), {}, holdBack);
    const PagePlan p = planPage(planner, rowsOf({"capped", "capped", "capped", "capped"}), targets);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{1, 2});
    CHECK(idsOf(p.heldBack) == std::vector<int64_t>{3, 4});
    CHECK(targets.counts["capped"] == 1);
    // Spread over its three slots, at the 20 ms assumed of a target not yet answered.
    CHECK(p.heldBack[0].dueAt == kNow + 20);
    CHECK(p.heldBack[1].dueAt == kNow + 27); // 20 + 20/3, rounded up
}

TEST_CASE("schedule: the token bucket leases what it can pay for and defers the rest until tokens exist")
{
    ClaimContext context;
    HoldBack holdBack;

    SUBCASE("a configured rate")
    {
        Targets targets;
        targets.add(target("r", [](Target& t) {
            t.rateLimitEnabled = true;
            t.ratePerSecond = 2;
            t.burst = 2;
        }));
        CHECK(targets.ready["r"].limited);
        CHECK(targets.ready["r"].bucket.tokens == doctest::Approx(2)); // never saved: full
        ClaimPlanner planner(context, request(10), {}, holdBack);
        const PagePlan p = planPage(planner, rowsOf({"r", "r", "r", "r"}), targets);
        CHECK(idsOf(p.leases) == std::vector<int64_t>{1, 2});
        REQUIRE(p.deferred.size() == 2);
        CHECK(p.deferred[0].dueAt == kNow + 500); // the next token, at 2/s
        CHECK(p.deferred[1].dueAt == kNow + 1000);
        REQUIRE(planner.spent().size() == 1);
        CHECK(planner.spent()[0]->bucket.tokens == doctest::Approx(0));
    }
    SUBCASE("stored tokens are kept, never above the burst")
    {
        auto limited = target("r", [](Target& t) {
            t.rateLimitEnabled = true;
            t.ratePerSecond = 1;
            t.burst = 3;
        });
        CHECK(claimTargetOf(limited, 0.5, kNow - 100, kNow).bucket.tokens == doctest::Approx(0.5));
        CHECK(claimTargetOf(limited, 0.5, kNow - 100, kNow).bucket.updatedAtMs == kNow - 100);
        CHECK(claimTargetOf(limited, 50, kNow, kNow).bucket.tokens == doctest::Approx(3));
        CHECK_FALSE(claimTargetOf(target("free"), std::nullopt, std::nullopt, kNow).limited);
    }
    SUBCASE("a throttled rate defers no further than 5 s")
    {
        Targets targets;
        targets.add(target("t", [](Target& t) { t.rateCurrent = 0.1; }), 0.0);
        ClaimPlanner planner(context, request(10), {}, holdBack);
        const PagePlan p = planPage(planner, rowsOf({"t", "t"}), targets);
        CHECK(p.leases.empty());
        REQUIRE(p.deferred.size() == 2);
        CHECK(p.deferred[0].dueAt == kNow + 5'000); // 10 s at 0.1/s, cut to the horizon
        CHECK(p.deferred[1].dueAt == kNow + 5'000);
    }
}

TEST_CASE("schedule: an open breaker's rows wait; after the cool-down one row is its probe")
{
    BreakerPolicy breaker{3, 60'000};
    ClaimContext context;
    HoldBack holdBack;
    Targets targets;
    targets.add(target("open", [](Target& t) { t.pausedUntil = kNow + 1; }));
    targets.add(target("cooled", [](Target& t) { t.pausedUntil = kNow; }));
    ClaimPlanner planner(context, request(10), breaker, holdBack);
    const PagePlan p = planPage(planner, rowsOf({"open", "cooled", "cooled", "open"}), targets);
    CHECK(idsOf(p.leases) == std::vector<int64_t>{2});
    REQUIRE(p.probes.size() == 1);
    CHECK(p.probes[0].targetId == "cooled");
    CHECK(p.probes[0].pausedUntil == kNow + 60'000);
    CHECK(p.steppedOver == 0);
    CHECK(p.heldBack.empty());
}

TEST_CASE("schedule: the walk's budgets: pages grow after moved rows, and a claim moves at most 1024")
{
    Targets targets;
    targets.add(target("capped", [](Target& t) { t.maxInFlight = 1; }));
    targets.inFlight["capped"] = 1;
    ClaimContext context;
    HoldBack holdBack;
    ClaimPlanner planner(context, request(4), {}, holdBack);
    int moved = 0, pages = 0;
    int64_t next = 1;
    for (;;) {
        const int page = planner.openPage();
        if (pages == 0)
            CHECK(page == 12);
        if (pages == 1)
            CHECK(page == 24); // a page of moved rows: twice as large
        std::vector<DueRow> rows;
        for (int i = 0; i < page; ++i, ++next)
            rows.push_back({next, next, "capped", 0, 0, 0});
        planner.pageRead(rows);
        moved += static_cast<int>(planner.plan(rows, 0, targets.view()).heldBack.size());
        ++pages;
        if (!planner.closePage())
            break;
        REQUIRE(pages < 100);
    }
    CHECK(planner.moreToMove());
    CHECK(moved >= 1024);
    CHECK(moved < 1024 + 1024); // stopped at the page that crossed the bound
    CHECK_FALSE(planner.nextLevel(0));
}

TEST_CASE("schedule: completions become status rows, attempt rows and dead letters")
{
    std::vector<Completion> cs(3);
    cs[0].deliveryId = 1;
    cs[0].targetId = "a";
    cs[0].attemptNumber = 1;
    cs[0].status = DeliveryStatus::Delivered;
    cs[0].outcome.statusCode = 200;
    cs[0].outcome.startedAtMs = kNow - 50;
    cs[0].outcome.durationMs = 50;
    cs[1].deliveryId = 2;
    cs[1].targetId = "a";
    cs[1].attemptNumber = 2;
    cs[1].status = DeliveryStatus::Failed;
    cs[1].nextAttemptAt = kNow + 4'000;
    cs[1].lastError = "HTTP 503";
    cs[1].freeThrottle = true;
    cs[1].outcome.statusCode = 503;
    cs[1].outcome.retryAfterMs = 4'000;
    cs[1].outcome.responseExcerpt = std::string("busy\0now", 8);
    cs[2].deliveryId = 3;
    cs[2].targetId = "b";
    cs[2].attemptNumber = 5;
    cs[2].status = DeliveryStatus::DeadLetter;
    cs[2].lastError = "connection refused";
    cs[2].deadLetterReason = "5 attempts failed";
    cs[2].outcome.error = TransportError::Connect;
    cs[2].outcome.errorMessage = "refused";

    const CompletionPlan plan = planCompletions(cs, kNow);
    REQUIRE(plan.finishes.size() == 3);
    REQUIRE(plan.attempts.size() == 3);

    // Delivered: finished now, nothing more to send.
    CHECK(plan.finishes[0].status == DeliveryStatus::Delivered);
    CHECK(plan.finishes[0].completedAt == kNow);
    CHECK(plan.finishes[0].nextAttemptAt == kNow);
    CHECK_FALSE(plan.finishes[0].lastError);
    CHECK(plan.finishes[0].statusCode == 200);
    // Failed: a retry at the time decided, not finished, the free throttle kept.
    CHECK(plan.finishes[1].status == DeliveryStatus::Failed);
    CHECK(plan.finishes[1].nextAttemptAt == kNow + 4'000);
    CHECK_FALSE(plan.finishes[1].completedAt);
    CHECK(plan.finishes[1].lastError == "HTTP 503");
    CHECK(plan.finishes[1].freeThrottle);
    CHECK_FALSE(plan.finishes[0].freeThrottle);
    // Dead letter: finished, with its reason in dead_letters.
    CHECK(plan.finishes[2].status == DeliveryStatus::DeadLetter);
    CHECK(plan.finishes[2].completedAt == kNow);
    CHECK_FALSE(plan.finishes[2].statusCode);
    REQUIRE(plan.deadLetters.size() == 1);
    CHECK(plan.deadLetters[0].deliveryId == 3);
    CHECK(plan.deadLetters[0].reason == "5 attempts failed");
    CHECK(plan.deadLetters[0].movedAt == kNow);

    CHECK(plan.attempts[0].number == 1);
    CHECK(plan.attempts[0].startedAt == kNow - 50);
    CHECK(plan.attempts[0].durationMs == 50);
    CHECK_FALSE(plan.attempts[0].errorType);
    CHECK_FALSE(plan.attempts[0].responseExcerpt);
    CHECK(plan.attempts[1].retryAfterMs == 4'000);
    CHECK(plan.attempts[1].responseExcerpt == "busy\xEF\xBF\xBDnow"); // U+0000 as U+FFFD: both stores hold it
    CHECK_FALSE(plan.attempts[1].errorMessage);
    CHECK(plan.attempts[2].errorType == "connect");
    CHECK(plan.attempts[2].errorMessage == "refused");
    CHECK_FALSE(plan.attempts[2].statusCode);
}

TEST_CASE("schedule: the rollup counts only the attempts written, per minute and target")
{
    std::vector<Completion> cs(4);
    const int64_t minute = kNow - kNow % kMinuteMs;
    for (size_t i = 0; i < cs.size(); ++i) {
        cs[i].deliveryId = static_cast<int64_t>(i + 1);
        cs[i].targetId = i == 3 ? "b" : "a";
        cs[i].status = DeliveryStatus::Delivered;
        cs[i].outcome.statusCode = 200;
        cs[i].outcome.startedAtMs = i == 2 ? minute - 1 : minute + 5;
        cs[i].outcome.durationMs = 7;
    }
    const auto rows = rollupOf(cs, {true, false, true, true});
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].minute == minute - kMinuteMs);
    CHECK(rows[0].targetId == "a");
    CHECK(rows[1].minute == minute);
    CHECK(rows[1].targetId == "a");
    CHECK(rows[1].counts.attempts == 1); // the second's lease was lost: not counted
    CHECK(rows[1].counts.delivered == 1);
    CHECK(rows[1].counts.durationMsSum == 7);
    CHECK(rows[2].targetId == "b");
}

TEST_CASE("schedule: a batch's runs are per target in id order, and send rates are counted over the last second")
{
    std::vector<Completion> cs(4);
    const char* ids[] = {"b", "a", "", "b"};
    const int codes[] = {503, 200, 200, 410};
    for (size_t i = 0; i < cs.size(); ++i) {
        cs[i].deliveryId = static_cast<int64_t>(i + 1);
        cs[i].targetId = ids[i];
        cs[i].outcome.statusCode = codes[i];
    }
    const auto runs = attemptRuns(cs);
    REQUIRE(runs.size() == 2);
    CHECK(runs.begin()->first == "a");
    CHECK(runs.at("a").succeeded);
    CHECK(runs.at("b").tailFailures == 1);
    CHECK(runs.at("b").throttleStatus == 503);
    CHECK(runs.at("b").goneDelivery == 4);

    SendRates rates;
    for (const char* id : {"b", "a", "b"})
        rates.sent(id, kNow);
    CHECK(rates.perSecond("b", kNow) == 2); // two attempts within the last second
    CHECK(rates.perSecond("a", kNow) == 1);
    CHECK(rates.perSecond("", kNow) == 0);
    // Half a second into the next window: its own attempts and half the last one's.
    for (int i = 0; i < 4; ++i)
        rates.sent("a", kNow + 1'500);
    CHECK(rates.perSecond("a", kNow + 1'500) == doctest::Approx(4 + 0.5 * 1));
    CHECK(rates.perSecond("b", kNow + 1'500) == doctest::Approx(0.5 * 2));
    CHECK(rates.perSecond("a", kNow + 2'999) == doctest::Approx(4 * 0.001));
    CHECK(rates.perSecond("b", kNow + 3'000) == 0);  // nothing in the last second
    CHECK(rates.perSecond("a", kNow - 10'000) == 0); // a clock that went back forgets
}

TEST_CASE("schedule: a 429 counts for the breaker only once the throttle is at its floor")
{
    const BreakerPolicy breaker{3, 60'000};
    std::vector<Completion> cs(4);
    for (size_t i = 0; i < cs.size(); ++i) {
        cs[i].deliveryId = static_cast<int64_t>(i + 1);
        cs[i].targetId = "t";
        cs[i].outcome.statusCode = 429;
    }
    const AttemptRun run = attemptRuns(cs).at("t");
    CHECK(run.tailFailures == 0);
    CHECK(run.tailWithThrottles == 4);
    TargetHealth above;
    above.rate.current = 8.0;
    above.rate.signalAt = kNow - 500; // cut half a second ago: no cut now
    const TargetUpdate kept = planTargetUpdate("t", above, run, 8, kNow, breaker, {});
    CHECK_FALSE(kept.breaker.has_value());
    TargetHealth floor = above;
    floor.rate.current = 1.0; // the default floor
    const TargetUpdate opened = planTargetUpdate("t", floor, run, 1, kNow, breaker, {});
    REQUIRE(opened.breaker.has_value());
    CHECK(opened.breaker->pausedUntil == kNow + 60'000);
    // 5xx count whatever the throttle.
    cs[0].outcome.statusCode = 503;
    cs[1].outcome.statusCode = 500;
    cs[2].outcome.statusCode = 504;
    CHECK(attemptRuns(cs).at("t").tailFailures == 3);
    REQUIRE(planTargetUpdate("t", above, attemptRuns(cs).at("t"), 8, kNow, breaker, {}).breaker.has_value());
}

TEST_CASE("schedule: the breaker opens after N unhealthy failures in a row and closes on a success")
{
    const BreakerPolicy breaker{3, 60'000};
    auto runOf = [](std::initializer_list<int> codes) {
        AttemptRun run;
        int64_t id = 1;
        for (int code : codes) {
            Outcome o;
            o.statusCode = code;
            run.add(endpointSignal(o), code, id++);
        }
        return run;
    };
    TargetHealth before;
    before.breaker.consecutiveFailures = 1;

    SUBCASE("below the count: failures are counted, nothing opens")
    {
        const auto u = planTargetUpdate("a", before, runOf({500}), 0, kNow, breaker, {});
        REQUIRE(u.breaker);
        CHECK(u.breaker->consecutiveFailures == 2);
        CHECK_FALSE(u.breaker->pausedUntil);
        CHECK(u.events.empty());
        CHECK_FALSE(u.claimViewChanged);
    }
    SUBCASE("at the count: paused for the cool-down, with the reason")
    {
        const auto u = planTargetUpdate("a", before, runOf({500, 500}), 0, kNow, breaker, {});
        REQUIRE(u.breaker);
        CHECK(u.breaker->pausedUntil == kNow + 60'000);
        CHECK(u.breaker->pausedReason == "3 failed attempts in a row");
        REQUIRE(u.events.size() == 1);
        CHECK(u.events[0].kind == TargetEvent::Kind::Paused);
        CHECK(u.claimViewChanged);
    }
    SUBCASE("a 422 is the payload's problem, not the endpoint's")
    {
        const auto u = planTargetUpdate("a", before, runOf({422, 422, 422}), 0, kNow, breaker, {});
        CHECK_FALSE(u.breaker);
    }
    SUBCASE("a success closes an open breaker")
    {
        before.breaker.consecutiveFailures = 3;
        before.breaker.pausedUntil = kNow - 1;
        const auto u = planTargetUpdate("a", before, runOf({200}), 0, kNow, breaker, {});
        REQUIRE(u.breaker);
        CHECK(u.breaker->consecutiveFailures == 0);
        CHECK_FALSE(u.breaker->pausedUntil);
        REQUIRE(u.events.size() == 1);
        CHECK(u.events[0].kind == TargetEvent::Kind::Resumed);
        CHECK(u.claimViewChanged);
    }
    SUBCASE("off: nothing is written, except that a 410 Gone disables the target")
    {
        const BreakerPolicy off{0, 60'000};
        CHECK_FALSE(planTargetUpdate("a", before, runOf({500, 500, 500}), 0, kNow, off, {}).breaker);
        const auto u = planTargetUpdate("a", before, runOf({410}), 0, kNow, off, {});
        REQUIRE(u.breaker);
        CHECK_FALSE(u.breaker->enabled);
        CHECK(u.breaker->disabledReason == "the receiver answered 410 Gone to delivery 1");
        REQUIRE(u.events.size() == 1);
        CHECK(u.events[0].kind == TargetEvent::Kind::Disabled);
    }
}

TEST_CASE("schedule: adaptive throttling halves the rate on an overload signal and climbs back per interval")
{
    const BreakerPolicy off{0, 0};
    const AimdPolicy aimd; // 1 s interval, step 1/s
    AttemptRun throttled;
    throttled.add(EndpointSignal::Throttled, 429, 1);
    AttemptRun ok;
    ok.add(EndpointSignal::Healthy, 200, 2);

    TargetHealth h;
    h.ceiling = 10;
    const auto cut = planTargetUpdate("a", h, throttled, 12, kNow, off, aimd);
    REQUIRE(cut.rate);
    CHECK(cut.rate->after.current == doctest::Approx(5)); // from what it was sent at, at most the configured rate
    CHECK(cut.rate->signal == "HTTP 429");
    REQUIRE(cut.events.size() == 1);
    CHECK(cut.events[0].kind == TargetEvent::Kind::Throttled);
    CHECK(cut.events[0].reason == "HTTP 429 cut the rate to 5/s");
    CHECK(cut.claimViewChanged);

    // Within the interval a second signal changes nothing.
    h.rate = cut.rate->after;
    CHECK_FALSE(planTargetUpdate("a", h, throttled, 3, kNow + 500, off, aimd).rate);
    // Three intervals later a success climbs three steps; it is not a cut.
    const auto climb = planTargetUpdate("a", h, ok, 3, kNow + 3'000, off, aimd);
    REQUIRE(climb.rate);
    CHECK(climb.rate->after.current == doctest::Approx(8));
    CHECK_FALSE(climb.rate->signal);
    CHECK(climb.events.empty());
    // Reaching the configured rate ends the throttling.
    h.rate = climb.rate->after;
    const auto back = planTargetUpdate("a", h, ok, 3, kNow + 5'000, off, aimd);
    REQUIRE(back.rate);
    CHECK_FALSE(back.rate->after.current);

    // Without a configured rate it starts from what this worker sent.
    TargetHealth unset;
    const auto fromSent = planTargetUpdate("b", unset, throttled, 40, kNow, off, aimd);
    REQUIRE(fromSent.rate);
    CHECK(fromSent.rate->after.current == doctest::Approx(20));
}

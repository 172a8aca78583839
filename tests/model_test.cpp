#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// src/model/: the records' rules, pure, without a database.

#include <set>
#include <string>

#include "model/breaker.h"
#include "model/delivery_status.h"
#include "model/event_rules.h"
#include "model/redrive_rules.h"
#include "model/target_rules.h"
#include "support/print.h"

using namespace webhookd;

TEST_CASE("model: every status has one name, and the named sets are what the states say")
{
    std::set<std::string> names;
    for (DeliveryStatus s : status_set::kAll) {
        names.emplace(toString(s));
        CHECK(parseDeliveryStatus(toString(s)) == s);
    }
    CHECK(names.size() == status_set::kAll.size());
    CHECK_FALSE(parseDeliveryStatus("done"));
    CHECK(isClaimable(DeliveryStatus::Pending));
    CHECK(isClaimable(DeliveryStatus::Failed));
    CHECK(isClaimable(DeliveryStatus::RateLimited));
    CHECK_FALSE(isClaimable(DeliveryStatus::InProgress));
    CHECK(isFinished(DeliveryStatus::Delivered));
    CHECK(isFinished(DeliveryStatus::DeadLetter));
    // Unfinished is exactly what is neither finished nor anything else.
    for (DeliveryStatus s : status_set::kAll)
        CHECK(isIn(s, status_set::kUnfinished) != isFinished(s));
    CHECK(std::string(allStatusNames()) == "pending, in_progress, failed, rate_limited, delivered or dead_letter");
}

TEST_CASE("model: bucketFor gives the claim's bucket; the burst defaults to the rate, at least 1")
{
    Target t;
    CHECK_FALSE(bucketFor(t, 0));
    t.ratePerSecond = 2.5;
    CHECK_FALSE(bucketFor(t, 0)); // a rate alone does not limit: rateLimitEnabled says so
    t.rateLimitEnabled = true;
    auto b = bucketFor(t, 1000);
    REQUIRE(b);
    CHECK(b->rate == 2.5);
    CHECK(b->burst == 2.5); // what the claim uses and what target show prints
    CHECK(b->tokens == 2.5);
    CHECK(b->updatedAtMs == 1000);
    t.ratePerSecond = 0.2;
    CHECK(bucketFor(t, 0)->burst == 1.0);
    t.burst = 7;
    CHECK(bucketFor(t, 0)->burst == 7.0);
}

TEST_CASE("model: the breaker opens after the failures in a row, probes, and closes on a success")
{
    const BreakerPolicy policy{3, 60'000};
    BreakerState closed;
    AttemptRun twoFailures;
    twoFailures.add(false, 500, 1);
    twoFailures.add(false, 500, 2);
    auto t = nextBreakerState(closed, twoFailures, policy, 1000);
    CHECK(t.changed);
    CHECK_FALSE(t.opened);
    CHECK(t.after.consecutiveFailures == 2);

    AttemptRun third;
    third.add(false, 503, 3);
    auto opened = nextBreakerState(t.after, third, policy, 2000);
    CHECK(opened.opened);
    CHECK(opened.after.pausedUntil == 62'000);
    CHECK(opened.pausedReason == "3 failed attempts in a row");

    SUBCASE("a failed probe pushes the next probe out")
    {
        auto again = nextBreakerState(opened.after, third, policy, 70'000);
        CHECK_FALSE(again.opened);
        CHECK(again.after.pausedUntil == 130'000);
    }
    SUBCASE("a success closes it and resets the count")
    {
        AttemptRun ok;
        ok.add(true, 204, 4);
        auto resumed = nextBreakerState(opened.after, ok, policy, 70'000);
        CHECK(resumed.resumed);
        CHECK(resumed.after.pausedUntil == 0);
        CHECK(resumed.after.consecutiveFailures == 0);
    }
    SUBCASE("failures after a success in the same batch count from the success")
    {
        AttemptRun mixed;
        mixed.add(false, 500, 5);
        mixed.add(true, 200, 6);
        mixed.add(false, 500, 7);
        auto r = nextBreakerState(BreakerState{10, 0, true}, mixed, policy, 0);
        CHECK(r.after.consecutiveFailures == 1);
    }
    SUBCASE("410 Gone disables the target, once, naming the delivery")
    {
        AttemptRun gone;
        gone.add(false, 410, 42);
        gone.add(false, 410, 43);
        auto r = nextBreakerState(closed, gone, policy, 0);
        CHECK_FALSE(r.after.enabled);
        CHECK(r.disabledReason == "the receiver answered 410 Gone to delivery 42");
    }
    SUBCASE("with the breaker off nothing opens")
    {
        AttemptRun many;
        for (int i = 0; i < 100; ++i)
            many.add(false, 500, i);
        CHECK_FALSE(nextBreakerState(closed, many, BreakerPolicy{0, 1000}, 0).opened);
    }
}

TEST_CASE("model: dlq retry takes dead letters only; resend takes every finished delivery")
{
    CHECK(mayRedrive(Redrive::DeadLetters, DeliveryStatus::DeadLetter));
    CHECK_FALSE(mayRedrive(Redrive::DeadLetters, DeliveryStatus::Delivered));
    CHECK(mayRedrive(Redrive::Finished, DeliveryStatus::Delivered));
    CHECK(mayRedrive(Redrive::Finished, DeliveryStatus::DeadLetter));
    CHECK_FALSE(mayRedrive(Redrive::Finished, DeliveryStatus::Pending));
    CHECK(redriveRefused(Redrive::DeadLetters, 3, DeliveryStatus::Delivered).message() ==
          "delivery 3 is not in the dead-letter queue (it is delivered)");
}

TEST_CASE("model: makeTarget applies defaults, generates a secret, and validates")
{
    TargetSpec spec;
    CHECK(makeTarget("t", spec, 5).error().message() == "a target needs a URL (--url)");
    spec.url = "https://example.com/h";
    auto t = makeTarget("t", spec, 5);
    REQUIRE(t);
    CHECK(t->secret.rfind("whsec_", 0) == 0);
    CHECK(t->createdAt == 5);
    CHECK(t->retry.maxAttempts == 5);
    spec.ratePerSecond = 10;
    CHECK(makeTarget("t", spec, 5)->rateLimitEnabled); // a rate turns limiting on
    spec.rateLimitEnabled = false;
    CHECK_FALSE(makeTarget("t", spec, 5)->rateLimitEnabled);
    spec.initialDelayMs = int64_t{3651} * 86'400'000;
    spec.maxDelayMs = int64_t{3651} * 86'400'000;
    CHECK_FALSE(makeTarget("t", spec, 5)); // ten years at most (F9)
}

TEST_CASE("model: enabling by hand closes the breaker and forgets the worker's reason")
{
    Target t;
    t.enabled = false;
    t.disabledReason = "the receiver answered 410 Gone to delivery 1";
    t.consecutiveFailures = 20;
    t.pausedUntil = 100;
    setEnabledByHand(t, true, 7);
    CHECK(t.enabled);
    CHECK_FALSE(t.disabledReason);
    CHECK(t.consecutiveFailures == 0);
    CHECK_FALSE(t.pausedUntil);
    CHECK(t.updatedAt == 7);
}

TEST_CASE("model: an event's idempotency key is UTF-8 text without control characters")
{
    EventInput e;
    e.type = "a";
    CHECK(validateEvent(e));
    e.idempotencyKey = "k\x1b";
    CHECK_FALSE(validateEvent(e));
    e.priority = 1001;
    e.idempotencyKey.reset();
    CHECK_FALSE(validateEvent(e));
}

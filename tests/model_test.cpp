#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// src/model/: the records' rules, pure, without a database.

#include <set>
#include <string>

#include "model/breaker.h"
#include "model/delivery_status.h"
#include "model/event_rules.h"
#include "model/redrive_rules.h"
#include "model/rollup.h"
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
    CHECK_FALSE(isClaimable(DeliveryStatus::Waiting));
    CHECK_FALSE(isFinished(DeliveryStatus::Waiting));
    // Unfinished is exactly what is neither finished nor waiting its turn.
    for (DeliveryStatus s : status_set::kAll)
        CHECK(isIn(s, status_set::kUnfinished) != (isFinished(s) || s == DeliveryStatus::Waiting));
    CHECK(std::string(allStatusNames()) ==
          "pending, in_progress, failed, rate_limited, delivered, dead_letter or waiting");
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
    twoFailures.add(EndpointSignal::Unhealthy, 500, 1);
    twoFailures.add(EndpointSignal::Unhealthy, 500, 2);
    auto t = nextBreakerState(closed, twoFailures, policy, 1000);
    CHECK(t.changed);
    CHECK_FALSE(t.opened);
    CHECK(t.after.consecutiveFailures == 2);

    AttemptRun third;
    third.add(EndpointSignal::Unhealthy, 503, 3);
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
        ok.add(EndpointSignal::Healthy, 204, 4);
        auto resumed = nextBreakerState(opened.after, ok, policy, 70'000);
        CHECK(resumed.resumed);
        CHECK(resumed.after.pausedUntil == 0);
        CHECK(resumed.after.consecutiveFailures == 0);
    }
    SUBCASE("failures after a success in the same batch count from the success")
    {
        AttemptRun mixed;
        mixed.add(EndpointSignal::Unhealthy, 500, 5);
        mixed.add(EndpointSignal::Healthy, 200, 6);
        mixed.add(EndpointSignal::Unhealthy, 500, 7);
        auto r = nextBreakerState(BreakerState{10, 0, true}, mixed, policy, 0);
        CHECK(r.after.consecutiveFailures == 1);
    }
    SUBCASE("410 Gone disables the target, once, naming the delivery")
    {
        AttemptRun gone;
        gone.add(EndpointSignal::Neutral, 410, 42);
        gone.add(EndpointSignal::Neutral, 410, 43);
        auto r = nextBreakerState(closed, gone, policy, 0);
        CHECK_FALSE(r.after.enabled);
        CHECK(r.disabledReason == "the receiver answered 410 Gone to delivery 42");
    }
    SUBCASE("with the breaker off nothing opens")
    {
        AttemptRun many;
        for (int i = 0; i < 100; ++i)
            many.add(EndpointSignal::Unhealthy, 500, i);
        CHECK_FALSE(nextBreakerState(closed, many, BreakerPolicy{0, 1000}, 0).opened);
    }
}

TEST_CASE("model: only failures that say the endpoint is unhealthy move the breaker")
{
    const BreakerPolicy policy{3, 60'000};
    auto outcome = [](int code, TransportError error = TransportError::None) {
        Outcome o;
        o.statusCode = code;
        o.error = error;
        return o;
    };
    // 422 for a bad payload, a blocked address, a bad URL, a secret that
    // cannot sign: the delivery's problem. A storm of them leaves it closed.
    AttemptRun neutral;
    for (int i = 0; i < 100; ++i) {
        neutral.add(endpointSignal(outcome(422)), 422, i);
        neutral.add(endpointSignal(outcome(0, TransportError::BlockedAddress)), 0, i);
        neutral.add(endpointSignal(outcome(0, TransportError::BadUrl)), 0, i);
        neutral.add(endpointSignal(outcome(0, TransportError::Signing)), 0, i);
    }
    auto r = nextBreakerState(BreakerState{2, 0, true}, neutral, policy, 0);
    CHECK_FALSE(r.opened);
    CHECK(r.after.consecutiveFailures == 2); // nor do they reset the count
    // 5xx, 408, timeouts and network errors count; a 429 is a throttle
    // (counted once the throttle is at its floor).
    for (auto o :
         {outcome(503), outcome(408), outcome(0, TransportError::Timeout), outcome(0, TransportError::Connect)})
        CHECK(endpointSignal(o) == EndpointSignal::Unhealthy);
    CHECK(endpointSignal(outcome(429)) == EndpointSignal::Throttled);
    CHECK(endpointSignal(outcome(204)) == EndpointSignal::Healthy);
    AttemptRun storm;
    for (int i = 0; i < 3; ++i)
        storm.add(endpointSignal(outcome(503)), 503, i);
    CHECK(nextBreakerState(BreakerState{}, storm, policy, 0).opened);
    CHECK(storm.throttleStatus == 503);
}

TEST_CASE("model: a schedule sets the attempts unless they are given; the in-flight cap clears with 0")
{
    TargetSpec spec;
    spec.url = "https://example.com/h";
    spec.retrySchedule = *parseRetrySchedule("svix");
    spec.maxInFlight = 4;
    auto t = makeTarget("a", spec, 0);
    REQUIRE(t);
    CHECK(t->retry.maxAttempts == 8);
    CHECK(t->maxInFlight == 4);
    TargetSpec change;
    change.maxInFlight = 0;
    change.retrySchedule = std::vector<int64_t>{};
    change.maxAttempts = 3;
    applySpec(*t, change);
    CHECK_FALSE(t->maxInFlight);
    CHECK(t->retry.schedule.empty());
    CHECK(t->retry.maxAttempts == 3);
    TargetSpec bad = spec;
    bad.minRate = 5;
    bad.ratePerSecond = 2;
    CHECK(makeTarget("b", bad, 0).error().message() == "the minimum rate must not be above the rate");
    bad = spec;
    bad.maxInFlight = 10'001;
    CHECK_FALSE(makeTarget("b", bad, 0));
}

TEST_CASE("model: a throttled target's bucket runs at its current rate, with a burst no larger")
{
    Target t;
    t.ratePerSecond = 40;
    t.burst = 40;
    t.rateLimitEnabled = true;
    t.rateCurrent = 5;
    auto b = bucketFor(t, 0);
    REQUIRE(b);
    CHECK(b->rate == doctest::Approx(5.0));
    CHECK(b->burst == doctest::Approx(5.0));
    Target unlimited;
    unlimited.rateCurrent = 0.5;
    REQUIRE(bucketFor(unlimited, 0));
    CHECK(bucketFor(unlimited, 0)->burst == doctest::Approx(1.0));
    unlimited.rateCurrent.reset();
    CHECK_FALSE(bucketFor(unlimited, 0));
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
    // The default spans days: the standard-webhooks schedule, ten attempts.
    CHECK(t->retry.maxAttempts == 10);
    CHECK(retryScheduleName(t->retry.schedule) == "standard-webhooks");
    CHECK(retryWindowMs(t->retry) == 272'105'000);
    CHECK(describeRetryPolicy(t->retry) ==
          "10 attempts, schedule standard-webhooks, jitter 0.1; gives up after 3 d 3 h");
    SUBCASE("exponential by name brings back the formula's numbers, unless given")
    {
        TargetSpec formula;
        formula.retrySchedule = std::vector<int64_t>{};
        applySpec(*t, formula);
        CHECK(t->retry.maxAttempts == 5);
        CHECK(t->retry.initialDelayMs == 1000);
        CHECK(t->retry.maxDelayMs == 60'000);
        CHECK(retryWindowMs(t->retry) == 15'000); // 1 + 2 + 4 + 8 s
        CHECK(describeRetryPolicy(t->retry) ==
              "5 attempts, exponential from 1s to 1m, x2, jitter 0.1; gives up after 15 s");
        formula.maxAttempts = 8;
        formula.initialDelayMs = 2000;
        applySpec(*t, formula);
        CHECK(t->retry.maxAttempts == 8);
        CHECK(retryWindowMs(t->retry) == 2000 + 4000 + 8000 + 16'000 + 32'000 + 60'000 + 60'000);
    }
    SUBCASE("the formula's own settings on a target that follows a schedule choose the formula")
    {
        TargetSpec quick;
        quick.initialDelayMs = 200;
        quick.maxDelayMs = 2000;
        applySpec(*t, quick);
        CHECK(t->retry.schedule.empty());
        CHECK(t->retry.maxAttempts == 10); // kept
        CHECK(retryWindowMs(t->retry) == 200 + 400 + 800 + 1600 + 5 * 2000);
        TargetSpec longer;
        longer.maxAttempts = 7;
        applySpec(*t, longer);
        longer.maxAttempts.reset();
        longer.initialDelayMs = 100; // already the formula: the attempts stay
        applySpec(*t, longer);
        CHECK(t->retry.maxAttempts == 7);
        CHECK(t->retry.maxDelayMs == 2000);
    }
    SUBCASE("a schedule sets the attempts, unless given")
    {
        TargetSpec svix;
        svix.retrySchedule = parseRetrySchedule("svix").value();
        applySpec(*t, svix);
        CHECK(t->retry.maxAttempts == 8);
        svix.maxAttempts = 3;
        applySpec(*t, svix);
        CHECK(t->retry.maxAttempts == 3);
        CHECK(retryWindowMs(t->retry) == 5000 + 300'000);
    }
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

TEST_CASE("model: the minute rollup buckets durations as /metrics does and reads percentiles back")
{
    MinuteCounts c;
    CHECK_FALSE(latencyQuantile(c, 0.5).has_value());
    for (int i = 0; i < 90; ++i)
        c.add(DeliveryStatus::Delivered, 200, 4); // the 5 ms bucket
    for (int i = 0; i < 10; ++i)
        c.add(DeliveryStatus::Failed, 429, 80);   // the 100 ms bucket
    c.add(DeliveryStatus::DeadLetter, 0, 60'000); // above the last bound
    CHECK(c.attempts == 101);
    CHECK(c.delivered == 90);
    CHECK(c.retried == 10);
    CHECK(c.deadLettered == 1);
    CHECK(c.throttled == 10);
    CHECK(c.durationMsSum == 90 * 4 + 10 * 80 + 60'000);
    CHECK(c.latency[0] == 90);
    CHECK(c.latency[4] == 10);
    CHECK(c.latency.back() == 1);
    // p50: within the first bucket, linear from 0 to 5 ms.
    CHECK(*latencyQuantile(c, 0.5) == doctest::Approx(5.0 * 50.5 / 90));
    // p95: the 100 ms bucket (50..100 ms), 5.95 of its 10 in.
    CHECK(*latencyQuantile(c, 0.95) == doctest::Approx(50 + 50 * (95.95 - 90) / 10));
    // Beyond the last bound: the bound.
    CHECK(*latencyQuantile(c, 0.999) == doctest::Approx(30'000));
    MinuteCounts twice = c;
    twice += c;
    CHECK(twice.attempts == 202);
    CHECK(twice.latency[4] == 20);
    CHECK(latencyColumns().size() == kLatencyBoundsMs.size() + 1);
}

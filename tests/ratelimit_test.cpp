#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "core/clock.h"
#include "ratelimit/aimd.h"
#include "ratelimit/token_bucket.h"

using namespace webhookd;

namespace {

int takeAll(TokenBucket& b, int64_t now)
{
    int n = 0;
    while (n < 1'000'000 && b.tryTake(now))
        ++n;
    return n;
}

} // namespace

TEST_CASE("ratelimit: a bucket starts full")
{
    FakeClock clock;
    TokenBucket b = TokenBucket::full(2.0, 5, clock.nowMs());
    CHECK(b.tokens == doctest::Approx(5.0));
    CHECK(b.updatedAtMs == clock.nowMs());
    CHECK(takeAll(b, clock.nowMs()) == 5);
}

TEST_CASE("ratelimit: a burst of N passes, then requests are refused")
{
    FakeClock clock;
    for (int burst : {1, 3, 10}) {
        CAPTURE(burst);
        TokenBucket b = TokenBucket::full(1.0, burst, clock.nowMs());
        for (int i = 0; i < burst; ++i)
            CHECK(b.tryTake(clock.nowMs()));
        CHECK_FALSE(b.tryTake(clock.nowMs()));
        CHECK_FALSE(b.tryTake(clock.nowMs()));
    }
}

TEST_CASE("ratelimit: tokens refill at the rate")
{
    FakeClock clock;
    TokenBucket b = TokenBucket::full(4.0, 4, clock.nowMs()); // one token per 250 ms
    REQUIRE(takeAll(b, clock.nowMs()) == 4);
    clock.advance(249);
    CHECK_FALSE(b.tryTake(clock.nowMs()));
    clock.advance(1);
    CHECK(b.tryTake(clock.nowMs()));
    CHECK_FALSE(b.tryTake(clock.nowMs()));
    clock.advance(750);
    CHECK(takeAll(b, clock.nowMs()) == 3);
    SUBCASE("fractional rates accumulate across calls")
    {
        TokenBucket slow = TokenBucket::full(0.5, 1, clock.nowMs()); // one token per 2 s
        REQUIRE(slow.tryTake(clock.nowMs()));
        for (int i = 0; i < 3; ++i) {
            clock.advance(500);
            CHECK_FALSE(slow.tryTake(clock.nowMs()));
        }
        clock.advance(500);
        CHECK(slow.tryTake(clock.nowMs()));
    }
}

TEST_CASE("ratelimit: a bucket never holds more than its burst")
{
    FakeClock clock;
    TokenBucket b = TokenBucket::full(100.0, 3, clock.nowMs());
    REQUIRE(takeAll(b, clock.nowMs()) == 3);
    clock.advance(3'600'000);
    b.refill(clock.nowMs());
    CHECK(b.tokens == doctest::Approx(3.0));
    CHECK(takeAll(b, clock.nowMs()) == 3);
}

TEST_CASE("ratelimit: msUntilToken says when the k-th further token exists")
{
    FakeClock clock;
    TokenBucket b = TokenBucket::full(4.0, 2, clock.nowMs());
    REQUIRE(takeAll(b, clock.nowMs()) == 2);
    CHECK(b.msUntilToken(1) == 250);
    CHECK(b.msUntilToken(2) == 500);
    CHECK(b.msUntilToken(4) == 1000);
    SUBCASE("a partly refilled bucket needs less")
    {
        clock.advance(100);
        CHECK_FALSE(b.tryTake(clock.nowMs()));
        CHECK(b.msUntilToken(1) == 150);
        clock.advance(150);
        CHECK(b.tryTake(clock.nowMs()));
    }
    SUBCASE("the promise holds: after that long a token is there")
    {
        for (int k = 1; k <= 2; ++k) { // up to the burst
            TokenBucket c = b;
            const int64_t wait = c.msUntilToken(k);
            const int64_t at = clock.nowMs() + wait;
            CHECK(takeAll(c, at) == k);
            TokenBucket d = b;
            CHECK(takeAll(d, at - 1) < k);
        }
    }
    SUBCASE("never zero, so a deferred request is not retried in a busy loop")
    {
        TokenBucket fast = TokenBucket::full(1e6, 1, clock.nowMs());
        REQUIRE(fast.tryTake(clock.nowMs()));
        CHECK(fast.msUntilToken(1) >= 1);
    }
}

TEST_CASE("ratelimit: a clock going backwards invents no tokens")
{
    FakeClock clock;
    TokenBucket b = TokenBucket::full(1.0, 2, clock.nowMs());
    REQUIRE(takeAll(b, clock.nowMs()) == 2);
    clock.jumpWall(-60'000);
    CHECK_FALSE(b.tryTake(clock.nowMs()));
    CHECK(b.tokens < 1.0);
    SUBCASE("time after the jump earns tokens from the new instant")
    {
        clock.jumpWall(1000); // 1 s after the jump, 59 s before the last take
        CHECK(b.tryTake(clock.nowMs()));
        CHECK_FALSE(b.tryTake(clock.nowMs()));
    }
    SUBCASE("refilling after the jump is still capped at the burst")
    {
        clock.jumpWall(60'000);
        CHECK(takeAll(b, clock.nowMs()) == 2);
    }
}

TEST_CASE("aimd: a signal halves the rate, at most once a second, down to the floor")
{
    AimdInput in;
    in.ceiling = 40.0;
    in.signalStatus = 429;
    auto c = nextRate({}, in, 10'000);
    CHECK(c.cut);
    CHECK(*c.after.current == doctest::Approx(20.0));
    CHECK(c.after.signalAt == 10'000);
    // A second 429 within the second changes nothing.
    CHECK_FALSE(nextRate(c.after, in, 10'999).changed);
    auto again = nextRate(c.after, in, 11'000);
    CHECK(*again.after.current == doctest::Approx(10.0));
    AimdState s = again.after;
    for (int i = 0; i < 20; ++i)
        s = nextRate(s, in, 12'000 + 1000 * i).after;
    CHECK(*s.current == doctest::Approx(1.0)); // the default floor: one a second
    CHECK(atFloor(s, std::nullopt));
    CHECK_FALSE(atFloor(again.after, std::nullopt));
    CHECK_FALSE(atFloor(AimdState{}, std::nullopt)); // not throttled
    in.minRate = 2.0;
    CHECK(*nextRate(again.after, in, 13'000).after.current == doctest::Approx(5.0));
    CHECK(*nextRate(AimdState{3.0, 0, 0}, in, 13'000).after.current == doctest::Approx(2.0));
    // 502, 503 and 504 are signals; 500 is not.
    for (int code : {502, 503, 504})
        CHECK(isThrottleSignal(code));
    CHECK_FALSE(isThrottleSignal(500));
    CHECK_FALSE(isThrottleSignal(422));
}

TEST_CASE("aimd: the first cut starts from the rate the target was measured to be sent at, never a guess")
{
    AimdInput in;
    in.signalStatus = 503;
    in.ceiling = 40.0;
    in.observedRate = 6.0; // sent 6/s although allowed 40/s
    CHECK(*nextRate({}, in, 10'000).after.current == doctest::Approx(3.0));
    in.observedRate = 90.0; // counted over a second that held a burst: never above the ceiling
    CHECK(*nextRate({}, in, 10'000).after.current == doctest::Approx(20.0));
    in.ceiling.reset();
    in.observedRate = 30.0;
    CHECK(*nextRate({}, in, 10'000).after.current == doctest::Approx(15.0));
    in.observedRate = 1.0; // one blip on a quiet target: held at the floor, 1/s
    CHECK(*nextRate({}, in, 10'000).after.current == doctest::Approx(1.0));
}

TEST_CASE("aimd: successes climb back by the step per second, and reaching the ceiling ends the throttling")
{
    AimdInput ok;
    ok.ceiling = 10.0;
    ok.succeeded = true;
    AimdState s{2.0, 0, 0};
    CHECK_FALSE(nextRate(s, ok, 999).changed); // within the second of the cut
    auto up = nextRate(s, ok, 1000);
    CHECK(*up.after.current == doctest::Approx(3.0));
    // Time climbs, not only the successes: three seconds later, three steps.
    auto later = nextRate(up.after, ok, 4000);
    CHECK(*later.after.current == doctest::Approx(6.0));
    ok.step = 0.5;
    CHECK(*nextRate(later.after, ok, 5000).after.current == doctest::Approx(6.5));
    ok.step.reset();
    auto top = nextRate(later.after, ok, 8000);
    CHECK(top.changed);
    CHECK_FALSE(top.after.current); // 6 + 4 reached 10: back at the configured rate
    // Not throttled: a success changes nothing.
    CHECK_FALSE(nextRate(AimdState{}, ok, 9000).changed);
}

TEST_CASE("aimd: without a configured rate it starts from what was sent and lifts after a quiet minute")
{
    AimdInput in;
    in.observedRate = 30;
    in.signalStatus = 503;
    auto cut = nextRate({}, in, 0);
    CHECK(*cut.after.current == doctest::Approx(15.0));
    AimdInput ok;
    ok.succeeded = true;
    auto climbing = nextRate(cut.after, ok, 30'000);
    REQUIRE(climbing.after.current);
    CHECK(*climbing.after.current == doctest::Approx(45.0));
    auto lifted = nextRate(climbing.after, ok, 60'000);
    CHECK(lifted.changed);
    CHECK_FALSE(lifted.after.current);
    CHECK(effectiveRate(std::nullopt, std::nullopt) == std::nullopt);
    CHECK(*effectiveRate(5.0, 3.0) == doctest::Approx(3.0));
    CHECK(*effectiveRate(2.0, std::nullopt) == doctest::Approx(2.0));
}

TEST_CASE("aimd: a sawtooth against a receiver of fixed capacity stays near it")
{
    // A receiver that answers 429 above 50/s: the rate saws between about
    // half and all of 50, never collapsing to the floor or running away.
    const double capacity = 50;
    AimdInput in;
    in.ceiling = 500.0;
    AimdState s{100.0, 0, 0};
    double low = 1e9, high = 0;
    for (int64_t t = 1000; t <= 300'000; t += 1000) {
        const double rate = *effectiveRate(s.current, in.ceiling);
        in.signalStatus = rate > capacity ? 429 : 0;
        in.succeeded = true;
        s = nextRate(s, in, t).after;
        if (t > 60'000) {
            low = std::min(low, *effectiveRate(s.current, in.ceiling));
            high = std::max(high, *effectiveRate(s.current, in.ceiling));
        }
    }
    CHECK(low >= capacity / 2 - 1);
    CHECK(high <= capacity + 1);
}

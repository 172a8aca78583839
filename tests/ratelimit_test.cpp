#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "core/clock.h"
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

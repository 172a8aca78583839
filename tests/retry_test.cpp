#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <climits>

#include "retry/retry.h"

using namespace webhookd;

namespace {

constexpr double kAlmostOne = 0.999999999;

Outcome response(int status)
{
    Outcome o;
    o.statusCode = status;
    return o;
}

Outcome transport(TransportError e)
{
    Outcome o;
    o.error = e;
    o.errorMessage = "failed";
    return o;
}

const char* verdictName(Verdict v)
{
    switch (v) {
    case Verdict::Delivered: return "delivered";
    case Verdict::Retry: return "retry";
    case Verdict::DeadLetter: return "dead letter";
    }
    return "?";
}

} // namespace

TEST_CASE("retry: without jitter the delay doubles from the initial delay")
{
    RetryPolicy p; // 1 s, x2, 60 s max, ±10 %
    const int64_t expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (int n = 1; n <= 9; ++n) {
        CAPTURE(n);
        CHECK(backoffDelay(p, n, 0.5) == expected[n - 1]);
    }
}

TEST_CASE("retry: the delay follows the policy's own numbers")
{
    RetryPolicy p;
    p.initialDelayMs = 250;
    p.multiplier = 3.0;
    p.maxDelayMs = 10'000;
    p.jitter = 0.0;
    CHECK(backoffDelay(p, 1, 0.0) == 250);
    CHECK(backoffDelay(p, 2, 0.9) == 750);
    CHECK(backoffDelay(p, 3, 0.1) == 2250);
    CHECK(backoffDelay(p, 4, 0.5) == 6750);
    CHECK(backoffDelay(p, 5, 0.5) == 10'000);
    SUBCASE("a multiplier of 1 keeps the delay constant")
    {
        p.multiplier = 1.0;
        CHECK(backoffDelay(p, 1, 0.5) == 250);
        CHECK(backoffDelay(p, 20, 0.5) == 250);
    }
}

TEST_CASE("retry: the delay never exceeds max_delay plus jitter")
{
    RetryPolicy p;
    for (int n = 1; n <= 64; ++n)
        for (double u : {0.0, 0.25, 0.5, 0.75, kAlmostOne}) {
            CAPTURE(n);
            CAPTURE(u);
            int64_t d = backoffDelay(p, n, u);
            CHECK(d <= 66'000);
            CHECK(d >= 900);
        }
    p.jitter = 0;
    CHECK(backoffDelay(p, 30, kAlmostOne) == 60'000);
}

TEST_CASE("retry: jitter moves the delay by at most the jitter factor")
{
    RetryPolicy p;
    SUBCASE("u = 0 gives the lower bound")
    {
        CHECK(backoffDelay(p, 1, 0.0) == 900);
        CHECK(backoffDelay(p, 3, 0.0) == 3600);
        CHECK(backoffDelay(p, 10, 0.0) == 54'000);
    }
    SUBCASE("u just below 1 approaches the upper bound")
    {
        CHECK(backoffDelay(p, 1, kAlmostOne) == 1100);
        CHECK(backoffDelay(p, 3, kAlmostOne) == 4400);
        CHECK(backoffDelay(p, 10, kAlmostOne) == 66'000);
    }
    SUBCASE("a larger factor widens the range")
    {
        p.jitter = 0.5;
        CHECK(backoffDelay(p, 2, 0.0) == 1000);
        CHECK(backoffDelay(p, 2, kAlmostOne) == 3000);
        CHECK(backoffDelay(p, 2, 0.75) == 2500);
    }
}

TEST_CASE("retry: the delay is never negative")
{
    RetryPolicy p;
    p.jitter = 1.0;
    CHECK(backoffDelay(p, 1, 0.0) == 0);
    p.jitter = 1.5; // out of the stored range, but the function still holds its promise
    CHECK(backoffDelay(p, 1, 0.0) == 0);
    CHECK(backoffDelay(p, 5, 0.1) == 0);
    p.initialDelayMs = 0;
    p.jitter = 0.1;
    CHECK(backoffDelay(p, 3, 0.0) == 0);
    SUBCASE("attempt numbers below 1 count as the first attempt")
    {
        RetryPolicy q;
        CHECK(backoffDelay(q, 0, 0.5) == 1000);
        CHECK(backoffDelay(q, -7, 0.5) == 1000);
    }
}

TEST_CASE("retry: huge attempt numbers do not overflow")
{
    RetryPolicy p;
    CHECK(backoffDelay(p, 1000, 0.5) == 60'000);
    CHECK(backoffDelay(p, INT_MAX, 0.5) == 60'000);
    p.multiplier = 100.0;
    p.maxDelayMs = INT64_C(86'400'000) * 365;
    CHECK(backoffDelay(p, INT_MAX, 0.5) == p.maxDelayMs);
    CHECK(backoffDelay(p, 100, 0.0) == static_cast<int64_t>(static_cast<double>(p.maxDelayMs) * 0.9));
}

TEST_CASE("retry: 2xx responses are delivered")
{
    for (int code : {200, 201, 202, 204, 299}) {
        CAPTURE(code);
        CHECK(verdictName(classify(response(code))) == std::string("delivered"));
    }
}

TEST_CASE("retry: 408, 429 and 5xx responses are retried")
{
    for (int code : {408, 429, 500, 501, 502, 503, 504, 599}) {
        CAPTURE(code);
        CHECK(verdictName(classify(response(code))) == std::string("retry"));
    }
}

TEST_CASE("retry: transport failures are retried")
{
    for (TransportError e : {TransportError::Timeout, TransportError::Connect, TransportError::Dns, TransportError::Tls,
                             TransportError::Other}) {
        CAPTURE(transportErrorName(e));
        CHECK(verdictName(classify(transport(e))) == std::string("retry"));
    }
}

TEST_CASE("retry: a blocked address or a bad URL goes to the dead-letter queue")
{
    for (TransportError e : {TransportError::BlockedAddress, TransportError::BadUrl}) {
        CAPTURE(transportErrorName(e));
        CHECK(verdictName(classify(transport(e))) == std::string("dead letter"));
    }
}

TEST_CASE("retry: redirects and other 4xx responses go to the dead-letter queue")
{
    for (int code : {300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 499}) {
        CAPTURE(code);
        CHECK(verdictName(classify(response(code))) == std::string("dead letter"));
    }
}

TEST_CASE("retry: only 429 and 503 honour Retry-After")
{
    CHECK(honoursRetryAfter(429));
    CHECK(honoursRetryAfter(503));
    for (int code : {200, 408, 500, 502, 504})
        CHECK_FALSE(honoursRetryAfter(code));
}

TEST_CASE("retry: parseRetryAfter reads delta-seconds")
{
    const int64_t now = 1'700'000'000'000;
    CHECK(parseRetryAfter("120", now) == 120'000);
    CHECK(parseRetryAfter(" 5 ", now) == 5000);
    CHECK(parseRetryAfter(" 1\r\n", now) == 1000); // as curl passes a header line
    CHECK(parseRetryAfter("0", now) == 0);
    CHECK(parseRetryAfter("5\r", now) == 5000);
    SUBCASE("an absurd number is clamped, not wrapped")
    {
        auto r = parseRetryAfter("99999999999999999999999", now);
        REQUIRE(r);
        CHECK(*r > 0);
        auto s = parseRetryAfter("9223372036854775807", now);
        REQUIRE(s);
        CHECK(*s > 0);
    }
}

TEST_CASE("retry: parseRetryAfter reads an IMF-fixdate relative to now")
{
    // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
    const int64_t at = INT64_C(784111777) * 1000;
    CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at - 120'000) == 120'000);
    CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at - 1) == 1);
    CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at) == 0);
    SUBCASE("a date in the past means now")
    {
        CHECK(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at + 60'000) == 0);
        CHECK(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 1'700'000'000'000) == 0);
    }
}

TEST_CASE("retry: parseRetryAfter refuses anything else")
{
    const int64_t now = 1'700'000'000'000;
    for (const char* text : {"", "   ", "soon", "1.5", "-5", "5s", "0x10", "12 34", "Sun, 06 Nov 1994 08:49:37",
                             "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Sunday, 06-Nov-94 08:49:37 GMT"}) {
        CAPTURE(text);
        CHECK_FALSE(parseRetryAfter(text, now).has_value());
    }
}

TEST_CASE("retry: nextAttemptDelay treats Retry-After as a floor")
{
    RetryPolicy p;
    const int64_t hour = 3'600'000;
    SUBCASE("without Retry-After it is the backoff")
    {
        CHECK(nextAttemptDelay(p, 2, 0.5, std::nullopt, hour) == 2000);
        CHECK(nextAttemptDelay(p, 2, 0.0, std::nullopt, hour) == 1800);
    }
    SUBCASE("a longer Retry-After wins") { CHECK(nextAttemptDelay(p, 1, 0.5, 30'000, hour) == 30'000); }
    SUBCASE("a shorter Retry-After does not shorten the backoff")
    {
        CHECK(nextAttemptDelay(p, 4, 0.5, 1000, hour) == 8000);
        CHECK(nextAttemptDelay(p, 4, 0.5, 0, hour) == 8000);
    }
    SUBCASE("jitter never reduces Retry-After")
    {
        CHECK(nextAttemptDelay(p, 1, 0.0, 5000, hour) == 5000);
        p.jitter = 1.0;
        CHECK(nextAttemptDelay(p, 1, 0.0, 5000, hour) == 5000);
    }
    SUBCASE("Retry-After is capped")
    {
        CHECK(nextAttemptDelay(p, 1, 0.5, 10 * hour, hour) == hour);
        CHECK(nextAttemptDelay(p, 1, 0.5, INT64_MAX / 2, hour) == hour);
        CHECK(nextAttemptDelay(p, 1, 0.5, 5000, 3000) == 3000);
    }
}

TEST_CASE("retry: named schedules and lists of delays, with jitter")
{
    auto sw = parseRetrySchedule("standard-webhooks");
    REQUIRE(sw);
    CHECK(sw->size() == 9);
    CHECK(sw->front() == 5000);
    CHECK(sw->back() == 24 * 3'600'000LL);
    CHECK(retryScheduleName(*sw) == "standard-webhooks");
    auto svix = parseRetrySchedule("svix");
    REQUIRE(svix);
    CHECK(*svix == std::vector<int64_t>{5000, 300'000, 1'800'000, 7'200'000, 18'000'000, 36'000'000, 36'000'000});
    CHECK(parseRetrySchedule("exponential")->empty());
    auto list = parseRetrySchedule("10s,1m30s,2h");
    REQUIRE(list);
    CHECK(*list == std::vector<int64_t>{10'000, 90'000, 7'200'000});
    CHECK(retryScheduleName(*list) == "10s,90s,2h");
    for (const char* bad : {"", "10s,,1m", "fast", "10s,-1s", "5x"})
        CHECK_MESSAGE(!parseRetrySchedule(bad), bad);
    CHECK(parseRetrySchedule("nope").error().message().find("standard-webhooks") != std::string::npos);

    RetryPolicy p;
    p.schedule = *list;
    p.jitter = 0;
    CHECK(backoffDelay(p, 1, 0.5) == 10'000);
    CHECK(backoffDelay(p, 2, 0.5) == 90'000);
    CHECK(backoffDelay(p, 3, 0.5) == 7'200'000);
    CHECK(backoffDelay(p, 9, 0.5) == 7'200'000); // the last repeats
    p.jitter = 0.1;
    CHECK(backoffDelay(p, 1, 0.0) == 9'000);
    CHECK(backoffDelay(p, 1, 1.0) == 11'000);
}

TEST_CASE("retry: a 429 with Retry-After does not use up the budget, 20 times at most")
{
    RetryPolicy p;
    p.maxAttempts = 2;
    Outcome throttled;
    throttled.statusCode = 429;
    throttled.retryAfterMs = 30'000;
    // The budget is spent (2 of 2), yet the throttle retries, after Retry-After.
    auto d = decide(throttled, p, 2, 0.5, 1000, 3'600'000, 0);
    CHECK(d.verdict == Verdict::Retry);
    CHECK(d.freeThrottle);
    CHECK(d.nextAttemptAt >= 31'000);
    // After 20 free throttles they count again.
    auto spent = decide(throttled, p, 2, 0.5, 1000, 3'600'000, 20);
    CHECK(spent.verdict == Verdict::DeadLetter);
    CHECK_FALSE(spent.freeThrottle);
    // A 429 without Retry-After, or a 503 with it, counts as usual.
    Outcome bare;
    bare.statusCode = 429;
    CHECK(decide(bare, p, 2, 0.5, 1000, 3'600'000, 0).verdict == Verdict::DeadLetter);
    Outcome unavailable = throttled;
    unavailable.statusCode = 503;
    CHECK(decide(unavailable, p, 2, 0.5, 1000, 3'600'000, 0).verdict == Verdict::DeadLetter);
}

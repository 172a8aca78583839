#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/patterns.h"

using namespace webhookd;

TEST_CASE("routing: a pattern without a star matches only the exact type")
{
    CHECK(matchPattern("cost.alert", "cost.alert"));
    CHECK_FALSE(matchPattern("cost.alert", "cost.alerts"));
    CHECK_FALSE(matchPattern("cost.alert", "cost"));
    CHECK_FALSE(matchPattern("cost.alert", "my.cost.alert"));
    CHECK_FALSE(matchPattern("cost.alert", "Cost.Alert"));
    CHECK_FALSE(matchPattern("cost.alert", ""));
}

TEST_CASE("routing: a trailing star matches any rest, dots included")
{
    CHECK(matchPattern("optimization.*", "optimization.started"));
    CHECK(matchPattern("optimization.*", "optimization.run.finished"));
    CHECK(matchPattern("optimization.*", "optimization."));
    CHECK_FALSE(matchPattern("optimization.*", "optimization"));
    CHECK_FALSE(matchPattern("optimization.*", "optimizations.started"));
    CHECK_FALSE(matchPattern("optimization.*", "pre.optimization.started"));
}

TEST_CASE("routing: a lone star matches every type")
{
    for (const char* type : {"a", "cost.alert", "x.y.z", "-_."})
        CHECK(matchPattern("*", type));
    CHECK(matchPattern("**", "cost.alert"));
}

TEST_CASE("routing: a leading star matches any prefix")
{
    CHECK(matchPattern("*.alert", "cost.alert"));
    CHECK(matchPattern("*.alert", "a.b.alert"));
    CHECK_FALSE(matchPattern("*.alert", "alert"));
    CHECK_FALSE(matchPattern("*.alert", "cost.alerts"));
    CHECK_FALSE(matchPattern("*.alert", "cost.alert.x"));
}

TEST_CASE("routing: a star in the middle matches any run between fixed parts")
{
    CHECK(matchPattern("a.*.c", "a.b.c"));
    CHECK(matchPattern("a.*.c", "a.b.b.c"));
    CHECK(matchPattern("a.*.c", "a..c"));
    CHECK_FALSE(matchPattern("a.*.c", "a.c"));
    CHECK_FALSE(matchPattern("a.*.c", "a.b.c.d"));
    CHECK_FALSE(matchPattern("a.*.c", "b.b.c"));
    SUBCASE("backtracking finds a later match")
    {
        CHECK(matchPattern("a*b*c", "axbxbxc"));
        CHECK(matchPattern("*ab", "aab"));
        CHECK_FALSE(matchPattern("a*b*c", "axbxbx"));
    }
}

TEST_CASE("routing: patterns never match part of a type")
{
    CHECK_FALSE(matchPattern("cost", "cost.alert"));
    CHECK_FALSE(matchPattern("alert", "cost.alert"));
    CHECK_FALSE(matchPattern("st.al", "cost.alert"));
    CHECK_FALSE(matchPattern("cost.*", "xcost.alert"));
}

TEST_CASE("routing: matchesAny with no patterns takes every event")
{
    const std::vector<std::string> none;
    CHECK(matchesAny(none, "cost.alert"));
    CHECK(matchesAny(none, "anything"));
    const std::vector<std::string> some{"cost.alert", "optimization.*"};
    CHECK(matchesAny(some, "cost.alert"));
    CHECK(matchesAny(some, "optimization.done"));
    CHECK_FALSE(matchesAny(some, "cost.report"));
    CHECK_FALSE(matchesAny(some, "optimization"));
}

TEST_CASE("routing: validatePattern allows the event-type alphabet and stars")
{
    for (const char* p : {"cost.alert", "*", "optimization.*", "*.alert", "a.*.c", "A-b_c.9*"}) {
        CAPTURE(p);
        CHECK(validatePattern(p));
    }
    for (std::string p : {std::string(""), std::string("a b"), std::string("a?"), std::string("a/b"),
                          std::string("[ab]"), std::string("a,b"), std::string(201, 'a')}) {
        CAPTURE(p);
        auto r = validatePattern(p);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
    CHECK(validatePattern(std::string(200, 'a')));
}

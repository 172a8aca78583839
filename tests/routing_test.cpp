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

// Payload filters (routing/payload_filter.h).

#include "routing/payload_filter.h"
#include "support/filter_table.h"

TEST_CASE("filters: DESIGN's table of filters and payloads")
{
    for (const auto& c : test::filterTable()) {
        CAPTURE(c.filter);
        CAPTURE(c.payload);
        auto f = PayloadFilter::parse(c.filter);
        REQUIRE_MESSAGE(f, f.error().message());
        const auto payload = nlohmann::json::parse(c.payload);
        CHECK(f->matches(payload) == c.matches);
        CHECK(f->whyNot(payload).has_value() == !c.matches);
    }
}

TEST_CASE("filters: a bad filter is refused with one sentence")
{
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"not json", "not valid JSON"},
        {"[]", "a filter is an object"},
        {R"({"path":"$.a","op":"like","value":1})", "operator \"like\" is not one of"},
        {R"({"path":"amount","op":"eq","value":1})", "starts with $"},
        {R"({"path":"$..a","op":"eq","value":1})", "is not a path"},
        {R"({"path":"$.1a","op":"eq","value":1})", "is not a path"},
        {R"({"path":"$[01]","op":"eq","value":1})", "leading zero"},
        {R"({"path":"$[\"a]","op":"eq","value":1})", "no closing quote"},
        {R"({"path":"$.a","op":"eq"})", "has no value"},
        {R"({"path":"$.a","op":"gt","value":[1]})", "compares with a number or a string"},
        {R"({"path":"$.a","op":"in","value":1})", "takes an array"},
        {R"({"path":"$.a","op":"exists","value":"yes"})", "true or false"},
        {R"({"path":"$.a","op":"prefix","value":1})", "takes a string"},
        {R"({"path":"$.a","op":"eq","value":1,"extra":2})", "unknown key \"extra\""},
        {R"({"all":{"path":"$.a","op":"eq","value":1}})", "takes an array"},
        {R"({"all":[],"any":[]})", "has no other keys"},
        {R"({"path":1,"op":"eq","value":1})", "path is a string"},
    };
    for (const auto& [text, expected] : bad) {
        CAPTURE(text);
        auto f = PayloadFilter::parse(text);
        REQUIRE_FALSE(f);
        CHECK(f.error().message().find(expected) != std::string::npos);
        CHECK(f.error().message().find('\n') == std::string::npos);
    }
}

TEST_CASE("filters: the limits on depth, conditions and size")
{
    auto nest = [](int levels) {
        std::string s = R"({"path":"$.a","op":"eq","value":1})";
        for (int i = 1; i < levels; ++i)
            s = "{\"not\":" + s + "}";
        return s;
    };
    CHECK(PayloadFilter::parse(nest(8)));
    auto deep = PayloadFilter::parse(nest(9));
    REQUIRE_FALSE(deep);
    CHECK(deep.error().message() == "the filter is nested deeper than 8 levels");
    // Far deeper than the parser should ever recurse: refused before parsing.
    CHECK_FALSE(PayloadFilter::parse(std::string(100000, '[') + std::string(100000, ']')));

    auto many = [](int n) {
        std::string s = R"({"all":[)";
        for (int i = 0; i < n; ++i)
            s += std::string(i ? "," : "") + R"({"path":"$.a","op":"ne","value":)" + std::to_string(i) + "}";
        return s + "]}";
    };
    CHECK(PayloadFilter::parse(many(64)));
    auto tooMany = PayloadFilter::parse(many(65));
    REQUIRE_FALSE(tooMany);
    CHECK(tooMany.error().message() == "the filter has more than 64 conditions");

    const std::string big = R"({"path":"$.a","op":"eq","value":")" + std::string(17000, 'x') + "\"}";
    auto large = PayloadFilter::parse(big);
    REQUIRE_FALSE(large);
    CHECK(large.error().message() == "the filter is larger than 16 KiB");
}

TEST_CASE("filters: whyNot names the first condition that failed and what the payload holds")
{
    auto f = PayloadFilter::parse(
        R"({"all":[{"path":"$.currency","op":"eq","value":"EUR"},{"path":"$.amount","op":"gte","value":10000}]})");
    REQUIRE(f);
    CHECK(f->whyNot(nlohmann::json::parse(R"({"currency":"EUR","amount":500})")) ==
          "$.amount gte 10000 failed: the payload has 500 there");
    CHECK(f->whyNot(nlohmann::json::parse(R"({"amount":50000})")) ==
          "$.currency eq \"EUR\" failed: the payload has no $.currency");
    CHECK_FALSE(f->whyNot(nlohmann::json::parse(R"({"currency":"EUR","amount":10000})")));
    // Stored and shown as compact JSON with sorted keys.
    CHECK(f->text() ==
          R"({"all":[{"op":"eq","path":"$.currency","value":"EUR"},{"op":"gte","path":"$.amount","value":10000}]})");
}

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/duration.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/text.h"
#include "core/utf8.h"
#include "core/validate.h"
#include "records/batch_line.h"

using namespace webhookd;

TEST_CASE("core: parseDuration reads every unit")
{
    CHECK(parseDuration("250ms").value() == 250);
    CHECK(parseDuration("30s").value() == 30'000);
    CHECK(parseDuration("5m").value() == 300'000);
    CHECK(parseDuration("2h").value() == 7'200'000);
    CHECK(parseDuration("7d").value() == 604'800'000);
    CHECK(parseDuration("0s").value() == 0);
}

TEST_CASE("core: parseDuration rejects malformed text as Invalid")
{
    for (const char* text : {"", "5", "5x", "-1s", "1.5s", " 5s", "5s ", "s", "ms", "5 s", "5S", "+5s", "0x10s"}) {
        CAPTURE(text);
        auto r = parseDuration(text);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
}

TEST_CASE("core: parseDuration refuses anything longer than ten years, never wrapping around")
{
    SUBCASE("the number itself does not fit") { CHECK_FALSE(parseDuration("99999999999999999999ms")); }
    SUBCASE("the number fits but the milliseconds do not")
    {
        CHECK_FALSE(parseDuration("9223372036854775807s"));
        CHECK_FALSE(parseDuration("9223372036854775807ms"));
        CHECK_FALSE(parseDuration("106751991167301d"));
    }
    SUBCASE("3650d is the longest, in any spelling")
    {
        CHECK(parseDuration("3650d").value() == kMaxDurationMs);
        CHECK(parseDuration("520w10d").value() == kMaxDurationMs);
        CHECK_FALSE(parseDuration("3651d"));
        CHECK_FALSE(parseDuration("3650d1ms"));
        CHECK(parseDuration("3650d").value() == 3650LL * 86'400'000);
        CHECK(parseDuration("3651d").error().message().find("10 years") != std::string::npos);
    }
}

TEST_CASE("core: parseDuration reads compounds, largest unit first")
{
    CHECK(parseDuration("1h30m").value() == 5'400'000);
    CHECK(parseDuration("2d12h").value() == 216'000'000);
    CHECK(parseDuration("1m30s500ms").value() == 90'500);
    CHECK(parseDuration("2w").value() == 14LL * 86'400'000);
    CHECK_FALSE(parseDuration("30m1h")); // out of order
    CHECK_FALSE(parseDuration("1h1h"));  // repeated
    CHECK_FALSE(parseDuration("1h30"));  // a number without a unit
    CHECK_FALSE(parseDuration("1.5h"));  // no fractions
    CHECK_FALSE(parseDuration("1H"));    // units are lower case
    CHECK_FALSE(parseDuration("+5m"));
    CHECK_FALSE(parseDuration("-5m"));
}

TEST_CASE("core: parseIsoTime reads ISO-8601 times with a zone, and dates")
{
    CHECK(parseIsoTime("2021-02-25T15:02:10.123Z").value() == 1614265330123);
    CHECK(parseIsoTime("2021-02-25T15:02:10Z").value() == 1614265330000);
    CHECK(parseIsoTime("2021-02-25T15:02Z").value() == 1614265320000);
    CHECK(parseIsoTime("2021-02-25T16:02:10+01:00").value() == 1614265330000);
    CHECK(parseIsoTime("2021-02-25T14:02:10-0100").value() == 1614265330000);
    CHECK(parseIsoTime("2021-02-25").value() == 1614211200000);
    CHECK_FALSE(parseIsoTime("2021-02-25T15:02:10"));  // no zone: not guessed
    CHECK_FALSE(parseIsoTime("2021-02-30T00:00:00Z")); // no such day
    CHECK_FALSE(parseIsoTime("2021-13-01"));
    CHECK_FALSE(parseIsoTime("yesterday"));
    SUBCASE("a duration means that long ago")
    {
        CHECK(parseTimeOrAgo("7d", 1'000'000'000'000).value() == 1'000'000'000'000 - 7 * 86'400'000);
        CHECK(parseTimeOrAgo("2021-02-25", 0).value() == 1614211200000);
        CHECK_FALSE(parseTimeOrAgo("soon", 0));
    }
}

TEST_CASE("core: time arithmetic saturates instead of overflowing")
{
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    CHECK(saturatingAdd(kMax - 1, 10) == kMax);
    CHECK(saturatingAdd(std::numeric_limits<int64_t>::min() + 1, -10) == std::numeric_limits<int64_t>::min());
    CHECK(saturatingAdd(5, -3) == 2);
}

TEST_CASE("core: formatDuration picks the largest exact unit")
{
    CHECK(formatDuration(0) == "0ms");
    CHECK(formatDuration(1500) == "1500ms");
    CHECK(formatDuration(1000) == "1s");
    CHECK(formatDuration(90'000) == "90s");
    CHECK(formatDuration(300'000) == "5m");
    CHECK(formatDuration(7'200'000) == "2h");
    CHECK(formatDuration(604'800'000) == "7d");
    CHECK(formatDuration(86'400'001) == "86400001ms");
}

TEST_CASE("core: formatDuration output parses back to the same value")
{
    for (int64_t ms : {1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL, 90'000'000LL, 172'800'000LL}) {
        CAPTURE(ms);
        CHECK(parseDuration(formatDuration(ms)).value() == ms);
    }
}

TEST_CASE("core: isoTime prints UTC with milliseconds and Z")
{
    CHECK(isoTime(0) == "1970-01-01T00:00:00.000Z");
    CHECK(isoTime(1) == "1970-01-01T00:00:00.001Z");
    CHECK(isoTime(1614265330123) == "2021-02-25T15:02:10.123Z");
    CHECK(isoTime(1700000000000) == "2023-11-14T22:13:20.000Z");
    CHECK(isoTime(951782400999) == "2000-02-29T00:00:00.999Z");
    CHECK(isoTime(4102444799500) == "2099-12-31T23:59:59.500Z");
}

TEST_CASE("core: newMessageUid is msg_ and 26 base32 characters without dots")
{
    const std::string uid = newMessageUid(1700000000000);
    CHECK(uid.size() == 30);
    CHECK(uid.rfind("msg_", 0) == 0);
    CHECK(uid.find('.') == std::string::npos);
    for (char c : uid.substr(4)) {
        CAPTURE(c);
        CHECK(std::string("0123456789ABCDEFGHJKMNPQRSTVWXYZ").find(c) != std::string::npos);
    }
}

TEST_CASE("core: newMessageUid sorts by creation time")
{
    SUBCASE("consecutive milliseconds")
    {
        std::string previous = newMessageUid(1700000000000);
        for (int64_t ms = 1700000000001; ms < 1700000000200; ++ms) {
            std::string next = newMessageUid(ms);
            CAPTURE(ms);
            CHECK(previous < next);
            previous = next;
        }
    }
    SUBCASE("far apart times")
    {
        CHECK(newMessageUid(0) < newMessageUid(1));
        CHECK(newMessageUid(1614265330123) < newMessageUid(1700000000000));
        CHECK(newMessageUid(1700000000000) < newMessageUid((int64_t{1} << 47) + 5));
    }
    SUBCASE("two at the same millisecond differ but share the time prefix")
    {
        std::string a = newMessageUid(1700000000000);
        std::string b = newMessageUid(1700000000000);
        CHECK(a != b);
        // 48 bits of time fill the first 10 digits (50 bits, top two zero).
        CHECK(a.substr(0, 14) == b.substr(0, 14));
    }
}

TEST_CASE("core: validateEventType and validateTargetId accept slugs and refuse the rest")
{
    CHECK(validateEventType("cost.alert"));
    CHECK(validateEventType("A-b_c.9"));
    CHECK(validateEventType(std::string(200, 'x')));
    CHECK_FALSE(validateEventType(std::string(201, 'x')));
    CHECK_FALSE(validateEventType(""));
    CHECK_FALSE(validateEventType("cost alert"));
    CHECK_FALSE(validateEventType("cost/alert"));
    CHECK_FALSE(validateEventType("cost.*"));
    CHECK(validateEventType("a\nb").error().is(Error::Kind::Invalid));

    CHECK(validateTargetId("billing-prod_1.eu"));
    CHECK(validateTargetId(std::string(64, 'a')));
    CHECK_FALSE(validateTargetId(std::string(65, 'a')));
    CHECK_FALSE(validateTargetId(""));
    CHECK_FALSE(validateTargetId("a b"));
    CHECK_FALSE(validateTargetId("é"));
    CHECK(validateTargetId("a:b").error().is(Error::Kind::Invalid));
}

TEST_CASE("core: validateUrl accepts http and https URLs with a host")
{
    for (const char* url : {"http://example.com", "https://example.com/hook", "http://127.0.0.1:8080/x?y=1",
                            "https://hooks.example.com:443/a/b#frag", "http://[::1]:9000/", "http://x",
                            "http://user@host/", "https://example.com:65535"}) {
        CAPTURE(url);
        CHECK(validateUrl(url));
    }
}

TEST_CASE("core: redactUrl hides the password or token in a URL's userinfo and nothing else")
{
    CHECK(redactUrl("https://user:hunter2@example.com/x?a=b@c") == "https://user:***@example.com/x?a=b@c");
    CHECK(redactUrl("https://tok3n@example.com/") == "https://***@example.com/");
    CHECK(redactUrl("https://u:p:q@example.com") == "https://u:***@example.com");
    CHECK(redactUrl("https://example.com/a@b") == "https://example.com/a@b");
    CHECK(redactUrl("http://[::1]:80/") == "http://[::1]:80/");
    CHECK(redactUrl("not a url") == "not a url");
    // Error messages about a bad URL do not repeat its password.
    auto r = validateUrl("http://user:hunter2@/");
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("hunter2") == std::string::npos);
}

TEST_CASE("core: redactLocator hides a database password in every form libpq takes, and nothing else")
{
    SUBCASE("URL user info")
    {
        CHECK(redactLocator("postgres://webhookd:S3cret@127.0.0.1:5432/wh") ==
              "postgres://webhookd:***@127.0.0.1:5432/wh");
        CHECK(redactLocator("postgresql://u:p%40ss@h/db?sslmode=require") == "postgresql://u:***@h/db?sslmode=require");
        CHECK(redactLocator("postgres://webhookd@127.0.0.1/wh") == "postgres://webhookd@127.0.0.1/wh");
    }
    SUBCASE("query parameters")
    {
        CHECK(redactLocator("postgres://webhookd@h:5/nodb?password=S3cret") ==
              "postgres://webhookd@h:5/nodb?password=***");
        CHECK(redactLocator("postgres://h/db?sslmode=require&password=S3cret&application_name=x") ==
              "postgres://h/db?sslmode=require&password=***&application_name=x");
        CHECK(redactLocator("postgres://u:p@h/db?sslpassword=k3y#frag") ==
              "postgres://u:***@h/db?sslpassword=***#frag");
        CHECK(redactLocator("postgres://h/db?mypassword=x") == "postgres://h/db?mypassword=x");
    }
    SUBCASE("keyword/value")
    {
        CHECK(redactLocator("host=x password=S3cret dbname=y") == "host=x password=*** dbname=y");
        CHECK(redactLocator("host=x password = 'a b\\'c' dbname=y") == "host=x password = *** dbname=y");
        CHECK(redactLocator("password=S3cret") == "password=***");
        CHECK(redactLocator("host=x sslpassword=k3y") == "host=x sslpassword=***");
    }
    SUBCASE("files")
    {
        CHECK(redactLocator("./webhooks.db") == "./webhooks.db");
        CHECK(redactLocator("sqlite:/var/lib/webhookd/password=x.db") == "sqlite:/var/lib/webhookd/password=x.db");
    }
    for (const char* l : {"postgres://a:S3cret@h/d", "postgres://h/d?password=S3cret", "host=h password=S3cret",
                          "host=h password='S3cret'"})
        CHECK(redactLocator(l).find("S3cret") == std::string::npos);
}

TEST_CASE("core: validateUrl refuses other schemes, missing hosts and unsafe characters")
{
    SUBCASE("scheme")
    {
        for (const char* url : {"ftp://example.com", "HTTP://x", "Https://x", "example.com", "//example.com",
                                "file:///etc/passwd", "http:/x", ""}) {
            CAPTURE(url);
            auto r = validateUrl(url);
            REQUIRE_FALSE(r);
            CHECK(r.error().is(Error::Kind::Invalid));
        }
    }
    SUBCASE("host")
    {
        for (const char* url : {"http://", "http:///x", "https://?q", "http://:80/", "http://user@/"}) {
            CAPTURE(url);
            CHECK_FALSE(validateUrl(url));
        }
    }
    SUBCASE("characters")
    {
        for (std::string url :
             {std::string("http://exa mple.com"), std::string("http://x/a b"), std::string("http://x/\r\nHost: y"),
              std::string("http://x/\n"), std::string("http://x/\t"), std::string("http://x/\x7f"),
              std::string("http://x/\0", 10)}) {
            CAPTURE(url);
            CHECK_FALSE(validateUrl(url));
        }
    }
    SUBCASE("port")
    {
        for (const char* url : {"http://x:", "http://x:0", "http://x:65536", "http://x:99999", "http://x:123456",
                                "http://x:8o", "http://x:-1", "http://x:+80"}) {
            CAPTURE(url);
            CHECK_FALSE(validateUrl(url));
        }
    }
    SUBCASE("length")
    {
        std::string url = "http://x/" + std::string(2039, 'a');
        CHECK(url.size() == 2048);
        CHECK(validateUrl(url));
        CHECK_FALSE(validateUrl(url + "a"));
    }
}

TEST_CASE("core: validateHeader refuses names webhookd sets, in any case")
{
    for (const char* name : {"Content-Type", "content-length", "HOST", "Transfer-Encoding", "User-Agent", "connection",
                             "webhook-id", "Webhook-Signature", "WEBHOOK-TIMESTAMP", "webhook-custom"}) {
        CAPTURE(name);
        auto r = validateHeader(name, "v");
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
    CHECK(validateHeader("X-Webhook-Id", "v"));
    CHECK(validateHeader("Authorization", "Bearer abc"));
    CHECK(validateHeader("X-Api-Key", ""));
}

TEST_CASE("core: validateHeader refuses CR, LF and NUL in values")
{
    CHECK_FALSE(validateHeader("X-A", "a\r\nX-B: c"));
    CHECK_FALSE(validateHeader("X-A", "a\rb"));
    CHECK_FALSE(validateHeader("X-A", "a\nb"));
    CHECK_FALSE(validateHeader("X-A", std::string("a\0b", 3)));
    CHECK(validateHeader("X-A", "a\tb c:d"));
}

TEST_CASE("core: validateHeader requires a token as the name")
{
    for (std::string name : {std::string(""), std::string("X A"), std::string("X:A"), std::string("X-A\r"),
                             std::string("X(A)"), std::string("X\"A"), std::string("X/A"), std::string("é")}) {
        CAPTURE(name);
        CHECK_FALSE(validateHeader(name, "v"));
    }
    CHECK(validateHeader("X!#$%&'*+-.^_`|~1", "v"));
}

TEST_CASE("core: validateHeader enforces the size limit on name plus value")
{
    Limits limits;
    limits.maxHeaderBytes = 10;
    CHECK(validateHeader("X-A", "1234567", limits));
    CHECK_FALSE(validateHeader("X-A", "12345678", limits));
    CHECK(validateHeader("X-A", std::string(8 * 1024 - 3, 'v')));
    CHECK_FALSE(validateHeader("X-A", std::string(8 * 1024 - 2, 'v')));
}

TEST_CASE("core: validatePayload accepts JSON and refuses invalid or oversize text")
{
    CHECK(validatePayload("{}"));
    CHECK(validatePayload("{\"a\": [1, 2.5, null, true, \"x\"]}"));
    CHECK(validatePayload("42"));
    for (const char* bad : {"", "{", "{'a': 1}", "{\"a\": 1,}", "nope", "{} {}"}) {
        CAPTURE(bad);
        auto r = validatePayload(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
    Limits limits;
    limits.maxPayloadBytes = 10;
    CHECK(validatePayload("[1,2,3,45]", limits));
    auto r = validatePayload("[1,2,3,456]", limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("10") != std::string::npos);
}

TEST_CASE("core: Error::toString is kind, colon, message")
{
    CHECK(Error::notFound("there is no target 'x'").toString() == "not found: there is no target 'x'");
    CHECK(Error::invalid("bad").toString() == "invalid: bad");
    CHECK(Error::readOnly("ro").toString() == "read-only: ro");
    CHECK(Error::busy("b").toString() == "busy: b");
    Error e = Error::conflict("taken");
    CHECK(e.is(Error::Kind::Conflict));
    CHECK_FALSE(e.is(Error::Kind::Invalid));
    CHECK(e.message() == "taken");
}

TEST_CASE("log: JSON lines write numbers and booleans as JSON numbers and booleans, text as strings")
{
    const Log::Fields fields = {{"count", int64_t{7}},        {"size", size_t{1048576}}, {"attempt", 3},
                                {"duration_ms", 0.412},       {"https_only", false},     {"id", "007"},
                                {"target", std::string("m")}, {"quote", "a \"b\"\n"}};
    const std::string line = Log::format(LogFormat::Json, LogLevel::Info, "2026-01-02T03:04:05.006Z", "hello", fields);
    INFO(line);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["time"] == "2026-01-02T03:04:05.006Z");
    CHECK(j["level"] == "info");
    CHECK(j["msg"] == "hello");
    CHECK(j["count"].is_number_integer());
    CHECK(j["count"] == 7);
    CHECK(j["size"] == 1048576);
    CHECK(j["attempt"] == 3);
    CHECK(j["duration_ms"].is_number_float());
    CHECK(j["duration_ms"] == 0.412);
    CHECK(j["https_only"].is_boolean());
    CHECK(j["https_only"] == false);
    // Text that looks like a number stays text: the caller chose the type.
    CHECK(j["id"].is_string());
    CHECK(j["id"] == "007");
    CHECK(j["quote"] == "a \"b\"\n");
    // Keys keep their order, after time, level and msg.
    CHECK(line.find("\"count\":7,\"size\":1048576,\"attempt\":3,\"duration_ms\":0.412,\"https_only\":false,"
                    "\"id\":\"007\"") != std::string::npos);
    // JSON has no NaN: null rather than a line that does not parse.
    const auto nan =
        nlohmann::json::parse(Log::format(LogFormat::Json, LogLevel::Warn, "t", "m", {{"x", std::nan("")}, {"y", -2}}));
    CHECK(nan["x"].is_null());
    CHECK(nan["y"] == -2);
}

TEST_CASE("log: text lines write numbers bare and quote only text that needs it")
{
    const std::string line =
        Log::format(LogFormat::Text, LogLevel::Warn, "T", "target paused",
                    {{"target", "m"}, {"count", 12}, {"ok", true}, {"reason", "3 failed"}, {"empty", ""}, {"ms", 1.5}});
    CHECK(line == "T warn target paused target=m count=12 ok=true reason=\"3 failed\" empty=\"\" ms=1.5");
}

TEST_CASE("core: FakeClock moves only when told to")
{
    FakeClock clock(1000);
    CHECK(clock.nowMs() == 1000);
    CHECK(clock.monotonicMs() == 0);
    clock.advance(250);
    CHECK(clock.nowMs() == 1250);
    CHECK(clock.monotonicMs() == 250);
    SUBCASE("a wall jump leaves monotonic time alone")
    {
        clock.jumpWall(-5000);
        CHECK(clock.nowMs() == -3750);
        CHECK(clock.monotonicMs() == 250);
    }
    SUBCASE("the default start is a fixed instant") { CHECK(FakeClock().nowMs() == 1'700'000'000'000); }
}

TEST_CASE("json_text: a payload is validated as RFC 8259 text, whatever its numbers")
{
    for (const char* ok : {"123456789012345678901234567890", "1e400", "-0", "{\"a\":1.50}", " 1 ", "true", "null",
                           "\"\\ud83d\\ude00\"", "[]", "{}", "{\"a\":{\"b\":[1,{\"c\":null}]}}"}) {
        CAPTURE(ok);
        CHECK(json_text::validate(ok, 512));
    }
    for (const char* bad : {"", "01", "1.", "[1,2", "{\"a\":1}x", "nul", "\"a\tb\"", "\"\\ud83d\"", "{a:1}", "[1,]",
                            "\"\\x\"", "'a'", "\xff", "\"\xc3\""}) {
        CAPTURE(bad);
        CHECK_FALSE(json_text::validate(bad, 512));
    }
    std::string deep(513, '[');
    deep += std::string(513, ']');
    CHECK(json_text::validate(deep, 512).error().message() == "nests arrays and objects deeper than 512 levels");
    CHECK(json_text::validate(deep.substr(1, 1024), 512));
}

TEST_CASE("json_text: text nested too deep carries Code::TooDeep, invalid text does not")
{
    std::string deep(4, '[');
    deep += std::string(4, ']');
    CHECK(json_text::validate(deep, 3).error().is(Error::Code::TooDeep));
    CHECK(json_text::validate("[1,", 3).error().is(Error::Code::None));
    CHECK(json_text::objectMembers("{\"a\":[[]]}", 2).error().is(Error::Code::TooDeep));
    CHECK(json_text::arrayElements("[]", 0).error().is(Error::Code::TooDeep));
    Limits shallow;
    shallow.maxJsonDepth = 3;
    CHECK(validatePayload(deep, shallow).error().is(Error::Code::TooDeep));
    CHECK(Error::conflict("x")
              .withCode(Error::Code::IdempotencyKeyReused)
              .prefixed("event 1: ")
              .is(Error::Code::IdempotencyKeyReused));
}

TEST_CASE("json_text: an object's members keep the exact text of each value")
{
    const std::string line = R"({"type":"a.b", "data" :  {"b":1,"a":2,"n":1.50,"big":12345678901234567890123} })";
    auto m = json_text::objectMembers(line, 513);
    REQUIRE(m);
    REQUIRE(m->size() == 2);
    CHECK((*m)[0].key == "type");
    CHECK((*m)[0].raw == "\"a.b\"");
    CHECK((*m)[1].raw == R"({"b":1,"a":2,"n":1.50,"big":12345678901234567890123})");
    CHECK(json_text::objectMembers(R"({"a":1,"a":2})", 8).error().message() == "\"a\" is given twice");
    CHECK(json_text::stringValue(R"("a\"b\\c\/d\n\u00e9\ud83d\ude00")").value() ==
          "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(json_text::integerValue("42") == 42);
    CHECK_FALSE(json_text::integerValue("4.2"));
    CHECK_FALSE(json_text::integerValue("99999999999999999999"));
}

TEST_CASE("batch line: data is stored byte for byte, as send --data stores it")
{
    // Security review F14: digits, key order and spelling survive.
    const std::string data = R"({"b":1,"a":2,"n":1.50,"big":12345678901234567890123,"e":1e2,"u":18446744073709551617})";
    auto e = parseBatchLine(R"({"type":"x","data":)" + data + R"(,"priority":5,"targets":["t1","t2"]})");
    REQUIRE(e);
    CHECK(e->payload == data);
    CHECK(e->priority == 5);
    CHECK(e->targets == std::vector<std::string>{"t1", "t2"});
    CHECK(parseBatchLine(R"({"type":"x","data":1e400})").value().payload == "1e400");
    CHECK_FALSE(parseBatchLine(R"({"type":"x","type":"y"})"));
    CHECK(parseBatchLine(R"({"type":"x","dat":1})").error().message() == "unknown field \"dat\"");
}

TEST_CASE("utf8: validation, boundaries, repair and printing")
{
    CHECK(utf8::valid("caf\xc3\xa9"));
    CHECK_FALSE(utf8::valid("caf\xe9"));          // Latin-1
    CHECK_FALSE(utf8::valid("\xc0\xaf"));         // overlong
    CHECK_FALSE(utf8::valid("\xed\xa0\x80"));     // a surrogate
    CHECK_FALSE(utf8::valid("\xf4\x90\x80\x80")); // above U+10FFFF
    // A 16 KiB cut inside "é" moves back to the character's start (F4).
    const std::string text = "a" + std::string("\xc3\xa9") + "b";
    CHECK(utf8::boundary(text, 2) == 1);
    CHECK(utf8::boundary(text, 3) == 3);
    CHECK(utf8::boundary(text, 10) == 4);
    CHECK(utf8::sanitize("ok\xff\xfe!") == "ok\xef\xbf\xbd\xef\xbf\xbd!");
    // What either store holds as it is: U+0000 becomes U+FFFD as well.
    using namespace std::string_literals;
    CHECK(utf8::storable("\xff\xfe\0\x01 not text \x80\x81"s) ==
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x01 not text \xef\xbf\xbd\xef\xbf\xbd");
    CHECK(utf8::storable("\0\0"s) == "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(utf8::storable("plain \xc3\xa9") == "plain \xc3\xa9");
    CHECK(utf8::hasControl("a\x1b[31m"));
    CHECK(utf8::hasControl("a\xc2\x9b")); // C1 CSI
    CHECK_FALSE(utf8::hasControl("tab\there", true));
    CHECK(utf8::printable("evil\x1b[31mRED") == "evil\\x1B[31mRED");
    CHECK(utf8::printable("\xff") == "\\xFF");
}

TEST_CASE("text: suggestions, thousands and plurals")
{
    CHECK(closestMatch("tagret", {"target", "send", "stats"}) == "target");
    CHECK(closestMatch("concurency", {"concurrency", "lease"}) == "concurrency");
    CHECK_FALSE(closestMatch("xyz", {"target", "send"}));
    CHECK(withThousands(6010) == "6,010");
    CHECK(withThousands(-1234567) == "-1,234,567");
    CHECK(withThousands(999) == "999");
    CHECK(plural(1, "delivery", "deliveries") == "1 delivery");
    CHECK(plural(2500, "event", "events") == "2,500 events");
}

TEST_CASE("validate: text fields are UTF-8 without control characters (F11)")
{
    CHECK(validateText("Caf\xc3\xa9", "the name", 200));
    CHECK_FALSE(validateText("Caf\xe9", "the name", 200));
    CHECK_FALSE(validateText("a\x1b[31m", "the name", 200));
    CHECK(validateText("a\x1b", "the name", 200).error().message() ==
          "the name must be UTF-8 text without control characters");
    CHECK_FALSE(validateUrl("http://127.0.0.1:18081/\xff"));
    CHECK_FALSE(validateHeader("X-A", "b\x01c"));
    CHECK(validateHeader("X-A", "tab\tok"));
}

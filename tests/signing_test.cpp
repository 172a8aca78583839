#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "signing/signing.h"

using namespace webhookd;

namespace {

struct Vector {
    const char* secret;
    const char* id;
    int64_t timestamp;
    const char* payload;
    const char* signature;
};

// From the Standard Webhooks specification and its reference libraries.
const Vector kVectors[] = {
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})",
     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    {"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
     R"({"email":"test@example.com","username":"test_user"})", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
};

const Vector& v1 = kVectors[0];

VerifyRequest request(const Vector& v, std::vector<std::string> secrets = {})
{
    VerifyRequest r;
    r.secrets = secrets.empty() ? std::vector<std::string>{v.secret} : std::move(secrets);
    r.id = v.id;
    r.timestamp = std::to_string(v.timestamp);
    r.signatureHeader = v.signature;
    return r;
}

int64_t atMs(int64_t seconds) { return seconds * 1000; }

bool isBase64Char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
        c == '=';
}

} // namespace

TEST_CASE("signing: signStandard reproduces the Standard Webhooks test vectors")
{
    for (const auto& v : kVectors) {
        CAPTURE(v.id);
        auto key = secretKey(v.secret);
        REQUIRE(key);
        CHECK(signStandard(*key, v.id, v.timestamp, v.payload) == v.signature);
        CHECK(signatureHeader({*key}, v.id, v.timestamp, v.payload) == v.signature);
    }
}

TEST_CASE("signing: signatureHeader signs with every key, space-separated")
{
    auto a = secretKey(kVectors[0].secret);
    auto b = secretKey(kVectors[1].secret);
    REQUIRE(a);
    REQUIRE(b);
    const std::string header = signatureHeader({*a, *b}, v1.id, v1.timestamp, v1.payload);
    CHECK(header == std::string(v1.signature) + " " + signStandard(*b, v1.id, v1.timestamp, v1.payload));
    CHECK(signStandard(*b, v1.id, v1.timestamp, v1.payload) != v1.signature);
}

TEST_CASE("signing: hmacSha256 matches RFC 4231 test case 2")
{
    const std::string mac = hmacSha256("Jefe", {"what do ya want ", "for nothing?"});
    CHECK(mac.size() == 32);
    CHECK(hexEncode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(hmacSha256("Jefe", {"what do ya want for nothing?"}) == mac);
    CHECK(hmacSha256("Jeff", {"what do ya want for nothing?"}) != mac);
}

TEST_CASE("signing: base64 encodes the RFC 4648 examples and decodes them back")
{
    const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : cases) {
        CAPTURE(plain);
        CHECK(base64Encode(plain) == encoded);
        auto decoded = base64Decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == plain);
    }
    SUBCASE("arbitrary bytes, NUL and high bytes included, survive a round trip")
    {
        std::string bytes;
        for (int i = 0; i < 256; ++i)
            bytes.push_back(static_cast<char>(i));
        for (size_t len : {1u, 2u, 3u, 31u, 32u, 33u, 256u}) {
            CAPTURE(len);
            const std::string part = bytes.substr(256 - len);
            auto decoded = base64Decode(base64Encode(part));
            REQUIRE(decoded);
            CHECK(*decoded == part);
        }
    }
}

TEST_CASE("signing: base64Decode refuses what is not padded standard base64")
{
    for (const char* text : {"Zg", "Zg=", "Zm9", "Zm9v!", "Zm-_", "Zm 9v", "Zm9v\n", "Zg=a",
                             "Z===", "=Zg=", "Zg==Zg==", "Zm9v====", "\xff\xff\xff\xff"}) {
        CAPTURE(text);
        auto r = base64Decode(text);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
}

TEST_CASE("signing: secretKey decodes whsec_ secrets and uses other strings as raw bytes")
{
    SUBCASE("whsec_ is base64")
    {
        auto key = secretKey("whsec_Zm9vYmFy");
        REQUIRE(key);
        CHECK(*key == "foobar");
        auto vectorKey = secretKey(v1.secret);
        REQUIRE(vectorKey);
        CHECK(vectorKey->size() == 24);
    }
    SUBCASE("anything else is its own bytes")
    {
        CHECK(secretKey("my-shared-secret").value() == "my-shared-secret");
        CHECK(secretKey("WHSEC_Zm9vYmFy").value() == "WHSEC_Zm9vYmFy");
        CHECK(secretKey("whsec").value() == "whsec");
    }
    SUBCASE("a bad whsec_ secret is Invalid")
    {
        for (const char* s : {"whsec_", "whsec_not base64", "whsec_Zm9", "whsec_Zm9v!", ""}) {
            CAPTURE(s);
            auto r = secretKey(s);
            REQUIRE_FALSE(r);
            CHECK(r.error().is(Error::Kind::Invalid));
        }
    }
}

TEST_CASE("signing: generateSecret makes 256-bit secrets")
{
    SUBCASE("whsec_ and 44 base64 characters")
    {
        const std::string s = generateSecret();
        REQUIRE(s.size() == 6 + 44);
        CHECK(s.rfind("whsec_", 0) == 0);
        for (char c : s.substr(6))
            CHECK(isBase64Char(c));
        auto key = secretKey(s);
        REQUIRE(key);
        CHECK(key->size() == 32);
        CHECK(generateSecret() != s);
    }
    SUBCASE("64 lowercase hex characters")
    {
        const std::string s = generateSecret(true);
        CHECK(s.size() == 64);
        for (char c : s) {
            CAPTURE(c);
            CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
        }
        CHECK(generateSecret(true) != s);
    }
}

TEST_CASE("signing: hexEncode is lowercase, two digits per byte")
{
    CHECK(hexEncode("") == "");
    CHECK(hexEncode(std::string("\x00\x0f\xab\xff", 4)) == "000fabff");
}

TEST_CASE("signing: verifyStandard accepts the test vectors")
{
    for (const auto& v : kVectors) {
        CAPTURE(v.id);
        CHECK(verifyStandard(request(v), v.payload, atMs(v.timestamp)));
    }
}

TEST_CASE("signing: verifyStandard rejects a tampered body, id or timestamp")
{
    auto check = [](const VerifyRequest& r, std::string_view body) {
        auto s = verifyStandard(r, body, atMs(v1.timestamp));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
    };
    SUBCASE("body") { check(request(v1), R"({"test": 2432232315})"); }
    SUBCASE("body with a trailing newline") { check(request(v1), std::string(v1.payload) + "\n"); }
    SUBCASE("id")
    {
        auto r = request(v1);
        r.id = "msg_p5jXN8AQM9LWM0D4loKWxJeK";
        check(r, v1.payload);
    }
    SUBCASE("timestamp")
    {
        auto r = request(v1);
        r.timestamp = std::to_string(v1.timestamp + 1);
        check(r, v1.payload);
    }
    SUBCASE("signature")
    {
        auto r = request(v1);
        r.signatureHeader = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=";
        check(r, v1.payload);
    }
}

TEST_CASE("signing: verifyStandard rejects a wrong secret and accepts any matching one")
{
    SUBCASE("wrong")
    {
        auto s = verifyStandard(request(v1, {kVectors[1].secret}), v1.payload, atMs(v1.timestamp));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
    }
    SUBCASE("the second of several secrets matches")
    {
        CHECK(
            verifyStandard(request(v1, {kVectors[1].secret, "raw-secret", v1.secret}), v1.payload, atMs(v1.timestamp)));
    }
    SUBCASE("raw secrets sign with their bytes")
    {
        auto r = request(v1, {"raw-secret"});
        r.signatureHeader = signStandard("raw-secret", v1.id, v1.timestamp, v1.payload);
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
    SUBCASE("a malformed secret is Invalid")
    {
        auto s = verifyStandard(request(v1, {"whsec_!!"}), v1.payload, atMs(v1.timestamp));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Invalid));
    }
    SUBCASE("no secret at all is an error")
    {
        auto r = request(v1);
        r.secrets.clear();
        CHECK_FALSE(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
}

TEST_CASE("signing: verifyStandard looks at every signature in the header")
{
    auto r = request(v1);
    SUBCASE("one valid among several")
    {
        r.signatureHeader = "v1,Zm9vYmFy " + std::string(v1.signature) + " v1,YmFyYmF6";
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
    SUBCASE("entries of other versions are ignored")
    {
        r.signatureHeader = "v1a,abc v2,Zm9v " + std::string(v1.signature);
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
    SUBCASE("a valid signature under another version does not count")
    {
        r.signatureHeader = "v2," + std::string(v1.signature).substr(3);
        auto s = verifyStandard(r, v1.payload, atMs(v1.timestamp));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
    }
    SUBCASE("only invalid signatures")
    {
        r.signatureHeader = "v1,Zm9vYmFy v1,YmFyYmF6";
        CHECK_FALSE(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
    SUBCASE("an empty header")
    {
        r.signatureHeader = "";
        CHECK_FALSE(verifyStandard(r, v1.payload, atMs(v1.timestamp)));
    }
}

TEST_CASE("signing: verifyStandard enforces the timestamp tolerance")
{
    auto r = request(v1); // default tolerance: 5 minutes
    SUBCASE("at the edges of the window")
    {
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp + 300)));
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp - 300)));
    }
    SUBCASE("too old")
    {
        auto s = verifyStandard(r, v1.payload, atMs(v1.timestamp + 301));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
        CHECK(s.error().message().find("tolerance") != std::string::npos);
    }
    SUBCASE("too new")
    {
        auto s = verifyStandard(r, v1.payload, atMs(v1.timestamp - 301));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
    }
    SUBCASE("a custom tolerance")
    {
        r.toleranceMs = 10'000;
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp + 10)));
        CHECK_FALSE(verifyStandard(r, v1.payload, atMs(v1.timestamp + 11)));
        r.toleranceMs = 3'600'000;
        CHECK(verifyStandard(r, v1.payload, atMs(v1.timestamp + 3000)));
    }
}

TEST_CASE("signing: verifyStandard rejects a timestamp that is not whole seconds")
{
    for (const char* ts : {"", "abc", "1614265330x", "1614265330.0", " 1614265330", "1614265330000000000000"}) {
        CAPTURE(ts);
        auto r = request(v1);
        r.timestamp = ts;
        auto s = verifyStandard(r, v1.payload, atMs(v1.timestamp));
        REQUIRE_FALSE(s);
        CHECK(s.error().is(Error::Kind::Signing));
    }
}

TEST_CASE("signing: constantTimeEquals compares length and every byte")
{
    CHECK(constantTimeEquals("", ""));
    CHECK(constantTimeEquals("abc", "abc"));
    CHECK_FALSE(constantTimeEquals("abc", "abd"));
    CHECK_FALSE(constantTimeEquals("abc", "Abc"));
    CHECK_FALSE(constantTimeEquals("abc", "abcd"));
    CHECK_FALSE(constantTimeEquals("abc", ""));
    CHECK(constantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
    CHECK_FALSE(constantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// Issue 4: the address guard (every range, every spelling of loopback, live),
// transport (no redirects, --https-only, CA bundles), signature schemes,
// secret rotation, secrets kept out of logs and errors, file modes, and the
// limits on what a receiver can make the worker read.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/validate.h"
#include "delivery/address_guard.h"
#include "signing/signing.h"
#include "storage/database.h"
#include "storage/queue.h"
#include "storage/targets.h"
#include "support/fixture.h"
#include "support/process.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"
#include "worker/request.h"

using namespace webhookd;
using namespace webhookd::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Unlike most end-to-end tests, webhookd runs with the address guard on
// unless a run says --allow-private-networks; targets retry fast; a drain may
// take longer under a sanitizer build.
FixtureOptions guardOn()
{
    FixtureOptions o;
    o.allowPrivateNetworks = false;
    o.targetDefaults = kFastRetry;
    o.drainLimit = 90s;
    return o;
}

// GET /_stats of a receiver listening on host (the support class assumes 127.0.0.1).
json statsAt(const std::string& host, int port)
{
    httplib::Client client(host, port);
    client.set_read_timeout(10, 0);
    auto res = client.Get("/_stats");
    REQUIRE_MESSAGE(res, "the receiver at " << host << " did not answer /_stats");
    return json::parse(res->body);
}

bool ipv6LoopbackWorks()
{
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

} // namespace

// ---------------------------------------------------------------------------
// The address guard, unit by unit.

TEST_CASE("guard: every non-public IPv4 range is refused, with the reason")
{
    const AddressGuard guard;
    const std::vector<std::pair<std::string, std::string>> blocked = {
        {"0.0.0.0", "unspecified"},
        {"0.1.2.3", "unspecified"},
        {"10.0.0.1", "private"},
        {"10.255.255.255", "private"},
        {"100.64.0.1", "carrier-grade"},
        {"100.127.255.254", "carrier-grade"},
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"169.254.169.254", "link-local"},
        {"169.254.0.1", "link-local"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"192.0.0.8", "IETF"},
        {"192.0.2.1", "documentation"},
        {"192.88.99.1", "6to4"},
        {"192.168.1.1", "private"},
        {"198.18.0.1", "benchmarking"},
        {"198.19.255.255", "benchmarking"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.9", "documentation"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.255", "broadcast"},
    };
    for (const auto& [ip, why] : blocked) {
        CAPTURE(ip);
        auto reason = guard.checkText(ip);
        REQUIRE(reason.has_value());
        CHECK(contains(*reason, ip));
        CHECK(contains(*reason, why));
    }
}

TEST_CASE("guard: the neighbours of blocked ranges and public addresses pass")
{
    const AddressGuard guard;
    for (const char* ip : {"1.1.1.1",
                           "8.8.8.8",
                           "9.255.255.255",
                           "11.0.0.1",
                           "100.63.255.255",
                           "100.128.0.1",
                           "126.255.255.255",
                           "128.0.0.1",
                           "169.253.255.255",
                           "169.255.0.1",
                           "172.15.255.255",
                           "172.32.0.1",
                           "192.167.255.255",
                           "192.169.0.1",
                           "198.17.255.255",
                           "198.20.0.1",
                           "223.255.255.255",
                           "2606:4700:4700::1111",
                           "2a00:1450:4001:80b::200e",
                           "::ffff:8.8.8.8",
                           "64:ff9b::8.8.8.8"}) {
        CAPTURE(ip);
        CHECK_FALSE(guard.checkText(ip).has_value());
    }
}

TEST_CASE("guard: every non-public IPv6 range is refused, with the reason")
{
    const AddressGuard guard;
    const std::vector<std::pair<std::string, std::string>> blocked = {
        {"::", "unspecified"},        {"::1", "loopback"},
        {"fc00::1", "unique-local"},  {"fd12:3456::1", "unique-local"},
        {"fe80::1", "link-local"},    {"febf::1", "link-local"},
        {"fec0::1", "site-local"},    {"ff02::1", "multicast"},
        {"ff0e::1", "multicast"},     {"2001:db8::1", "documentation"},
        {"3fff::1", "documentation"}, {"100::1", "discard"},
        {"2001::1", "IETF"},          {"2002:7f00:1::1", "6to4"},
        {"64:ff9b:1::1", "NAT64"},
    };
    for (const auto& [ip, why] : blocked) {
        CAPTURE(ip);
        auto reason = guard.checkText(ip);
        REQUIRE(reason.has_value());
        CHECK(contains(*reason, why));
    }
}

TEST_CASE("guard: IPv4-mapped, -compatible, -translated and NAT64 forms are judged by the IPv4 inside")
{
    const AddressGuard guard;
    const std::vector<std::pair<std::string, std::string>> blocked = {
        {"::ffff:127.0.0.1", "loopback"},     {"::ffff:7f00:1", "loopback"},
        {"::ffff:10.1.2.3", "private"},       {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:0.0.0.0", "unspecified"},    {"::ffff:100.64.0.1", "carrier"},
        {"::127.0.0.1", "loopback"},          {"::10.0.0.1", "private"},
        {"::0.0.0.2", "unspecified"},         {"::ffff:0:127.0.0.1", "loopback"},
        {"::ffff:0:192.168.0.1", "private"},  {"64:ff9b::127.0.0.1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "link-local"}, {"64:ff9b::10.0.0.1", "private"},
        {"::ffff:224.0.0.1", "multicast"},
    };
    for (const auto& [ip, why] : blocked) {
        CAPTURE(ip);
        auto reason = guard.checkText(ip);
        REQUIRE(reason.has_value());
        CHECK(contains(*reason, why));
    }
}

TEST_CASE("guard: --allow-private-networks opens everything; --allow-network opens only its range")
{
    CHECK_FALSE(AddressGuard(true).checkText("127.0.0.1").has_value());
    CHECK_FALSE(AddressGuard(true).checkText("fd00::1").has_value());

    auto loopback = Cidr::parse("127.0.0.0/8");
    auto ula = Cidr::parse("fd00::/8");
    REQUIRE(loopback.has_value());
    REQUIRE(ula.has_value());
    const AddressGuard guard(false, {*loopback, *ula});
    CHECK_FALSE(guard.checkText("127.0.0.1").has_value());
    CHECK_FALSE(guard.checkText("127.200.0.9").has_value());
    CHECK_FALSE(guard.checkText("::ffff:127.0.0.1").has_value());
    CHECK_FALSE(guard.checkText("fd00::1").has_value());
    CHECK(guard.checkText("0.0.0.0").has_value());
    CHECK(guard.checkText("10.0.0.1").has_value());
    CHECK(guard.checkText("::1").has_value());
    CHECK(guard.checkText("fc00::1").has_value());
    CHECK(guard.checkText("169.254.169.254").has_value());

    auto host = Cidr::parse("10.1.2.3");
    REQUIRE(host.has_value());
    const AddressGuard one(false, {*host});
    CHECK_FALSE(one.checkText("10.1.2.3").has_value());
    CHECK(one.checkText("10.1.2.4").has_value());

    for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "fd00::/129", "127.1/8", "localhost/8",
                            "10.0.0.0/-1", "0x7f000001/8"}) {
        CAPTURE(bad);
        CHECK_FALSE(Cidr::parse(bad).has_value());
    }
    CHECK(guard.checkText("not-an-ip").has_value());
}

// ---------------------------------------------------------------------------
// The address guard, live: nothing may reach the receiver.

TEST_CASE("guard: no spelling of loopback reaches a live receiver unless its network is allowed")
{
    Receiver rx;
    const std::string port = std::to_string(rx.port());
    std::optional<Receiver> rx6;
    if (ipv6LoopbackWorks()) {
        try {
            rx6.emplace(std::vector<std::string>{"--host", "::1"});
        } catch (const std::exception& e) {
            MESSAGE("no IPv6 receiver (" << e.what() << "); the [::1] spelling is skipped");
        }
    } else {
        MESSAGE("IPv6 loopback does not work here; the [::1] spelling is skipped");
    }

    Fixture fx(guardOn());
    std::vector<std::pair<std::string, std::string>> targets = {
        {"dotted", "http://127.0.0.1:" + port + "/a"},    {"short", "http://127.1:" + port + "/a"},
        {"hex", "http://0x7f000001:" + port + "/a"},      {"decimal", "http://2130706433:" + port + "/a"},
        {"octal", "http://0177.0.0.1:" + port + "/a"},    {"mapped", "http://[::ffff:127.0.0.1]:" + port + "/a"},
        {"unspecified", "http://0.0.0.0:" + port + "/a"}, {"localhost", "http://localhost:" + port + "/a"},
    };
    if (rx6)
        targets.push_back({"v6loop", "http://[::1]:" + std::to_string(rx6->port()) + "/a"});
    std::map<std::string, int64_t> ids;
    for (const auto& [id, url] : targets) {
        CAPTURE(url);
        fx.addTarget(id, url, {"--max-attempts", "3"});
        ids[id] = fx.send(id);
    }
    fx.drain();

    CHECK(rx.stats()["requests"] == 0);
    if (rx6)
        CHECK(statsAt("::1", rx6->port())["requests"] == 0);
    for (const auto& [id, delivery] : ids) {
        CAPTURE(id);
        json d = fx.show(delivery);
        CHECK(d["status"] == "dead_letter");
        CHECK(d["attempt_count"] == 1); // never retried
        REQUIRE(d["attempts"].size() == 1);
        CHECK(d["attempts"][0]["error_type"] == "blocked_address");
        CHECK(d["attempts"][0]["status_code"].is_null());
        const std::string message = d["attempts"][0]["error_message"];
        CHECK(contains(message, "blocked"));
        CHECK((contains(message, "loopback") || contains(message, "unspecified")));
        CHECK(contains(d["dead_letter_reason"].get<std::string>(), "blocked"));
    }
    CHECK(fx.sqlInt("SELECT count(*) FROM attempts WHERE error_type = 'blocked_address'") ==
          static_cast<int64_t>(ids.size()));

    // Allowing 127.0.0.0/8 (and ::1) lets the loopback spellings through;
    // 0.0.0.0 is not in those ranges and stays blocked.
    fx.ctlOk({"dlq", "retry", "--all"});
    fx.drain({"--allow-network", "127.0.0.0/8", "--allow-network", "::1/128"});
    for (const auto& [id, delivery] : ids) {
        CAPTURE(id);
        json d = fx.show(delivery);
        if (id == "unspecified") {
            CHECK(d["status"] == "dead_letter");
            CHECK(d["attempts"].back()["error_type"] == "blocked_address");
        } else {
            CHECK(d["status"] == "delivered");
        }
    }
    int64_t expected = static_cast<int64_t>(ids.size()) - 1 - (rx6 ? 1 : 0);
    CHECK(rx.stats()["requests"] == expected);
    if (rx6)
        CHECK(statsAt("::1", rx6->port())["requests"] == 1);
}

TEST_CASE("guard: webhookd refuses an --allow-network that is not a CIDR range")
{
    Fixture fx(guardOn());
    Process p = fx.startWorker({"--allow-network", "10.0.0.0/40", "--drain"});
    auto code = p.waitFor(20s);
    REQUIRE(code.has_value());
    CHECK(*code == 2);
    CHECK(contains(p.stderrText(), "prefix"));
}

// ---------------------------------------------------------------------------
// Transport.

// Skipped: needs receiver script steps (location=, big=) and --scheme github,
// which are not built yet.
TEST_CASE("transport: a 301 or 302 is dead-lettered and its Location is not followed")
{
    Receiver rx0;
    const std::string landing = "http://127.0.0.1:" + std::to_string(rx0.port()) + "/landing";
    Receiver rx({"--script", "/moved=301;location=/landing", "--script", "/found=302;location=" + landing, "--script",
                 "/seeother=303;location=/landing", "--script", "/temp=307;location=/landing", "--script",
                 "/perm=308;location=/landing"});
    Fixture fx(guardOn());
    std::map<std::string, int64_t> ids;
    for (const char* path : {"/moved", "/found", "/seeother", "/temp", "/perm"}) {
        fx.addTarget(std::string("r") + (path + 1), rx.url(path));
        ids[path] = fx.send(std::string("r") + (path + 1));
    }
    fx.drain({"--allow-private-networks"});
    for (const auto& [path, id] : ids) {
        CAPTURE(path);
        json d = fx.show(id);
        CHECK(d["status"] == "dead_letter");
        CHECK(d["attempt_count"] == 1);
    }
    json stats = rx.stats();
    CHECK(stats["requests"] == 5);
    CHECK_FALSE(stats["by_path"].contains("/landing"));
    CHECK(rx0.stats()["requests"] == 0);
}

TEST_CASE("transport: --https-only dead-letters plain http targets with a clear error and sends nothing")
{
    Receiver rx;
    Fixture fx(guardOn());
    fx.addTarget("plain", rx.url("/plain"));
    const int64_t id = fx.send("plain");
    fx.drain({"--allow-private-networks", "--https-only"});
    json d = fx.show(id);
    CHECK(d["status"] == "dead_letter");
    CHECK(d["attempt_count"] == 1);
    CHECK(d["attempts"][0]["error_type"] == "bad_url");
    CHECK(contains(d["attempts"][0]["error_message"].get<std::string>(), "https-only"));
    CHECK(rx.stats()["requests"] == 0);
}

TEST_CASE("transport: only http and https URLs are accepted for targets")
{
    Fixture fx(guardOn());
    for (const char* url : {"ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "dict://x/",
                            "HTTP//example.com", "http:///nohost", "http://exa mple.com/"}) {
        CAPTURE(url);
        auto r = fx.ctl({"target", "add", "bad", "--url", url});
        CHECK(r.exitCode == 2);
    }
}

// An HTTPS server with a self-signed certificate for 127.0.0.1 (openssl
// s_server). The certificate verifies only with the CA bundle given.
TEST_CASE("transport: TLS is verified; a CA bundle, per target or global, is what makes a private CA trusted")
{
    REQUIRE_MESSAGE(std::system("command -v openssl >/dev/null 2>&1") == 0,
                    "openssl is not installed (tools/lib/setup.sh installs it)");
    TempDir dir;
    const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
    auto made = run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                     "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert});
    REQUIRE_MESSAGE(made.exitCode == 0, made.err);

    // A receiver behind TLS that answers every POST 200 and prints its port
    // once it listens (Python's http.server and ssl, Debian's python3).
    const std::string tlsReceiver = R"(
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
)";
    Process server = Process::start({"/usr/bin/python3", "-c", tlsReceiver, cert, key});
    const int port = std::stoi(server.readLine(10s));

    // Short timeouts: a transfer that hangs fails as a timeout in 2 s, and
    // the checks below ask for a 200, which no timeout can pass for.
    Fixture fx(guardOn());
    const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/";
    fx.addTarget("untrusted", url, {"--max-attempts", "1", "--timeout", "2s"});
    fx.addTarget("pinned", url, {"--max-attempts", "1", "--timeout", "2s", "--ca-bundle", cert});
    fx.addTarget("global", url, {"--max-attempts", "1", "--timeout", "2s"});
    const int64_t untrusted = fx.send("untrusted");
    const int64_t pinned = fx.send("pinned");
    fx.drain({"--allow-private-networks"});
    CHECK(fx.show(untrusted)["attempts"][0]["error_type"] == "tls");
    json p = fx.show(pinned)["attempts"][0];
    INFO("pinned attempt: " << p.dump());
    CHECK(p["status_code"] == 200);
    CHECK(fx.show(pinned)["status"] == "delivered");

    // The same server through webhookd --ca-bundle.
    fx.ctlOk({"target", "disable", "untrusted"});
    const int64_t global = fx.send("global");
    fx.drain({"--allow-private-networks", "--ca-bundle", cert});
    json g = fx.show(global)["attempts"][0];
    INFO("global attempt: " << g.dump());
    CHECK(g["status_code"] == 200);
    CHECK(fx.show(global)["status"] == "delivered");

    json shown = json::parse(fx.ctlOk({"--json", "target", "show", "pinned"}));
    CHECK(shown["ca_bundle"] == std::filesystem::absolute(cert).lexically_normal().string());
    fx.ctlOk({"target", "update", "pinned", "--ca-bundle", ""});
    CHECK(json::parse(fx.ctlOk({"--json", "target", "show", "pinned"}))["ca_bundle"].is_null());
    CHECK(fx.ctl({"target", "update", "pinned", "--ca-bundle", dir.file("missing.pem")}).exitCode == 2);
    server.kill(SIGTERM);
    server.wait();
}

// ---------------------------------------------------------------------------
// Signature schemes.

TEST_CASE("signing: the github scheme matches GitHub's published vector")
{
    CHECK(signGithub("It's a Secret to Everybody", "Hello, World!") ==
          "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    const std::vector<std::string> secrets = {"It's a Secret to Everybody"};
    const std::string good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    CHECK(verifyGithub(secrets, good, "Hello, World!").has_value());
    CHECK(verifyGithub({"other", "It's a Secret to Everybody"}, good, "Hello, World!").has_value());
    CHECK(verifyGithub(secrets, "sha256=00 " + good, "Hello, World!").has_value());
    CHECK_FALSE(verifyGithub(secrets, good, "Hello, World?").has_value());
    CHECK_FALSE(verifyGithub({"wrong"}, good, "Hello, World!").has_value());
    CHECK_FALSE(verifyGithub(secrets, "sha1=757107ea", "Hello, World!").has_value());
    CHECK_FALSE(verifyGithub(secrets, "", "Hello, World!").has_value());
    CHECK_FALSE(verifyGithub({}, good, "Hello, World!").has_value());
    CHECK(parseSignatureScheme("github") == SignatureScheme::Github);
    CHECK(parseSignatureScheme("standard") == SignatureScheme::Standard);
    CHECK_FALSE(parseSignatureScheme("GitHub").has_value());
}

TEST_CASE("signing: webhookctl sign and verify speak both schemes")
{
    Fixture fx(guardOn());
    const std::string secret = "It's a Secret to Everybody";
    auto out = fx.ctlOk({"sign", "--scheme", "github", "--secret", secret}, std::string("Hello, World!"));
    CHECK(out == "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n");
    const std::string sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    CHECK(fx.ctl({"verify", "--scheme", "github", "--secret", secret, "--signature", sig}, std::string("Hello, World!"))
              .exitCode == 0);
    auto bad =
        fx.ctl({"verify", "--scheme", "github", "--secret", secret, "--signature", sig}, std::string("Hello, World?"));
    CHECK(bad.exitCode == 1);
    CHECK_FALSE(contains(bad.err, secret));
    // The standard scheme still needs --id and --timestamp.
    CHECK(fx.ctl({"verify", "--secret", secret, "--signature", "v1,x"}, std::string("x")).exitCode == 2);
    CHECK(fx.ctl({"sign", "--scheme", "bogus", "--secret", secret}, std::string("x")).exitCode == 2);
}

// Skipped: needs receiver script steps (location=, big=) and --scheme github,
// which are not built yet.
TEST_CASE("signing: a github target is delivered with X-Hub-Signature-256 that the receiver verifies")
{
    const std::string secret = "gh-secret-for-the-test-0001";
    Receiver rx({"--secret", secret, "--scheme", "github"});
    Fixture fx(guardOn());
    fx.addTarget("gh", rx.url("/gh"), {"--scheme", "github", "--secret", secret, "--max-attempts", "1"});
    CHECK(json::parse(fx.ctlOk({"--json", "target", "show", "gh"}))["signature_scheme"] == "github");
    const int64_t id = fx.send("gh", "sec.test", R"({"n":1})");
    fx.drain({"--allow-private-networks"});
    CHECK(fx.show(id)["status"] == "delivered");
    json reqs = rx.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0]["signature_valid"] == true);
    const std::string header = reqs[0]["headers"]["x-hub-signature-256"];
    CHECK(header == signGithub(secret, reqs[0]["body"].get<std::string>()));
    CHECK_FALSE(reqs[0]["headers"].contains("webhook-signature"));

    // Back to standard: the receiver (github) now refuses it, so the scheme is applied.
    fx.ctlOk({"target", "update", "gh", "--scheme", "standard"});
    const int64_t id2 = fx.send("gh", "sec.test", R"({"n":2})");
    fx.drain({"--allow-private-networks"});
    CHECK(fx.show(id2)["status"] == "dead_letter");
    CHECK(fx.ctl({"target", "update", "gh", "--scheme", "hmac"}).exitCode == 2);
    CHECK(fx.ctl({"target", "add", "h2", "--url", rx.url("/x"), "--header", "X-Hub-Signature-256:sha256=0"}).exitCode ==
          2);
}

TEST_CASE("signing: the schema refuses an unknown signature scheme")
{
    Fixture fx(guardOn());
    fx.ctlOk({"target", "add", "s", "--url", "http://example.com/"});
    CHECK_THROWS(fx.sqlExec("UPDATE targets SET signature_scheme = 'md5' WHERE id = 's'"));
    CHECK(fx.sqlText("SELECT signature_scheme FROM targets WHERE id = 's'") == "standard");
}

// ---------------------------------------------------------------------------
// Rotation.

namespace {

ClaimedDelivery claimFor(std::shared_ptr<const Target> target, int64_t createdAt)
{
    ClaimedDelivery d;
    d.id = 1;
    d.attemptNumber = 1;
    d.eventUid = "msg_rotationtest";
    d.type = "rotation.test";
    d.payload = R"({"x":1})";
    d.eventCreatedAt = createdAt;
    d.target = std::move(target);
    return d;
}

std::string headerValue(const HttpRequest& r, const std::string& name)
{
    for (const auto& h : r.headers)
        if (h.rfind(name + ": ", 0) == 0)
            return h.substr(name.size() + 2);
    return {};
}

Status verifyWith(const HttpRequest& r, const std::string& secret, int64_t nowMs)
{
    VerifyRequest v{{secret},
                    headerValue(r, "webhook-id"),
                    headerValue(r, "webhook-timestamp"),
                    headerValue(r, "webhook-signature")};
    return verifyStandard(v, r.body, nowMs);
}

} // namespace

TEST_CASE("rotation: both secrets sign inside the window, only the new one after it")
{
    StoreFixture store;
    FakeClock& clock = store.clock;
    Database& db = store.db;
    TargetSpec spec;
    spec.url = "https://example.com/hook";
    spec.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    REQUIRE(addTarget(db, "rot", spec, clock).has_value());
    auto rotated = rotateSecret(db, "rot", std::string("new-secret-raw-bytes"), 1000, clock);
    REQUIRE(rotated.has_value());

    auto target = std::make_shared<Target>(*getTarget(db, "rot"));
    CHECK(target->previousSecretExpiresAt == clock.nowMs() + 1000);

    SUBCASE("inside the window")
    {
        clock.advance(999);
        HttpRequest r = buildRequest(claimFor(target, clock.nowMs()), clock.nowMs(), "test", 1000).value();
        const std::string sig = headerValue(r, "webhook-signature");
        CHECK(std::count(sig.begin(), sig.end(), ' ') == 1);
        CHECK(verifyWith(r, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", clock.nowMs()).has_value());
        CHECK(verifyWith(r, "new-secret-raw-bytes", clock.nowMs()).has_value());
        CHECK_FALSE(verifyWith(r, "some-other-secret", clock.nowMs()).has_value());
    }
    SUBCASE("at the end of the window and after it")
    {
        for (int64_t step : {1000, 60'000}) {
            clock.advance(step);
            HttpRequest r = buildRequest(claimFor(target, clock.nowMs()), clock.nowMs(), "test", 1000).value();
            const std::string sig = headerValue(r, "webhook-signature");
            CHECK(sig.find(' ') == std::string::npos);
            CHECK(verifyWith(r, "new-secret-raw-bytes", clock.nowMs()).has_value());
            CHECK_FALSE(verifyWith(r, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", clock.nowMs()).has_value());
        }
    }
    SUBCASE("a github target signs with the current secret only")
    {
        auto gh = std::make_shared<Target>(*target);
        gh->signatureScheme = SignatureScheme::Github;
        HttpRequest r = buildRequest(claimFor(gh, clock.nowMs()), clock.nowMs(), "test", 1000).value();
        CHECK(headerValue(r, "X-Hub-Signature-256") == signGithub("new-secret-raw-bytes", r.body));
        CHECK(headerValue(r, "webhook-signature").empty());
    }
}

TEST_CASE("rotation: live, a delivery in the window carries both signatures and one after it carries one")
{
    Receiver rx;
    Fixture fx(guardOn());
    fx.addTarget("rot", rx.url("/rot"), {"--secret", "old-secret-0123456789-abcd"});
    // Long enough for a sanitizer build to send inside it; waited out below.
    fx.ctlOk({"target", "rotate-secret", "rot", "--secret", "new-secret-9876543210-abcd", "--overlap", "5s"});
    const int64_t expiresAt = fx.sqlInt("SELECT previous_secret_expires_at FROM targets WHERE id = 'rot'");
    fx.send("rot", "sec.test", R"({"in":"window"})");
    fx.drain({"--allow-private-networks"});
    while (SystemClock::instance().nowMs() <= expiresAt + 100)
        std::this_thread::sleep_for(50ms);
    fx.send("rot", "sec.test", R"({"in":"after"})");
    fx.drain({"--allow-private-networks"});

    json reqs = rx.requests();
    REQUIRE(reqs.size() == 2);
    REQUIRE_MESSAGE(reqs[0]["time_ms"].get<int64_t>() < expiresAt, "the first delivery missed the 5 s window");
    auto verifies = [&](const json& r, const std::string& secret) {
        return fx.ctl({"verify", "--secret", secret, "--id", r["webhook_id"], "--timestamp", r["webhook_timestamp"],
                       "--signature", r["headers"]["webhook-signature"]},
                      r["body"].get<std::string>())
                   .exitCode == 0;
    };
    const std::string inWindow = reqs[0]["headers"]["webhook-signature"];
    const std::string after = reqs[1]["headers"]["webhook-signature"];
    CHECK(std::count(inWindow.begin(), inWindow.end(), ' ') == 1);
    CHECK(after.find(' ') == std::string::npos);
    CHECK(verifies(reqs[0], "old-secret-0123456789-abcd"));
    CHECK(verifies(reqs[0], "new-secret-9876543210-abcd"));
    CHECK(verifies(reqs[1], "new-secret-9876543210-abcd"));
    CHECK_FALSE(verifies(reqs[1], "old-secret-0123456789-abcd"));
}

// ---------------------------------------------------------------------------
// Secrets.

TEST_CASE("secrets: webhookd at debug level never logs a secret, whatever fails")
{
    const std::string secret = "s3cr3t-VALUE-that-must-not-leak";
    const std::string previous = "pr3vious-VALUE-that-must-not-leak";
    Receiver rx({"--script", "/fail=500", "--script", "/reject=401"});
    Fixture fx(guardOn());
    fx.addTarget("failing", rx.url("/fail"), {"--secret", previous, "--max-attempts", "2"});
    fx.ctlOk({"target", "rotate-secret", "failing", "--secret", secret});
    fx.addTarget("rejecting", rx.url("/reject"), {"--secret", secret});
    fx.addTarget("blocked", "http://10.255.255.1:9/x", {"--secret", secret});
    fx.addTarget("nohost", "http://no-such-host.invalid/x", {"--secret", secret, "--max-attempts", "1"});
    fx.send("failing");
    fx.send("rejecting");
    fx.send("blocked");
    fx.send("nohost");
    const std::string err = fx.drain({"--log-level", "debug", "--allow-network", "127.0.0.0/8"});
    CHECK(lines(err).size() >= 3);
    CHECK_FALSE(contains(err, secret));
    CHECK_FALSE(contains(err, previous));
    CHECK_FALSE(contains(err, "VALUE-that-must-not-leak"));
    // Nor in what was recorded about the attempts.
    for (const auto& row :
         fx.sqlRows("SELECT coalesce(error_message, '') || coalesce(response_excerpt, '') FROM attempts"
                    " UNION ALL SELECT coalesce(last_error, '') FROM deliveries"
                    " UNION ALL SELECT reason FROM dead_letters"))
        CHECK_FALSE(contains(row.at(0), "VALUE-that-must-not-leak"));
}

TEST_CASE("secrets: webhookctl error messages never echo a bad secret")
{
    Fixture fx(guardOn());
    const std::string bad = "whsec_!!not*base64*SECRETVALUE!!";
    fx.ctlOk({"target", "add", "t", "--url", "http://example.com/", "--secret", "good-secret-value-0123456"});
    std::vector<std::vector<std::string>> commands = {
        {"target", "add", "t2", "--url", "http://example.com/", "--secret", bad},
        {"target", "update", "t", "--secret", bad},
        {"target", "rotate-secret", "t", "--secret", bad},
        {"sign", "--secret", bad, "--id", "msg_1", "--timestamp", "1"},
        {"verify", "--secret", bad, "--id", "msg_1", "--timestamp", "1", "--signature", "v1,abc"},
        {"target", "add", "t3", "--url", "ftp://x/", "--secret", "SECRETVALUE-plain"},
        {"target", "rotate-secret", "t", "--secret", "good-secret-value-0123456"},
    };
    for (const auto& args : commands) {
        CAPTURE(args[0] + " " + args[1]);
        auto r = fx.ctl(args, std::string("{}"));
        CHECK(r.exitCode != 0);
        CHECK_FALSE(r.err.empty());
        CHECK_FALSE(contains(r.err, "SECRETVALUE"));
        CHECK_FALSE(contains(r.out, "SECRETVALUE"));
        CHECK_FALSE(contains(r.err, "good-secret-value-0123456"));
    }
    // Masked unless asked for.
    for (std::vector<std::string> args :
         {std::vector<std::string>{"target", "list"}, std::vector<std::string>{"target", "show", "t"},
          std::vector<std::string>{"--json", "target", "list"},
          std::vector<std::string>{"--json", "target", "show", "t"}}) {
        CHECK_FALSE(contains(fx.ctlOk(args), "good-secret-value-0123456"));
        args.push_back("--show-secret");
        CHECK(contains(fx.ctlOk(args), "good-secret-value-0123456"));
    }
}

TEST_CASE("secrets: credentials in a target's URL and auth headers are masked in listings unless --show-secret")
{
    Fixture fx(guardOn());
    fx.ctlOk({"target", "add", "c", "--url", "https://hook:URLPASSWORD@example.com/in", "--header",
              "Authorization: Bearer HEADERTOKEN", "--header", "X-Api-Key: APIKEYVALUE", "--header",
              "X-Team: visible-team"});
    for (std::vector<std::string> args :
         {std::vector<std::string>{"target", "list"}, std::vector<std::string>{"target", "show", "c"},
          std::vector<std::string>{"--json", "target", "list"},
          std::vector<std::string>{"--json", "target", "show", "c"}}) {
        CAPTURE(args.back());
        std::string shown = fx.ctlOk(args);
        CHECK_FALSE(contains(shown, "URLPASSWORD"));
        if (args.back() != "list") { // the table has no header column
            CHECK_FALSE(contains(shown, "HEADERTOKEN"));
            CHECK_FALSE(contains(shown, "APIKEYVALUE"));
            CHECK(contains(shown, "visible-team"));
        }
        CHECK(contains(shown, "hook:***@example.com"));
        args.push_back("--show-secret");
        std::string full = fx.ctlOk(args);
        CHECK(contains(full, "URLPASSWORD"));
        if (args[args.size() - 2] != "list")
            CHECK(contains(full, "HEADERTOKEN"));
    }
    auto bad = fx.ctl({"target", "update", "c", "--url", "https://hook:URLPASSWORD@/"});
    CHECK(bad.exitCode != 0);
    CHECK_FALSE(contains(bad.err, "URLPASSWORD"));
}

TEST_CASE("secrets: the database and its -wal and -shm files are mode 0600")
{
    const mode_t old = ::umask(022);
    Receiver rx;
    Fixture fx(guardOn());
    fx.addTarget("m", rx.url("/m"));
    fx.send("m");
    Process worker = fx.startWorker({"--allow-private-networks"});
    const std::string db = fx.db();
    REQUIRE(
        waitUntil([&] { return fx.sqlInt("SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 1; }, 30s));
    for (const std::string& path : {db, db + "-wal", db + "-shm"}) {
        CAPTURE(path);
        struct stat st { };
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
    }
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);
    struct stat st { };
    REQUIRE(::stat(db.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    ::umask(old);
}

// ---------------------------------------------------------------------------
// Limits.

namespace {

int64_t peakRssKiB(pid_t pid)
{
    std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoll(line.substr(6));
    return -1;
}

} // namespace

// Skipped: needs receiver script steps (location=, big=) and --scheme github,
// which are not built yet.
TEST_CASE("limits: a receiver streaming a gigabyte costs one too_large attempt, not the worker's memory")
{
    Receiver rx({"--script", "/huge=big=1073741824", "--script", "/fits=big=500000"});
    Fixture fx(guardOn());
    fx.addTarget("huge", rx.url("/huge"), {"--max-attempts", "1", "--timeout", "20s"});
    fx.addTarget("fits", rx.url("/fits"), {"--max-attempts", "1"});
    const int64_t huge = fx.send("huge");
    const int64_t fits = fx.send("fits");
    Process worker = fx.startWorker({"--allow-private-networks"});
    REQUIRE(waitUntil([&] { return fx.sqlInt("SELECT count(*) FROM attempts") == 2; }, 60s));
    const int64_t peak = peakRssKiB(worker.pid());
    worker.kill(SIGTERM);
    CHECK(worker.wait() == 0);

    json d = fx.show(huge);
    CHECK(d["status"] == "dead_letter");
    CHECK(d["attempts"][0]["error_type"] == "too_large");
    CHECK(contains(d["attempts"][0]["error_message"].get<std::string>(), "1048576"));
    CHECK(d["attempts"][0]["duration_ms"].get<int64_t>() < 15'000);
    CHECK(fx.sqlInt("SELECT max(length(response_excerpt)) FROM attempts") <= 16 * 1024);
    CHECK(fx.show(fits)["status"] == "delivered");
    INFO("webhookd peak RSS " << peak << " KiB");
    CHECK(peak > 0);
    CHECK(peak < 400 * 1024); // far below the gigabyte offered (sanitizer builds included)
}

// Skipped: needs receiver script steps (location=, big=) and --scheme github,
// which are not built yet.
TEST_CASE("limits: --max-response-bytes sets the read limit")
{
    Receiver rx({"--script", "/four=big=4096", "--script", "/one=big=900"});
    Fixture fx(guardOn());
    fx.addTarget("four", rx.url("/four"), {"--max-attempts", "1"});
    fx.addTarget("one", rx.url("/one"), {"--max-attempts", "1"});
    const int64_t four = fx.send("four");
    const int64_t one = fx.send("one");
    fx.drain({"--allow-private-networks", "--max-response-bytes", "2048"});
    CHECK(fx.show(four)["attempts"][0]["error_type"] == "too_large");
    CHECK(fx.show(one)["status"] == "delivered");
    Process bad = fx.startWorker({"--max-response-bytes", "12", "--drain"});
    CHECK(bad.wait() == 2);
}

TEST_CASE("limits: a receiver trickling its answer holds a slot no longer than the target's timeout")
{
    Receiver rx({"--script", "/trickle=slow=8000"});
    Fixture fx(guardOn());
    fx.addTarget("trickle", rx.url("/trickle"), {"--max-attempts", "1", "--timeout", "1s"});
    const int64_t id = fx.send("trickle");
    const auto started = std::chrono::steady_clock::now();
    fx.drain({"--allow-private-networks"});
    const auto elapsed = std::chrono::steady_clock::now() - started;
    json a = fx.show(id)["attempts"][0];
    CHECK(a["error_type"] == "timeout");
    CHECK(a["duration_ms"].get<int64_t>() >= 900);
    CHECK(a["duration_ms"].get<int64_t>() < 4000);
    CHECK(elapsed < 7s);
}

TEST_CASE("limits: custom headers, payloads and nesting are bounded")
{
    Fixture fx(guardOn());
    std::vector<std::string> args = {"target", "add", "many", "--url", "http://example.com/"};
    for (int i = 0; i < 33; ++i)
        args.insert(args.end(), {"--header", "X-H" + std::to_string(i) + ":v"});
    auto r = fx.ctl(args);
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "32"));
    args.resize(5 + 2 * 32);
    CHECK(fx.ctl(args).exitCode == 0);

    r = fx.ctl({"target", "add", "big", "--url", "http://example.com/", "--header", "X-Big:" + std::string(9000, 'a')});
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "bytes"));
    for (const char* h : {"Host:evil", "Content-Length:1", "webhook-signature:v1,x", "Transfer-Encoding:chunked"}) {
        CAPTURE(h);
        CHECK(fx.ctl({"target", "add", "hdr", "--url", "http://example.com/", "--header", h}).exitCode == 2);
    }

    r = fx.ctl({"--max-payload", "1024", "send", "x", "--data", "\"" + std::string(2000, 'a') + "\""});
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "limit"));

    const std::string deep = std::string(600, '[') + std::string(600, ']');
    CHECK_FALSE(validatePayload(deep).has_value());
    CHECK(validatePayload(std::string(500, '[') + std::string(500, ']')).has_value());
    CHECK(jsonDepth(R"({"a":"[[[[","b":[{"c":"\"]"}]})") == 3);
    r = fx.ctl({"send", "x", "--data", deep});
    CHECK(r.exitCode == 2);
    r = fx.ctl({"send", "--batch", "-"}, R"({"type":"x","data":)" + std::string(100'000, '[') + "\n");
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "line 1"));
}

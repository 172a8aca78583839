#pragma once

// What the end-to-end tests share: one database file in a temporary folder
// with the real webhookctl and webhookd binaries pointed at it, and small
// helpers for waiting and parsing. Header-only; include doctest first.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "support/process.h"
#include "support/temp_dir.h"

namespace webhookd::test {

using namespace std::chrono_literals;

using Steady = std::chrono::steady_clock;

inline int64_t msSince(Steady::time_point since)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - since).count();
}

// Polls until done() is true or the timeout passes; returns done()'s last answer.
inline bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = 20ms)
{
    const auto deadline = Steady::now() + timeout;
    for (;;) {
        if (done())
            return true;
        if (Steady::now() >= deadline)
            return false;
        std::this_thread::sleep_for(step);
    }
}

// The error message of a failed Result, empty for a good one.
template <typename R>
std::string why(const R& result)
{
    return result.has_value() ? std::string() : result.error().message();
}

inline std::vector<std::string> lines(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            out.push_back(line);
    return out;
}

// A port on loopback that nothing listens on: bound, read, then closed.
inline int unusedPort()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// The fields of the "webhookd stopped" line webhookd logs (JSON log format).
inline std::optional<nlohmann::json> stoppedLine(const std::string& stderrText)
{
    for (const std::string& line : lines(stderrText)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("msg", "") == "webhookd stopped")
            return j;
    }
    return std::nullopt;
}

// Retry settings that keep a test's wall time small.
inline const std::vector<std::string> kFastRetry = {"--initial-delay", "50ms", "--max-delay", "200ms"};

// One database file with the CLI and the worker pointed at it.
class Fixture {
public:
    Fixture() : db_(dir_.file("webhooks.db")) { ctlOk({"init"}); }

    const std::string& db() const { return db_; }

    RunResult ctl(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const
    {
        std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKCTL"), "--db", db_};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, std::move(stdinText));
    }

    std::string ctlOk(std::vector<std::string> args, std::optional<std::string> stdinText = {}) const
    {
        auto r = ctl(args, std::move(stdinText));
        INFO("webhookctl " << (args.empty() ? "" : args[0]) << " stderr: " << r.err);
        REQUIRE(r.exitCode == 0);
        return r.out;
    }

    void addTarget(const std::string& id, const std::string& url, std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> args = {"target", "add", id, "--url", url};
        args.insert(args.end(), extra.begin(), extra.end());
        ctlOk(args);
    }

    // Sends one event to one target; returns its delivery id.
    int64_t send(const std::string& target, const std::string& type = "test.event", const std::string& data = "{}",
                 std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> args = {"send", type, "--target", target, "--data", data};
        args.insert(args.end(), extra.begin(), extra.end());
        auto out = lines(ctlOk(args));
        REQUIRE(out.size() == 1);
        return std::stoll(out[0]);
    }

    // Sends count events to one target in one NDJSON batch; returns the delivery ids.
    std::vector<int64_t> sendBatch(const std::string& target, int count, const std::string& type = "bulk.event") const
    {
        std::string ndjson;
        for (int i = 0; i < count; ++i)
            ndjson += nlohmann::json{{"type", type}, {"data", {{"n", i}}}, {"targets", {target}}}.dump() + "\n";
        std::vector<int64_t> ids;
        for (const auto& line : lines(ctlOk({"send", "--batch", "-"}, ndjson)))
            ids.push_back(std::stoll(line));
        REQUIRE(ids.size() == static_cast<size_t>(count));
        return ids;
    }

    nlohmann::json show(int64_t deliveryId) const
    {
        return nlohmann::json::parse(ctlOk({"--json", "delivery", "show", std::to_string(deliveryId)}));
    }

    // Starts webhookd on this file: loopback allowed, JSON logs, and a short
    // poll interval unless extra gives one (webhookd refuses a repeated flag).
    Process startWorker(std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", db_, "--allow-private-networks",
                                         "--log-format", "json"};
        if (std::find(extra.begin(), extra.end(), "--poll-interval") == extra.end())
            argv.insert(argv.end(), {"--poll-interval", "100ms"});
        argv.insert(argv.end(), extra.begin(), extra.end());
        return Process::start(argv);
    }

    // Runs webhookd --drain to completion (a hang guard of `limit`); returns its stderr.
    std::string drain(std::vector<std::string> extra = {}, std::chrono::milliseconds limit = 60s) const
    {
        extra.insert(extra.begin(), "--drain");
        Process p = startWorker(extra);
        auto code = p.waitFor(limit);
        if (!code)
            p.kill(SIGKILL);
        INFO("webhookd stderr: " << p.stderrText());
        REQUIRE_MESSAGE(code.has_value(), "webhookd --drain did not finish in time");
        REQUIRE(*code == 0);
        return p.stderrText();
    }

    // A read-only connection for checks in SQL.
    SQLite::Database sql() const
    {
        SQLite::Database conn(db_, SQLite::OPEN_READONLY);
        conn.exec("PRAGMA busy_timeout = 5000");
        return conn;
    }

    int64_t sqlInt(const std::string& query) const
    {
        auto conn = sql();
        return conn.execAndGet(query).getInt64();
    }

    int64_t countStatus(const std::string& status) const
    {
        return sqlInt("SELECT count(*) FROM deliveries WHERE status = '" + status + "'");
    }

private:
    TempDir dir_;
    std::string db_;
};

} // namespace webhookd::test

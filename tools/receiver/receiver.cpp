// webhook-receiver: the local receiver used by the quick start, the tests and
// the benchmark. It answers webhook POSTs with a default or scripted status,
// optionally verifies Standard Webhooks signatures, logs each request as NDJSON,
// and exposes what it saw under /_requests, /_stats and /_reset.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/duration.h"
#include "core/error.h"
#include "fast_server.h"
#include "signing/signing.h"

namespace webhookd {
namespace {

using nlohmann::json;

constexpr size_t kMaxRecords = 100'000;
constexpr int64_t kSlowPieceMs = 100;

// One scripted answer. Kind::Slow and Kind::Big always answer 200.
struct Step {
    enum class Kind { Status, Drop, Slow, Big };
    Kind kind = Kind::Status;
    int status = 200;
    std::optional<int64_t> retryAfterSeconds;
    std::optional<int64_t> retryAfterDateSeconds; // sent as an HTTP date this far ahead
    int64_t delayMs = 0;                          // slept before answering
    int64_t slowMs = 0;                           // the body trickles out over this long
    int64_t bigBytes = 0;                         // Kind::Big: a body this large, streamed
    std::string location;                         // a Location header to send
    std::string body;                             // body=…: what a status step answers instead of the default
};

Result<int64_t> parseNumber(std::string_view text, int64_t min, int64_t max)
{
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
        return fail(Error::invalid("\"" + std::string(text) + "\" is not a number from " + std::to_string(min) +
                                   " to " + std::to_string(max)));
    return value;
}

std::vector<std::string_view> split(std::string_view text, char sep)
{
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        size_t at = text.find(sep, start);
        parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos)
            return parts;
        start = at + 1;
    }
}

// "STATUS[;retry-after=S][;retry-after-date=S][;location=URL][;delay=MS]",
// "drop[;delay=MS]", "slow=MS[;delay=MS]" or "big=BYTES[;delay=MS]".
Result<Step> parseStep(std::string_view text)
{
    constexpr int64_t kDay = 24 * 3600;
    auto options = split(text, ';');
    Step step;
    std::string_view head = options.front();
    if (head == "drop") {
        step.kind = Step::Kind::Drop;
    } else if (head.substr(0, 5) == "slow=") {
        auto ms = parseNumber(head.substr(5), 0, kDay * 1000);
        if (!ms)
            return fail(ms.error());
        step.kind = Step::Kind::Slow;
        step.slowMs = *ms;
    } else if (head.substr(0, 4) == "big=") {
        auto bytes = parseNumber(head.substr(4), 0, int64_t{1} << 40);
        if (!bytes)
            return fail(bytes.error());
        step.kind = Step::Kind::Big;
        step.bigBytes = *bytes;
    } else {
        auto status = parseNumber(head, 100, 599);
        if (!status)
            return fail(Error::invalid("step \"" + std::string(text) +
                                       "\" must start with a status from 100 to 599, "
                                       "drop or slow=MS"));
        step.status = static_cast<int>(*status);
    }
    for (size_t i = 1; i < options.size(); ++i) {
        std::string_view option = options[i];
        size_t eq = option.find('=');
        std::string_view name = option.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1);
        bool statusOnly = name == "retry-after" || name == "retry-after-date" || name == "location" || name == "body";
        if (name != "delay" && !statusOnly)
            return fail(Error::invalid("unknown option \"" + std::string(option) +
                                       "\" (expected retry-after=S, retry-after-date=S, location=URL, body=KIND or "
                                       "delay=MS)"));
        if (statusOnly && step.kind != Step::Kind::Status)
            return fail(Error::invalid("\"" + std::string(name) + "\" needs a status step"));
        if (name == "location") {
            step.location = std::string(value);
            continue;
        }
        if (name == "body") {
            // Bodies a hostile or careless receiver sends, for the tests:
            // bytes that are not UTF-8, a long non-ASCII text (cut inside a
            // character at 16 KiB), markup that must never run in a browser.
            static constexpr char kBinary[] = "\xff\xfe\x00\x01 not text \x80\x81";
            if (value == "binary")
                step.body = std::string(kBinary, sizeof kBinary - 1); // the NULs included, not the terminator
            else if (value == "utf8long") {
                step.body = "a";
                for (int k = 0; k < 9000; ++k)
                    step.body += "\xc3\xa9";
            } else if (value == "html")
                step.body = "<img src=x onerror=alert(1)><script>alert(2)</script>";
            else if (value == "control")
                step.body = "evil\x1b[31mRED\x1b[0m";
            else
                return fail(Error::invalid("body=" + std::string(value) + ": use binary, utf8long, html or control"));
            continue;
        }
        auto number = parseNumber(value, 0, name == "delay" ? kDay * 1000 : 365 * kDay);
        if (!number)
            return fail(Error::invalid(std::string(name) + ": " + number.error().message()));
        if (name == "delay")
            step.delayMs = *number;
        else if (name == "retry-after")
            step.retryAfterSeconds = *number;
        else
            step.retryAfterDateSeconds = *number;
    }
    return step;
}

// "PATH=STEP,STEP,…"; the path must be a webhook path (starts with "/", not "/_").
Result<std::pair<std::string, std::vector<Step>>> parseScript(std::string_view text)
{
    size_t eq = text.find('=');
    if (eq == std::string_view::npos)
        return fail(Error::invalid("expected PATH=SPEC"));
    std::string path(text.substr(0, eq));
    if (path.empty() || path[0] != '/' || path.rfind("/_", 0) == 0)
        return fail(Error::invalid("the path must start with \"/\" and not with \"/_\""));
    std::vector<Step> steps;
    for (std::string_view part : split(text.substr(eq + 1), ',')) {
        auto step = parseStep(part);
        if (!step)
            return fail(step.error());
        steps.push_back(*step);
    }
    return std::pair{std::move(path), std::move(steps)};
}

// IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string httpDate(int64_t epochSeconds)
{
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t t = static_cast<std::time_t>(epochSeconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                  kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string bodyFor(int status)
{
    if (status == 204 || status == 304 || status < 200)
        return {};
    return status < 300 ? R"({"ok":true})" : R"({"ok":false})";
}

// What one request looked like and how it was answered.
struct Record {
    int64_t timeMs = 0;
    std::string method;
    std::string path;
    std::string webhookId;
    std::string webhookTimestamp;
    std::optional<bool> signatureValid;
    std::optional<int> status; // none when the connection was dropped
    std::string userAgent;
    std::string contentType;
    std::vector<std::pair<std::string, std::string>> headers; // lowercase names, repeats joined
    std::string body;
};

json nullable(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json toJson(const Record& r, bool withBody)
{
    json headers = json::object();
    for (const auto& [name, value] : r.headers)
        headers[name] = value;
    json j = {
        {"time_ms", r.timeMs},
        {"method", r.method},
        {"path", r.path},
        {"webhook_id", nullable(r.webhookId)},
        {"webhook_timestamp", nullable(r.webhookTimestamp)},
        {"signature_valid", r.signatureValid ? json(*r.signatureValid) : json(nullptr)},
        {"status", r.status ? json(*r.status) : json(nullptr)},
        {"body_bytes", r.body.size()},
        {"user_agent", nullable(r.userAgent)},
        {"content_type", nullable(r.contentType)},
        {"headers", std::move(headers)},
    };
    if (withBody)
        j["body"] = r.body;
    return j;
}

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::vector<std::string> secrets;
    std::string scheme = "standard"; // how --secret verifies: standard or github
    int status = 200;
    std::map<std::string, std::vector<Step>> scripts;
    std::string logPath;
    bool quiet = false;
    size_t threads = 64;
};

// Everything the handlers share. Any thread may call; the lock is held only
// for bookkeeping, never while sleeping, verifying or writing to the network.
class Receiver {
public:
    // logFile, if not null, must outlive the receiver.
    Receiver(const Options& options, std::FILE* logFile)
        : options_(options),
          log_(logFile)
    { }

    void handleWebhook(const httplib::Request& req, httplib::Response& res);
    json requests() const;
    json stats() const;
    void reset();

private:
    Step nextStep(const std::string& path);
    void finish(Record record);

    const Options& options_;
    std::FILE* log_;
    std::mutex logMutex_; // serialises the log file and stdout lines

    mutable std::mutex mutex_;
    uint64_t requests_ = 0;
    uint64_t duplicateIds_ = 0;
    std::map<std::string, uint64_t> byPath_;
    std::map<std::string, uint64_t> byStatus_;
    std::map<std::string, int64_t> inFlight_;    // requests being answered now, per path
    std::map<std::string, int64_t> maxInFlight_; // the most at once, per path
    std::unordered_set<std::string> ids_;        // every id ever seen, so duplicates are exact
    std::deque<Record> records_;                 // the last kMaxRecords
    std::map<std::string, size_t> positions_;
};

Step Receiver::nextStep(const std::string& path)
{
    auto script = options_.scripts.find(path);
    if (script == options_.scripts.end()) {
        Step step;
        step.status = options_.status;
        return step;
    }
    const std::vector<Step>& steps = script->second;
    std::lock_guard lock(mutex_);
    size_t& position = positions_[path];
    const Step& step = steps[std::min(position, steps.size() - 1)];
    if (position < steps.size())
        ++position;
    return step;
}

// Counts, logs and keeps the record; runs before the answer is written so
// /_requests already shows a request when its client sees the answer.
void Receiver::finish(Record record)
{
    std::string line;
    if (log_ != nullptr)
        line = toJson(record, false).dump() + "\n";
    std::string human;
    if (!options_.quiet)
        human = isoTime(record.timeMs) + " " + record.method + " " + record.path + " " +
            (record.status ? std::to_string(*record.status) : "drop") + " " +
            (record.webhookId.empty() ? "-" : record.webhookId) + "\n";
    if (!line.empty() || !human.empty()) {
        std::lock_guard lock(logMutex_);
        if (!line.empty()) {
            std::fwrite(line.data(), 1, line.size(), log_);
            std::fflush(log_);
        }
        if (!human.empty()) {
            std::fwrite(human.data(), 1, human.size(), stdout);
            std::fflush(stdout);
        }
    }

    std::lock_guard lock(mutex_);
    ++requests_;
    ++byPath_[record.path];
    ++byStatus_[record.status ? std::to_string(*record.status) : "drop"];
    if (!record.webhookId.empty() && !ids_.insert(record.webhookId).second)
        ++duplicateIds_;
    records_.push_back(std::move(record));
    if (records_.size() > kMaxRecords)
        records_.pop_front();
}

// httplib 0.11 never hands a socket to user code, so the two places that need
// one (drop, shutdown) find it among our descriptors by its addresses.
struct SocketAddress {
    std::string host;
    int port = 0;
};

std::optional<SocketAddress> socketAddress(int fd, bool peer)
{
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0)
        return std::nullopt;
    char host[NI_MAXHOST];
    char port[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return std::nullopt;
    return SocketAddress{host, std::atoi(port)};
}

// Calls fn(fd, peer) for each connected socket of ours whose local port is
// localPort, stopping early when fn returns true.
template <typename Fn>
void forEachConnection(int localPort, Fn fn)
{
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        int fd = std::atoi(entry.path().filename().c_str());
        auto local = socketAddress(fd, false);
        if (!local || local->port != localPort)
            continue;
        if (auto peer = socketAddress(fd, true); peer && fn(fd, *peer))
            return;
    }
}

// Makes the client see the connection close with no response at all: shut the
// request's socket down; httplib's own write then fails and it closes the
// socket. shutdown (not close) cannot hit a descriptor reused meanwhile.
bool dropConnection(const httplib::Request& req)
{
    bool dropped = false;
    forEachConnection(req.local_port, [&](int fd, const SocketAddress& peer) {
        if (peer.port != req.remote_port || peer.host != req.remote_addr)
            return false;
        dropped = ::shutdown(fd, SHUT_RDWR) == 0;
        return true;
    });
    return dropped;
}

void Receiver::handleWebhook(const httplib::Request& req, httplib::Response& res)
{
    // Requests at once per path, from arrival until the answer is decided
    // (delays included): the in-flight cap is checked against this.
    {
        std::lock_guard lock(mutex_);
        auto& now = ++inFlight_[req.path];
        maxInFlight_[req.path] = std::max(maxInFlight_[req.path], now);
    }
    struct Leave {
        Receiver& r;
        const std::string& path;
        ~Leave()
        {
            std::lock_guard lock(r.mutex_);
            --r.inFlight_[path];
        }
    } leave{*this, req.path};
    Record record;
    record.timeMs = SystemClock::instance().nowMs();
    record.method = req.method;
    record.path = req.path;
    record.webhookId = req.get_header_value("webhook-id");
    record.webhookTimestamp = req.get_header_value("webhook-timestamp");
    record.userAgent = req.get_header_value("User-Agent");
    record.contentType = req.get_header_value("Content-Type");
    record.body = req.body;
    for (const auto& [name, value] : req.headers) {
        // httplib adds the connection's addresses as pseudo-headers; they were not sent.
        if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT")
            continue;
        std::string lower = name;
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto same =
            std::find_if(record.headers.begin(), record.headers.end(), [&](const auto& h) { return h.first == lower; });
        if (same == record.headers.end())
            record.headers.emplace_back(std::move(lower), value);
        else
            same->second += ", " + value;
    }

    auto answer = [&](int status, std::string body) {
        res.status = status;
        record.status = status;
        finish(std::move(record));
        res.set_content(std::move(body), "application/json");
    };

    if (req.method != "POST") {
        res.set_header("Allow", "POST");
        answer(405, R"({"ok":false,"error":"only POST is accepted"})");
        return;
    }
    if (!options_.secrets.empty()) {
        VerifyRequest verify{options_.secrets, record.webhookId, record.webhookTimestamp,
                             req.get_header_value("webhook-signature")};
        Status verified = options_.scheme == "github"
            ? verifyGithub(options_.secrets, req.get_header_value("X-Hub-Signature-256"), req.body)
            : verifyStandard(verify, req.body, record.timeMs);
        record.signatureValid = verified.has_value();
        if (!verified) {
            answer(401, json{{"ok", false}, {"error", verified.error().message()}}.dump());
            return;
        }
    }

    Step step = nextStep(record.path);
    if (step.delayMs > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(step.delayMs));

    switch (step.kind) {
    case Step::Kind::Drop:
        finish(std::move(record)); // status stays null: nothing was answered
        if (!dropConnection(req)) {
            std::cerr << "webhook-receiver: could not find the socket to drop; answering 500 instead\n";
            res.status = 500;
        }
        return;
    case Step::Kind::Slow: {
        res.status = 200;
        record.status = 200;
        finish(std::move(record));
        // One space every kSlowPieceMs (leading whitespace keeps the JSON valid),
        // then the body: the headers and first byte go out at once.
        int64_t pieces = std::max<int64_t>(1, step.slowMs / kSlowPieceMs);
        int64_t intervalMs = step.slowMs / pieces;
        res.set_chunked_content_provider(
            "application/json", [pieces, intervalMs, call = int64_t{0}](size_t, httplib::DataSink& sink) mutable {
                if (call > 0)
                    std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
                bool last = call++ == pieces;
                std::string piece = last ? std::string(R"({"ok":true})") : std::string(" ");
                if (!sink.write(piece.data(), piece.size()))
                    return false;
                if (last)
                    sink.done();
                return true;
            });
        return;
    }
    case Step::Kind::Big: {
        res.status = 200;
        record.status = 200;
        finish(std::move(record));
        // Spaces in 64 KiB pieces, then a JSON body: memory stays flat however
        // large the answer, and a client that stops reading ends it.
        res.set_chunked_content_provider(
            "application/json", [left = step.bigBytes](size_t, httplib::DataSink& sink) mutable {
                static const std::string kPiece(64 * 1024, ' ');
                if (left <= 0) {
                    const std::string tail = R"({"ok":true})";
                    if (!sink.write(tail.data(), tail.size()))
                        return false;
                    sink.done();
                    return true;
                }
                const size_t n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(kPiece.size())));
                left -= static_cast<int64_t>(n);
                return sink.write(kPiece.data(), n);
            });
        return;
    }
    case Step::Kind::Status:
        if (!step.location.empty())
            res.set_header("Location", step.location);
        if (step.retryAfterSeconds)
            res.set_header("Retry-After", std::to_string(*step.retryAfterSeconds));
        else if (step.retryAfterDateSeconds)
            res.set_header("Retry-After", httpDate(record.timeMs / 1000 + *step.retryAfterDateSeconds));
        answer(step.status, step.body.empty() ? bodyFor(step.status) : step.body);
        return;
    }
}

json Receiver::requests() const
{
    std::lock_guard lock(mutex_);
    json all = json::array();
    for (const Record& r : records_)
        all.push_back(toJson(r, true));
    return all;
}

json Receiver::stats() const
{
    std::lock_guard lock(mutex_);
    return {
        {"requests", requests_},          {"by_path", byPath_},
        {"by_status", byStatus_},         {"distinct_ids", ids_.size()},
        {"duplicate_ids", duplicateIds_}, {"max_in_flight_by_path", maxInFlight_},
    };
}

void Receiver::reset()
{
    std::lock_guard lock(mutex_);
    requests_ = 0;
    duplicateIds_ = 0;
    byPath_.clear();
    maxInFlight_.clear();
    byStatus_.clear();
    ids_.clear();
    records_.clear();
    positions_.clear();
}

// Connections between the end of a request's headers and the end of its
// answer, so shutdown can end the idle ones without cutting answers short.
// Any thread may call.
class BusyConnections {
public:
    void add(const httplib::Request& req)
    {
        std::lock_guard lock(mutex_);
        peers_.insert(key(req.remote_addr, req.remote_port));
    }
    void remove(const httplib::Request& req)
    {
        std::lock_guard lock(mutex_);
        peers_.erase(key(req.remote_addr, req.remote_port));
    }
    bool contains(const SocketAddress& peer) const
    {
        std::lock_guard lock(mutex_);
        return peers_.count(key(peer.host, peer.port)) != 0;
    }

private:
    static std::string key(const std::string& host, int port) { return host + " " + std::to_string(port); }

    mutable std::mutex mutex_;
    std::unordered_set<std::string> peers_;
};

// Waits for SIGINT/SIGTERM (blocked in every other thread) and stops the
// server. If the server has not wound down kShutdownGraceMs later (a long
// delay or slow step still running), the process exits anyway.
class SignalWatcher {
public:
    static constexpr int kShutdownGraceMs = 2000;

    // server and busy must outlive the watcher; port is the one server listens on.
    SignalWatcher(httplib::Server& server, int port, const BusyConnections& busy)
        : server_(server),
          port_(port),
          busy_(busy),
          thread_([this] { run(); })
    { }

    // Called by main once listening has ended, for whatever reason.
    void serverDone()
    {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        if (!signalled_)
            pthread_kill(thread_.native_handle(), SIGTERM); // wakes sigwait
        thread_.join();
    }

    bool signalled() const { return signalled_; }

private:
    void run()
    {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int sig = 0;
        sigwait(&set, &sig);
        std::unique_lock lock(mutex_);
        if (done_)
            return;
        signalled_ = true;
        server_.stop();
        // httplib waits out the keep-alive timeout on an idle connection before
        // it notices the stop; ending the read side makes it notice now. Busy
        // connections are left alone: httplib does not write an answer to a
        // socket whose read side has ended, and they close after answering.
        forEachConnection(port_, [this](int fd, const SocketAddress& peer) {
            if (!busy_.contains(peer))
                ::shutdown(fd, SHUT_RD);
            return false;
        });
        if (!cv_.wait_for(lock, std::chrono::milliseconds(kShutdownGraceMs), [this] { return done_; }))
            _exit(0); // every log line was already flushed
    }

    httplib::Server& server_;
    int port_;
    const BusyConnections& busy_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::atomic<bool> signalled_{false};
    std::thread thread_;
};

int run(int argc, char** argv)
{
    Options options;
    std::vector<std::string> scripts;
    CLI::App app{"Local webhook receiver for tests and demos"};
    app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
    app.add_option("--port", options.port, "Port to listen on; 0 picks a free one")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    app.add_option("--secret", options.secrets, "Verify Standard Webhooks signatures with this secret (repeatable)");
    app.add_option("--scheme", options.scheme, "How --secret verifies: standard, or github (X-Hub-Signature-256)")
        ->check(CLI::IsMember({"standard", "github"}))
        ->capture_default_str();
    app.add_option("--status", options.status, "Status for paths without a script")
        ->check(CLI::Range(100, 599))
        ->capture_default_str();
    app.add_option("--script", scripts,
                   "PATH=STEP,STEP,… answered one per request, the last repeating; STEP is "
                   "STATUS[;retry-after=S][;retry-after-date=S][;location=URL][;body=binary|utf8long|html|control]"
                   "[;delay=MS], drop[;delay=MS], slow=MS "
                   "or big=BYTES (a 200 with a body that large, streamed)");
    app.add_option("--log", options.logPath, "Append one NDJSON line per request to this file");
    app.add_flag("--quiet", options.quiet, "No line on stdout per request");
    app.add_option("--threads", options.threads, "Worker threads")->check(CLI::Range(1, 10000))->capture_default_str();
    std::string engine = "full";
    app.add_option("--engine", engine,
                   "full: scripts, signatures, logs (httplib); fast: a lean epoll sink for benchmarks that answers "
                   "every POST with --status and counts webhook-ids")
        ->check(CLI::IsMember({"full", "fast"}))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }

    if (engine == "fast") {
        if (!scripts.empty() || !options.secrets.empty() || !options.logPath.empty()) {
            std::cerr << "webhook-receiver: --engine fast takes no --script, --secret or --log.\n";
            return 2;
        }
        return receiver::runFastServer(options.host, options.port, options.status);
    }

    for (const std::string& script : scripts) {
        auto parsed = parseScript(script);
        if (!parsed) {
            std::cerr << "webhook-receiver: invalid --script \"" << script << "\": " << parsed.error().message()
                      << ".\n";
            return 2;
        }
        options.scripts[parsed->first] = std::move(parsed->second);
    }
    for (const std::string& secret : options.secrets) {
        if (auto key = secretKey(secret); !key) {
            std::cerr << "webhook-receiver: invalid --secret: " << key.error().message() << ".\n";
            return 2;
        }
    }

    std::unique_ptr<std::FILE, int (*)(std::FILE*)> logFile(nullptr, &std::fclose);
    if (!options.logPath.empty()) {
        logFile.reset(std::fopen(options.logPath.c_str(), "a"));
        if (!logFile) {
            std::cerr << "webhook-receiver: cannot open the log file " << options.logPath << ".\n";
            return 1;
        }
    }

    // Block the stop signals before any thread exists so only the watcher sees them.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a client that hung up must not kill us

    Receiver receiver(options, logFile.get());
    httplib::Server server;
    size_t threads = options.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_keep_alive_max_count(100'000);
    server.set_keep_alive_timeout(5);
    // httplib writes headers and body separately; with Nagle on, each answer
    // would wait for the client's delayed ACK (~40 ms).
    server.set_tcp_nodelay(true);
    // The packaged httplib listens with a backlog of 5: a burst of new
    // connections (a worker opening 64 at once) overflows it, and each dropped
    // SYN costs the client a 1 s retransmit. The listening socket is
    // remembered here and its backlog raised once bound.
    int listenFd = -1;
    server.set_socket_options([&listenFd](socket_t sock) {
        httplib::default_socket_options(sock);
        listenFd = sock;
    });

    auto reset = [&](const httplib::Request&, httplib::Response& res) {
        receiver.reset();
        res.set_content(R"({"ok":true})", "application/json");
    };
    auto webhook = [&](const httplib::Request& req, httplib::Response& res) {
        if (req.path.rfind("/_", 0) == 0) {
            res.status = 404;
            return;
        }
        receiver.handleWebhook(req, res);
    };

    BusyConnections busy;
    server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        busy.add(req);
        // A request with neither Content-Length nor Transfer-Encoding has no body
        // (RFC 9112 section 6.3), but httplib 0.11 would read one until the client
        // closes (curl -X POST without -d); answer such requests here instead.
        bool mayHaveBody = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
        if (!mayHaveBody || req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
            return httplib::Server::HandlerResponse::Unhandled;
        if (req.method == "POST" && req.path == "/_reset")
            reset(req, res);
        else
            webhook(req, res);
        return httplib::Server::HandlerResponse::Handled;
    });
    // httplib calls the logger once the answer has been written.
    server.set_logger([&](const httplib::Request& req, const httplib::Response&) { busy.remove(req); });

    server.Get("/_requests", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(receiver.requests().dump(), "application/json");
    });
    server.Get("/_stats", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(receiver.stats().dump(), "application/json");
    });
    server.Post("/_reset", reset);
    server.Post(".*", webhook);
    server.Get(".*", webhook);
    server.Put(".*", webhook);
    server.Patch(".*", webhook);
    server.Delete(".*", webhook);
    server.Options(".*", webhook);

    int port = options.port;
    bool bound =
        port == 0 ? (port = server.bind_to_any_port(options.host)) > 0 : server.bind_to_port(options.host, port);
    if (!bound) {
        std::cerr << "webhook-receiver: cannot listen on " << options.host << ":" << options.port << ".\n";
        return 1;
    }
    if (listenFd >= 0)
        ::listen(listenFd, 4096);
    std::cout << "listening on " << options.host << ":" << port << std::endl;

    SignalWatcher watcher(server, port, busy);
    server.listen_after_bind();
    watcher.serverDone();
    if (!watcher.signalled()) {
        std::cerr << "webhook-receiver: the server stopped accepting connections.\n";
        return 1;
    }
    return 0;
}

} // namespace
} // namespace webhookd

int main(int argc, char** argv)
{
    try {
        return webhookd::run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "webhook-receiver: " << e.what() << "\n";
        return 1;
    }
}

// webhookd: the delivery worker. A thin wrapper around webhookd::Worker:
// flags and environment in, signals to stop().

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/duration.h"
#include "core/log.h"
#include "http/server.h"
#include "worker/status_server.h"
#include "worker/worker.h"

namespace {

// A stop signal may come while the worker is still being created (opening and
// migrating the database): it is remembered and honoured once run() starts, so
// webhookd still exits 0 rather than dying of the signal.
std::atomic<webhookd::Worker*> gWorker{nullptr};
volatile std::sig_atomic_t gStopRequested = 0;

void onSignal(int)
{
    gStopRequested = 1;
    if (webhookd::Worker* w = gWorker.load())
        w->stop();
}

CLI::Validator durationValidator()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            auto ms = webhookd::parseDuration(text);
            return ms ? std::string() : ms.error().message();
        },
        "DURATION", "duration");
}

// The original environment variables hold plain milliseconds or counts;
// durations with a unit are accepted too.
std::string envDuration(const char* name, const std::string& fallback)
{
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        return fallback;
    std::string s(v);
    if (s.find_first_not_of("0123456789") == std::string::npos)
        s += "ms";
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    using namespace webhookd;
    WorkerOptions opt;
    const char* envDb = std::getenv("WEBHOOKD_DB");
    opt.database = envDb && *envDb ? envDb : "./webhooks.db";
    if (const char* c = std::getenv("WEBHOOK_MAX_CONCURRENT"); c && *c)
        opt.concurrency = std::atoi(c);
    std::string pollInterval = envDuration("WEBHOOK_QUEUE_INTERVAL", "1000ms");
    std::string defaultTimeout = envDuration("WEBHOOK_DEFAULT_TIMEOUT", "30000ms");
    std::string lease = "60s", grace = "10s", retryAfterCap = "1h", busy = "5s";
    std::string logFormat = "text", logLevel = "info";
    std::string listen = "127.0.0.1:9464", healthWindow = "5m", breakerCooldown = "60s", retention;
    double healthThreshold = 0.9;
    std::vector<std::string> allowNetworks;

    CLI::App app("webhookd: claims due deliveries from the database, POSTs them signed, retries with backoff,\n"
                 "rate-limits per target and records every attempt. SIGTERM/SIGINT stop it gracefully.",
                 "webhookd");
    app.add_option("--db", opt.database, "Database file (default $WEBHOOKD_DB, else ./webhooks.db)");
    app.add_option("--concurrency", opt.concurrency,
                   "Transfers in flight at most (env WEBHOOK_MAX_CONCURRENT, default 10)")
        ->check(CLI::Range(1, 10'000));
    app.add_option("--poll-interval", pollInterval, "Longest idle sleep (env WEBHOOK_QUEUE_INTERVAL, default 1000ms)")
        ->check(durationValidator());
    app.add_option("--default-timeout", defaultTimeout,
                   "Request timeout for targets without one (env WEBHOOK_DEFAULT_TIMEOUT, default 30000ms)")
        ->check(durationValidator());
    app.add_option("--user-agent", opt.userAgent, "User-Agent header")->capture_default_str();
    app.add_option("--lease", lease, "Shortest claim lease; a killed worker's claims return after it")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_flag("--allow-private-networks", opt.allowPrivateNetworks,
                 "Allow loopback, private and link-local destinations (off by default)");
    app.add_option("--allow-network", allowNetworks, "Allow this CIDR range although it is private (repeatable)");
    app.add_flag("--https-only", opt.httpsOnly, "Refuse plain http targets");
    app.add_option("--ca-bundle", opt.caBundle,
                   "PEM file of CA certificates trusted for TLS instead of the system's (a target's own wins)")
        ->check(CLI::ExistingFile);
    app.add_option("--max-response-bytes", opt.maxResponseBytes,
                   "Response bytes read before an attempt fails as too_large (default 1048576)")
        ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
    app.add_flag("--drain", opt.drain, "Exit 0 once every delivery of an enabled target is delivered or dead-lettered");
    app.add_option("--shutdown-grace", grace, "On SIGTERM/SIGINT, how long in-flight requests may finish")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--retry-after-cap", retryAfterCap, "Longest Retry-After honoured")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--busy-timeout", busy, "How long to wait for a locked database")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--worker-id", opt.workerId, "Lease owner name (default host:pid:random)");
    auto* listenOption =
        app.add_option("--listen", listen, "HOST:PORT of the /healthz, /metrics and /stats endpoint, or off")
            ->capture_default_str();
    app.add_option("--health-threshold", healthThreshold,
                   "/healthz answers 503 when the recent success rate is below this fraction")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--health-window", healthWindow, "How far back the success rate of /healthz looks")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--breaker-failures", opt.breaker.failures,
                   "Pause a target after this many failed attempts in a row (0: never)")
        ->check(CLI::Range(0, 1'000'000))
        ->capture_default_str();
    app.add_option("--breaker-cooldown", breakerCooldown, "How long a paused target waits before one probe delivery")
        ->check(durationValidator())
        ->capture_default_str();
    app.add_option("--retention", retention,
                   "Delete delivered and dead-lettered deliveries finished longer ago than this (default: keep all)")
        ->check(durationValidator());
    app.add_flag("--log-payloads", opt.logPayloads, "Include event payloads in failure and dead-letter log lines");
    app.add_option("--log-format", logFormat, "text or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    app.add_option("--log-level", logLevel, "debug, info, warn, error or off")
        ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string message = e.what();
        while (!message.empty() && (message.back() == '\n' || message.back() == '.'))
            message.pop_back();
        std::cerr << "webhookd: " << message << " (see 'webhookd --help').\n";
        return 2;
    }
    for (auto* name : {"WEBHOOK_QUEUE_INTERVAL", "WEBHOOK_DEFAULT_TIMEOUT"}) {
        const std::string value = envDuration(name, "1ms");
        if (!parseDuration(value)) {
            std::cerr << "webhookd: " << name << " must be milliseconds or a duration such as 30s.\n";
            return 2;
        }
    }
    if (opt.concurrency < 1 || opt.concurrency > 10'000) {
        std::cerr << "webhookd: the concurrency (WEBHOOK_MAX_CONCURRENT) must be between 1 and 10000.\n";
        return 2;
    }
    opt.pollIntervalMs = *parseDuration(pollInterval);
    opt.defaultTimeoutMs = *parseDuration(defaultTimeout);
    opt.leaseMs = *parseDuration(lease);
    opt.shutdownGraceMs = *parseDuration(grace);
    opt.retryAfterCapMs = *parseDuration(retryAfterCap);
    opt.busyTimeoutMs = static_cast<int>(*parseDuration(busy));
    opt.healthWindowMs = *parseDuration(healthWindow);
    opt.breaker.cooldownMs = *parseDuration(breakerCooldown);
    if (!retention.empty())
        opt.retentionMs = *parseDuration(retention);
    std::optional<std::pair<std::string, int>> listenAddress;
    if (listen != "off") {
        auto parsed = http::parseListenAddress(listen);
        if (!parsed) {
            std::cerr << "webhookd: " << parsed.error().message() << ".\n";
            return 2;
        }
        listenAddress = *parsed;
    }
    for (const auto& text : allowNetworks) {
        auto cidr = Cidr::parse(text);
        if (!cidr) {
            std::cerr << "webhookd: " << cidr.error().message() << ".\n";
            return 2;
        }
        opt.allowedNetworks.push_back(*cidr);
    }
    LogLevel level = LogLevel::Info;
    parseLogLevel(logLevel, level);
    Log::configure(level, logFormat == "json" ? LogFormat::Json : LogFormat::Text);

    try {
        struct sigaction sa { };
        sa.sa_handler = onSignal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, nullptr);
        sigaction(SIGINT, &sa, nullptr);
        std::signal(SIGPIPE, SIG_IGN);
        auto worker = Worker::create(opt);
        if (!worker) {
            std::cerr << "webhookd: " << worker.error().message() << ".\n";
            return 1;
        }
        std::unique_ptr<StatusServer> server;
        if (listenAddress) {
            StatusServerOptions so;
            so.host = listenAddress->first;
            so.port = listenAddress->second;
            so.database = opt.database;
            so.healthyRate = healthThreshold;
            so.stallMs = std::max<int64_t>(30'000, 3 * opt.pollIntervalMs);
            auto s = StatusServer::create(std::move(so), **worker);
            if (s) {
                server = std::move(*s);
                server->start();
                Log::info("status endpoint listening", {{"address", server->address()}});
            } else if (listenOption->count() > 0) {
                std::cerr << "webhookd: " << s.error().message() << ".\n";
                return 1;
            } else {
                // The default port is taken, most likely by another worker on
                // this host: that one serves it; this one works without.
                Log::warn("status endpoint not started", {{"error", s.error().message()}});
            }
        }
        gWorker = worker->get();
        if (gStopRequested)
            (*worker)->stop();
        auto status = (*worker)->run();
        gWorker = nullptr;
        if (server)
            server->stop();
        if (!status) {
            std::cerr << "webhookd: " << status.error().message() << ".\n";
            return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "webhookd: unexpected failure: " << e.what() << '\n';
        return 1;
    }
}

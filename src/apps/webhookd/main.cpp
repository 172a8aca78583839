// webhookd: the delivery worker. A thin wrapper around webhookd::Worker:
// flags and environment in (every flag has a WEBHOOKD_* twin: see
// apps/common/env.h), signals to stop().

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sys/resource.h>

#include <thread>

#include "api/api.h"
#include "apps/common/env.h"
#include "apps/common/usage.h"
#include "apps/webhookd/status_server.h"
#include "core/duration.h"
#include "core/log.h"
#include "core/validate.h"
#include "http/server.h"
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

// CSP frame-ancestors sources: words of letters, digits and :/.*-_' only,
// so a value can add no directive (;) and split no header.
bool validFrameAncestors(const std::string& sources)
{
    for (char c : sources)
        if (c == '\0' || !(std::isalnum(static_cast<unsigned char>(c)) || std::strchr(" :/.*-_'", c)))
            return false;
    return sources.size() <= 1024;
}

int usage(const std::string& sentence)
{
    std::cerr << "webhookd: " << sentence << " (see 'webhookd --help').\n";
    return webhookd::cli::kUsageExit;
}

} // namespace

int main(int argc, char** argv)
{
    using namespace webhookd;
    WorkerOptions opt;
    std::string pollInterval = "1s", defaultTimeout = "30s", progressInterval = "10s";
    std::string lease = "60s", leaseMargin = "15s", grace = "10s", retryAfterCap = "1h", busy = "5s";
    std::string logFormat = "text", logLevel = "info";
    std::string listen = "127.0.0.1:9464", healthWindow = "5m", breakerCooldown = "60s", retention;
    double healthThreshold = 0.9;
    std::vector<std::string> allowNetworks, denyNetworks, nat64Prefixes;
    std::string apiListen;
    int apiThreads = 16;
    size_t maxPayload = 1024 * 1024;
    bool noDeliver = false;

    CLI::App app("webhookd: claims due deliveries from the database, POSTs them signed, retries with backoff,\n"
                 "rate-limits per target and records every attempt. SIGTERM/SIGINT stop it gracefully.",
                 "webhookd");
    cli::setUp(app, "webhookd");
    app.add_option("--db", opt.database,
                   "Database: a file, sqlite:FILE or postgres://USER@HOST/DB (default ./webhooks.db)");
    auto* concurrencyOption =
        app.add_option("--concurrency", opt.concurrency, "Transfers in flight at most (also $WEBHOOK_MAX_CONCURRENT)")
            ->check(cli::integer(1, 10'000))
            ->capture_default_str();
    app.add_option("--threads", opt.threads,
                   "Delivery threads, each with its own connections (default: one per core; claims and the "
                   "database stay on one more)")
        ->check(cli::integer(1, 256));
    auto* pollOption = app.add_option("--poll-interval", pollInterval,
                                      "Longest idle sleep (also $WEBHOOK_QUEUE_INTERVAL, in plain milliseconds)")
                           ->check(cli::duration())
                           ->capture_default_str();
    auto* timeoutOption =
        app.add_option("--default-timeout", defaultTimeout,
                       "Request timeout for targets without one (also $WEBHOOK_DEFAULT_TIMEOUT, in plain milliseconds)")
            ->check(cli::duration())
            ->capture_default_str();
    app.add_option("--user-agent", opt.userAgent, "User-Agent header")->capture_default_str();
    app.add_option("--lease", lease, "Shortest claim lease; a killed worker's claims return after it")
        ->check(cli::duration())
        ->capture_default_str();
    // Hidden: how long a lease outlives its request's timeout. Tests shorten
    // it so a killed worker's claims come back in seconds.
    app.add_option("--lease-margin", leaseMargin, "How long a lease outlives its request's timeout")
        ->check(cli::duration())
        ->group("");
    // Hidden: how often a working worker logs "progress". Tests shorten it
    // to see that an idle one logs nothing.
    auto* progressOption =
        app.add_option("--progress-interval", progressInterval, "How often progress is logged while there is work")
            ->check(cli::duration())
            ->group("");
    app.add_flag("--allow-private-networks", opt.allowPrivateNetworks,
                 "Allow loopback, private, link-local and this host's own destinations (off by default)");
    auto* allowOption =
        app.add_option("--allow-network", allowNetworks, "Allow this CIDR range although it is private (repeatable)");
    auto* denyOption =
        app.add_option("--deny-network", denyNetworks, "Refuse this CIDR range whatever else allows it (repeatable)");
    auto* nat64Option =
        app.add_option("--nat64-prefix", nat64Prefixes,
                       "A NAT64 /96 prefix of this network: the IPv4 address inside is judged too (repeatable)");
    app.add_flag("--https-only", opt.httpsOnly, "Refuse plain http targets");
    app.add_option("--ca-bundle", opt.caBundle,
                   "PEM file of CA certificates trusted for TLS instead of the system's (a target's own wins)")
        ->check(CLI::ExistingFile);
    app.add_option("--max-response-bytes", opt.maxResponseBytes,
                   "Response bytes read before an attempt fails as too_large (default 1048576)")
        ->check(cli::integer(1024, int64_t{1} << 30));
    app.add_flag("--drain", opt.drain, "Exit 0 once every delivery of an enabled target is delivered or dead-lettered");
    app.add_option("--shutdown-grace", grace, "On SIGTERM/SIGINT, how long in-flight requests may finish")
        ->check(cli::duration())
        ->capture_default_str();
    app.add_option("--retry-after-cap", retryAfterCap, "Longest Retry-After honoured")
        ->check(cli::duration())
        ->capture_default_str();
    auto* busyOption = app.add_option("--busy-timeout", busy, "How long to wait for a locked database (at most 24h)")
                           ->check(cli::duration())
                           ->capture_default_str();
    app.add_option("--worker-id", opt.workerId, "Lease owner name (default host:pid:random)");
    auto* listenOption =
        app.add_option("--listen", listen, "HOST:PORT of the /healthz, /metrics and /stats endpoint, or off")
            ->capture_default_str();
    auto* apiListenOption =
        app.add_option("--api-listen", apiListen, "HOST:PORT of the HTTP API (/api/v1, with API keys; off by default)");
    app.add_option("--api-threads", apiThreads, "API requests handled at once (idle and slow connections hold none)")
        ->check(cli::integer(1, 1024))
        ->capture_default_str();
    app.add_option("--max-payload", maxPayload, "Largest event payload the API accepts, in bytes")
        ->check(cli::integer(1, int64_t{64} * 1024 * 1024))
        ->capture_default_str();
    std::string publicUrl, frameAncestors;
    auto* publicUrlOption = app.add_option(
        "--public-url", publicUrl,
        "Where people reach the API, e.g. https://hooks.example.com (portal links start with it; default: "
        "http:// and --api-listen)");
    auto* frameAncestorsOption =
        app.add_option("--portal-frame-ancestors", frameAncestors,
                       "Origins allowed to embed the dashboard and portal in a frame, e.g. https://app.example.com "
                       "(default: none)");
    auto* noDeliverOption =
        app.add_flag("--no-deliver", noDeliver,
                     "Serve the API only: deliver nothing (needs --api-listen; /metrics on --listen only when given)");
    app.add_option("--health-threshold", healthThreshold,
                   "/healthz answers 503 when the recent success rate is below this fraction")
        ->check(cli::number(0.0, 1.0))
        ->capture_default_str();
    app.add_option("--health-window", healthWindow, "How far back the success rate of /healthz looks")
        ->check(cli::duration())
        ->capture_default_str();
    app.add_option("--breaker-failures", opt.breaker.failures,
                   "Pause a target after this many failed attempts in a row (0: never)")
        ->check(cli::integer(0, 1'000'000))
        ->capture_default_str();
    auto* cooldownOption = app.add_option("--breaker-cooldown", breakerCooldown,
                                          "How long a paused target waits before one probe delivery")
                               ->check(cli::duration())
                               ->capture_default_str();
    app.add_option("--retention", retention,
                   "Delete delivered and dead-lettered deliveries finished longer ago than this (default: keep all)")
        ->check(cli::duration());
    app.add_flag("--log-payloads", opt.logPayloads, "Include event payloads in failure and dead-letter log lines");
    std::string attemptHeads = "failures";
    app.add_option("--attempt-heads", attemptHeads,
                   "Which attempts keep their request and answer headers: failures (those that did not deliver) or all")
        ->check(cli::oneOf({"failures", "all"}))
        ->capture_default_str();
    app.add_option("--log-format", logFormat, "text or json")
        ->check(cli::oneOf({"text", "json"}))
        ->capture_default_str();
    app.add_option("--log-level", logLevel, "debug, info, warn, error or off")
        ->check(cli::oneOf({"debug", "info", "warn", "error", "off"}))
        ->capture_default_str();

    // Every flag has a WEBHOOKD_* twin; the original variables stay as
    // aliases (the twin wins when both are set).
    cli::EnvTwins env(app, "WEBHOOKD_");
    env.alias(concurrencyOption, "WEBHOOK_MAX_CONCURRENT");
    env.alias(pollOption, "WEBHOOK_QUEUE_INTERVAL", true);
    env.alias(timeoutOption, "WEBHOOK_DEFAULT_TIMEOUT", true);

    int exitCode = 0;
    if (!cli::parse(app, argc, argv, "webhookd", exitCode, &env))
        return exitCode;
    if (!publicUrl.empty() &&
        (!(publicUrl.rfind("http://", 0) == 0 || publicUrl.rfind("https://", 0) == 0) ||
         publicUrl.find_first_of("?# \t\r\n") != std::string::npos))
        return usage(env.origin(publicUrlOption) +
                     " must be an http:// or https:// address without a query or fragment");
    if (!validFrameAncestors(frameAncestors))
        return usage(env.origin(frameAncestorsOption) +
                     " takes origins such as https://app.example.com (or 'self'), separated by spaces");
    opt.allAttemptHeads = attemptHeads == "all";
    opt.pollIntervalMs = *parseDuration(pollInterval);
    opt.defaultTimeoutMs = *parseDuration(defaultTimeout);
    opt.leaseMs = *parseDuration(lease);
    opt.leaseMarginMs = *parseDuration(leaseMargin);
    opt.shutdownGraceMs = *parseDuration(grace);
    opt.retryAfterCapMs = *parseDuration(retryAfterCap);
    opt.healthWindowMs = *parseDuration(healthWindow);
    opt.breaker.cooldownMs = *parseDuration(breakerCooldown);
    opt.progressIntervalMs = *parseDuration(progressInterval);
    if (!retention.empty())
        opt.retentionMs = *parseDuration(retention);
    const int64_t busyMs = *parseDuration(busy);
    if (busyMs > kMaxBusyTimeoutMs)
        return usage(env.origin(busyOption) + " must be at most 24h");
    opt.busyTimeoutMs = static_cast<int>(busyMs);
    if (opt.pollIntervalMs < 1)
        return usage(env.origin(pollOption) + " must be at least 1ms");
    if (opt.defaultTimeoutMs < 1 || opt.defaultTimeoutMs > 3'600'000)
        return usage(env.origin(timeoutOption) + " must be from 1ms to 1h");
    if (opt.breaker.cooldownMs < 1)
        return usage(env.origin(cooldownOption) + " must be at least 1ms");
    if (opt.progressIntervalMs < 10)
        return usage(env.origin(progressOption) + " must be at least 10ms");
    std::optional<std::pair<std::string, int>> apiAddress;
    if (!apiListen.empty()) {
        auto parsed = http::parseListenAddress(apiListen, env.origin(apiListenOption), false);
        if (!parsed)
            return usage(parsed.error().message());
        apiAddress = *parsed;
    }
    if (noDeliver && !apiAddress)
        return usage(env.origin(noDeliverOption) + " serves the API only, so it needs --api-listen");
    // An API-only process serves /metrics (the API's series) only where it
    // is told to: the default port belongs to this host's worker.
    std::optional<std::pair<std::string, int>> listenAddress;
    if (listen != "off" && (!noDeliver || listenOption->count() > 0)) {
        auto parsed = http::parseListenAddress(listen, env.origin(listenOption));
        if (!parsed)
            return usage(parsed.error().message());
        listenAddress = *parsed;
    }
    struct {
        const std::vector<std::string>& texts;
        std::vector<Cidr>& into;
        std::string flag;
    } ranges[] = {{allowNetworks, opt.allowedNetworks, env.origin(allowOption)},
                  {denyNetworks, opt.deniedNetworks, env.origin(denyOption)},
                  {nat64Prefixes, opt.nat64Prefixes, env.origin(nat64Option)}};
    for (auto& r : ranges)
        for (const auto& text : r.texts) {
            auto cidr = Cidr::parse(text);
            if (!cidr)
                return usage(r.flag + ": " + cidr.error().message());
            if (&r.into == &opt.nat64Prefixes && cidr->prefix != 96)
                return usage(r.flag +
                             " needs a /96 prefix such as 64:ff9b:1::/96 (other lengths embed IPv4 "
                             "differently and are not supported)");
            r.into.push_back(*cidr);
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
        // Every API and status connection is a descriptor, idle ones too:
        // allow what the hard limit allows (the servers cap connections).
        if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
            files.rlim_cur = std::min<rlim_t>(files.rlim_max, 65'536);
            setrlimit(RLIMIT_NOFILE, &files);
        }
        std::unique_ptr<ApiServer> api;
        auto startApi = [&]() -> bool {
            if (!apiAddress)
                return true;
            ApiOptions ao;
            ao.database = opt.database;
            ao.open.busyTimeoutMs = opt.busyTimeoutMs;
            ao.open.migrate = false; // webhookd's own open below (or the worker's) migrated it
            ao.host = apiAddress->first;
            ao.port = apiAddress->second;
            ao.threads = apiThreads;
            ao.limits.maxPayloadBytes = maxPayload;
            ao.publicUrl = publicUrl;
            ao.frameAncestors = frameAncestors;
            auto a = ApiServer::create(std::move(ao), SystemClock::instance());
            if (!a) {
                std::cerr << "webhookd: the API could not start: " << a.error().message() << ".\n";
                return false;
            }
            api = std::move(*a);
            api->start();
            Log::info("api listening", {{"address", api->address()}});
            if (!http::isLoopbackHost(apiAddress->first))
                Log::warn("the API listens beyond this host over plain HTTP, so API keys cross the network in "
                          "clear; put a TLS reverse proxy in front of it (README, Security)",
                          {{"address", api->address()}});
            return true;
        };
        // The status endpoint, when it listens; false when it was asked for
        // and cannot start.
        std::unique_ptr<StatusServer> server;
        auto startStatus = [&](const Worker* worker) -> bool {
            if (!listenAddress)
                return true;
            StatusServerOptions so;
            so.host = listenAddress->first;
            so.port = listenAddress->second;
            so.database = opt.database;
            so.healthyRate = healthThreshold;
            const int64_t p = opt.pollIntervalMs;
            so.stallMs = std::max<int64_t>(30'000, saturatingAdd(saturatingAdd(p, p), p));
            if (api) {
                so.apiAccepting = [&api] { return api->accepting(); };
                so.apiMetrics = &api->requestMetrics();
            }
            auto s = StatusServer::create(std::move(so), worker);
            if (s) {
                server = std::move(*s);
                server->start();
                Log::info("status endpoint listening", {{"address", server->address()}});
                if (!http::isLoopbackHost(listenAddress->first))
                    Log::warn("the status endpoint listens beyond this host and has no authentication; it shows "
                              "target ids, queue depths and this worker's name (no secrets or URLs)",
                              {{"address", server->address()}});
            } else if (listenOption->count() > 0) {
                std::cerr << "webhookd: " << s.error().message() << ".\n";
                return false;
            } else {
                // The default port is taken, most likely by another worker on
                // this host: that one serves it; this one works without.
                Log::warn("status endpoint not started", {{"error", s.error().message()}});
            }
            return true;
        };
        if (noDeliver) {
            OpenOptions oo;
            oo.busyTimeoutMs = opt.busyTimeoutMs;
            if (auto db = Database::open(opt.database, oo); !db) {
                std::cerr << "webhookd: " << db.error().message() << ".\n";
                return 1;
            }
            if (!startApi() || !startStatus(nullptr))
                return 1;
            Log::info("webhookd started without delivering (--no-deliver)", {{"db", redactLocator(opt.database)}});
            while (!gStopRequested)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (server)
                server->stop();
            api->stop();
            Log::info("webhookd stopped");
            return 0;
        }
        auto worker = Worker::create(opt);
        if (!worker) {
            std::cerr << "webhookd: " << worker.error().message() << ".\n";
            return 1;
        }
        if (!startApi())
            return 1;
        if (!startStatus(worker->get()))
            return 1;
        gWorker = worker->get();
        if (gStopRequested)
            (*worker)->stop();
        auto status = (*worker)->run();
        gWorker = nullptr;
        if (server)
            server->stop();
        if (api)
            api->stop();
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

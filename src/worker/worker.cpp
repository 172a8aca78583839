#include "worker/worker.h"
#include "worker/loop.h"

#include <algorithm>
#include <cstdlib>
#include <sched.h>
#include <unistd.h>

#include <thread>

#include "core/duration.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/validate.h"
#include "signing/signing.h"
#include "worker/reports.h"
#include "worker/retention_thread.h"

namespace webhookd {

namespace {

std::string defaultWorkerId()
{
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    unsigned char r[3];
    randomBytes(r, sizeof r);
    return std::string(host) + ":" + std::to_string(getpid()) + ":" +
        hexEncode(std::string_view(reinterpret_cast<char*>(r), 3));
}

// One delivery thread per core the process may run on.
int defaultThreads()
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return std::clamp(CPU_COUNT(&set), 1, 256);
    return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 256u));
}

// Completions wait at most this long for company before they are committed.
constexpr int64_t kGroupCommitWindowMs = 2;

// How often the worker checks that its database file is still the one it opened.
constexpr int64_t kIdentityCheckIntervalMs = 2000;

// A change of the wall clock against the monotonic one larger than this is a
// jump (an NTP step, a manual change, a resumed VM), not drift.
constexpr int64_t kClockJumpMs = 10'000;

} // namespace

Worker::Impl::Impl(WorkerOptions o, const Clock& c, Database d)
    : opt(std::move(o)),
      clock(c),
      db(std::move(d)),
      queue(db, opt.workerId),
      metrics(opt.healthWindowMs)
{
    queue.setBreaker(opt.breaker);
    clock.set(db.storeClockOffsetMs());
}

// Storage trouble (a long lock, a full disk) pauses claiming and
// recording with a growing back-off; work in memory waits, nothing is lost.
void Worker::Impl::storageFailed(const Error& e, const char* what)
{
    ++storageFailures;
    ++counters.storageFailures;
    const int64_t pause = std::min<int64_t>(5000, 50LL << std::min<int64_t>(storageFailures, 7));
    storagePauseUntilMono = clock.monotonicMs() + pause;
    Log::error("storage failure", {{"during", what}, {"error", e.message()}, {"retry_in", formatDuration(pause)}});
}

void Worker::Impl::storageRecovered()
{
    if (storageFailures > 0)
        Log::info("storage recovered", {{"after_failures", storageFailures}});
    storageFailures = 0;
}

bool Worker::Impl::storagePaused() const { return clock.monotonicMs() < storagePauseUntilMono; }

// Slots enough are free (a quarter of them, or all), the claim is due, and
// storage is not paused.
bool Worker::Impl::wantsClaim(int64_t now) const
{
    const int used = static_cast<int>(inflight.size());
    const bool refill = used == 0 || opt.concurrency - used >= std::max(1, opt.concurrency / 4);
    return used < opt.concurrency && refill && now >= nextClaimAt && !storagePaused();
}

bool Worker::Impl::shouldRecord() const
{
    if (unrecorded.empty() || storagePaused())
        return false;
    if (inflight.empty() || unrecorded.size() >= static_cast<size_t>(std::max(1, opt.concurrency / 2)))
        return true;
    return clock.monotonicMs() - firstUnrecordedMono >= kGroupCommitWindowMs;
}

// See wallOffset (loop.h).
void Worker::Impl::detectClockJump(int64_t now)
{
    const int64_t offset = now - clock.monotonicMs();
    const int64_t delta = offset - wallOffset;
    if (!wallOffsetKnown || std::abs(delta) < kClockJumpMs) {
        wallOffset = offset; // drift and slewing are followed, not acted on
        wallOffsetKnown = true;
        return;
    }
    auto moved = queue.shiftSchedule(delta, now);
    if (!moved) {
        storageFailed(moved.error(), "move the schedule after a clock change");
        return; // tried again next tick; claiming waits meanwhile
    }
    for (auto& c : unrecorded)
        if (c.status == DeliveryStatus::Failed)
            c.nextAttemptAt += delta;
    Log::warn("the wall clock jumped; scheduled deliveries and leases moved with it",
              {{"jump", (delta < 0 ? "-" : "+") + formatDuration(std::abs(delta))}, {"deliveries", *moved}});
    wallOffset = offset;
    nextClaimAt = 0;
}

// A line every progress interval while there is work; none while idle, so
// a quiet worker's log holds only what happened.
void Worker::Impl::progress()
{
    const int64_t mono = clock.monotonicMs();
    if (mono < nextProgressMono)
        return;
    const bool first = nextProgressMono == 0;
    nextProgressMono = mono + (opt.drain && isatty(STDERR_FILENO) ? 1000 : opt.progressIntervalMs);
    const int64_t attempts = counters.attempts.load();
    const bool worked = attempts != attemptsAtProgress || !inflight.empty();
    attemptsAtProgress = attempts;
    if (first || !worked)
        return;
    logProgress(counters, inflight.size());
}

// A store replaced under the worker (a backup restored with mv) would
// leave it delivering from a file nobody writes to while monitoring
// stays green: it stops instead, and the service manager starts it on
// the new file.
void Worker::Impl::checkStore()
{
    const int64_t mono = clock.monotonicMs();
    if (mono < nextIdentityCheckMono)
        return;
    nextIdentityCheckMono = mono + kIdentityCheckIntervalMs;
    if (auto s = db.checkIdentity(); !s) {
        Log::error("stopping: the database is no longer the one webhookd opened", {{"error", s.error().message()}});
        fatal = s.error();
    }
}

// Stop claiming; give in-flight transfers the grace period; release the
// rest without recording an attempt, so another worker sends them.
void Worker::Impl::shutdown()
{
    const int64_t deadline = saturatingAdd(clock.monotonicMs(), opt.shutdownGraceMs);
    while (!inflight.empty() && clock.monotonicMs() < deadline) {
        http->poll(static_cast<int>(std::clamp<int64_t>(deadline - clock.monotonicMs(), 1, 50)), done);
        collect();
    }
    for (int tries = 0; !unrecorded.empty() && tries < 20; ++tries) {
        record();
        if (!unrecorded.empty())
            usleep(100'000);
    }
    std::vector<int64_t> released;
    for (uint64_t tag : http->abortAll())
        released.push_back(static_cast<int64_t>(tag));
    inflight.clear();
    if (!released.empty()) {
        if (auto s = queue.release(released, clock.nowMs()); !s)
            Log::error("could not release deliveries; their leases will expire instead",
                       {{"count", released.size()}, {"error", s.error().message()}});
        else
            Log::info("released unfinished deliveries", {{"count", released.size()}});
    }
    if (!unrecorded.empty())
        Log::error("could not record finished attempts; those deliveries will be sent again after their lease",
                   {{"count", unrecorded.size()}});
}

Status Worker::Impl::run()
{
    logStarted(opt);
    lastChangeToken = queue.changeToken();
    std::optional<RetentionThread> retention;
    if (opt.retentionMs > 0)
        retention.emplace(opt, clock);
    while (!stopping.load()) {
        if (!storagePaused())
            clock.set(db.storeClockOffsetMs()); // asks the server at most every 10 s
        const int64_t now = clock.nowMs();
        counters.lastTickMs = now;
        detectClockJump(now);
        progress();
        checkStore();
        if (fatal)
            break;

        if (wantsClaim(now))
            claim(now);

        if (opt.drain && inflight.empty() && unrecorded.empty() && now < nextClaimAt && !storagePaused()) {
            auto left = queue.outstanding();
            if (left && *left == 0)
                break;
        }

        int wait = 1;
        if (!done.empty())
            wait = 0; // attempts that failed before sending wait to be collected
        else if (inflight.empty())
            wait = static_cast<int>(std::clamp<int64_t>(nextClaimAt - now, 0, 10));
        else if (unrecorded.empty())
            wait = 10;
        if (storagePaused())
            wait = std::max(wait, 10);
        http->poll(wait, done);
        collect();
        if (shouldRecord()) {
            // One transaction, one commit, for what finished and what comes next.
            if (const int64_t at = clock.nowMs(); wantsClaim(at))
                claim(at);
            else
                record();
        }

        // Another process committed (an event arrived, a target changed):
        // look for work now rather than at the end of the sleep.
        if (clock.nowMs() < nextClaimAt) {
            const uint64_t token = queue.changeToken();
            if (token != lastChangeToken) {
                lastChangeToken = token;
                nextClaimAt = 0;
            }
        }
    }
    shutdown();
    if (fatal)
        return fail(*fatal);
    logStopped(opt.workerId, counters);
    return {};
}

Worker::Worker(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }
Worker::~Worker() = default;

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options, const Clock& clock)
{
    if (options.concurrency < 1 || options.concurrency > 10'000)
        return fail(Error::invalid("the concurrency must be between 1 and 10000"));
    if (options.threads == 0)
        options.threads = defaultThreads();
    if (options.threads < 1 || options.threads > 256)
        return fail(Error::invalid("the delivery threads must be between 1 and 256"));
    if (options.pollIntervalMs < 1 || options.pollIntervalMs > kMaxDurationMs)
        return fail(Error::invalid("the poll interval must be between 1ms and 10 years"));
    if (options.defaultTimeoutMs < 1 || options.defaultTimeoutMs > 3'600'000)
        return fail(Error::invalid("the default timeout must be between 1ms and 1h"));
    for (const auto& [ms, what] : {std::pair{options.leaseMs, "the lease"},
                                   {options.leaseMarginMs, "the lease margin"},
                                   {options.shutdownGraceMs, "the shutdown grace"},
                                   {options.retryAfterCapMs, "the Retry-After cap"},
                                   {options.healthWindowMs, "the health window"},
                                   {options.breaker.cooldownMs, "the breaker cool-down"},
                                   {options.retentionMs, "the retention"},
                                   {options.progressIntervalMs, "the progress interval"}})
        if (ms < 0 || ms > kMaxDurationMs)
            return fail(Error::invalid(std::string(what) + " must be between 0ms and 10 years (3650d)"));
    if (options.busyTimeoutMs < 0 || options.busyTimeoutMs > kMaxBusyTimeoutMs)
        return fail(Error::invalid("the busy timeout must be between 0ms and 24h"));
    if (options.userAgent.find_first_of("\r\n") != std::string::npos)
        return fail(Error::invalid("the user agent must not contain line breaks"));
    if (options.breaker.failures < 0 || options.breaker.cooldownMs < 1)
        return fail(
            Error::invalid("the breaker needs a failure count of 0 (off) or more and a cool-down of at least 1ms"));
    if (options.workerId.empty())
        options.workerId = defaultWorkerId();
    OpenOptions open;
    open.busyTimeoutMs = options.busyTimeoutMs;
    // Worker transitions may use NORMAL: losing the last of them in a power
    // cut only means a delivery is sent again (DESIGN.md, Durability).
    open.durability = Durability::Normal;
    open.notifications = true; // the queue's wake-ups and its target cache read them
    auto db = Database::open(options.database, open);
    if (!db)
        return fail(db.error());
    if (db->readOnly())
        return fail(Error::readOnly("the database " + db->path() + " is read-only; webhookd needs to write to it"));
    HttpOptions http;
    http.guard = AddressGuard(GuardOptions{options.allowPrivateNetworks,
                                           options.allowedNetworks,
                                           options.deniedNetworks,
                                           options.nat64Prefixes,
                                           true,
                                           {}});
    http.httpsOnly = options.httpsOnly;
    http.caBundle = options.caBundle;
    http.maxResponseBytes = options.maxResponseBytes;
    auto impl = std::make_unique<Impl>(std::move(options), clock, std::move(*db));
    // Attempts are timed on the store's clock too (attempts.started_at).
    auto client = HttpPool::create(http, impl->clock, impl->opt.threads);
    if (!client)
        return fail(client.error());
    impl->http = std::move(*client);
    return std::unique_ptr<Worker>(new Worker(std::move(impl)));
}

Status Worker::run() { return impl_->run(); }

void Worker::stop()
{
    impl_->stopping.store(true);
    impl_->http->wakeup();
}

const WorkerCounters& Worker::counters() const { return impl_->counters; }
const WorkerMetrics& Worker::metrics() const { return impl_->metrics; }
const std::string& Worker::id() const { return impl_->opt.workerId; }

} // namespace webhookd

#include "worker/worker.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>
#include <unordered_map>

#include "core/duration.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/validate.h"
#include "delivery/http_client.h"
#include "retry/retry.h"
#include "signing/signing.h"
#include "storage/queue.h"
#include "storage/retention.h"
#include "worker/request.h"

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

// Completions wait at most this long for company before they are committed.
constexpr int64_t kGroupCommitWindowMs = 2;

// How often the worker checks that its database file is still the one it opened.
constexpr int64_t kIdentityCheckIntervalMs = 2000;

// A change of the wall clock against the monotonic one larger than this is a
// jump (an NTP step, a manual change, a resumed VM), not drift.
constexpr int64_t kClockJumpMs = 10'000;

// How often --retention looks for rows to delete: a quarter of the retention
// time, between these bounds.
constexpr int64_t kRetentionMinIntervalMs = 1000;
constexpr int64_t kRetentionMaxIntervalMs = 300'000;

// --retention: deletes finished deliveries past the retention time on its own
// thread and connection, in small batches (purgeTerminal), so the delivery
// loop waits at most one batch for the write lock.
class RetentionThread {
public:
    RetentionThread(const WorkerOptions& opt, const Clock& clock)
        : opt_(opt),
          clock_(clock)
    {
        thread_ = std::thread([this] { loop(); });
    }
    ~RetentionThread()
    {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

private:
    void loop()
    {
        const int64_t interval = std::clamp(opt_.retentionMs / 4, kRetentionMinIntervalMs, kRetentionMaxIntervalMs);
        std::optional<Database> db;
        while (!stop_) {
            if (!db) {
                OpenOptions open;
                open.busyTimeoutMs = opt_.busyTimeoutMs;
                open.durability = Durability::Normal;
                auto d = Database::open(opt_.database, open);
                if (d)
                    db.emplace(std::move(*d));
                else
                    Log::error("retention: cannot open the database", {{"error", d.error().message()}});
            }
            if (db)
                purge(*db);
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(interval), [this] { return stop_.load(); });
        }
    }

    void purge(Database& db)
    {
        PurgeOptions p;
        p.completedBeforeMs = clock_.nowMs() - opt_.retentionMs;
        p.batchSize = 500;
        p.stop = &stop_; // a stopping worker waits for one batch at most
        auto r = purgeTerminal(db, p);
        if (!r)
            Log::error("retention: purge failed; it continues next time", {{"error", r.error().message()}});
        else if (r->deliveries > 0)
            Log::info("retention: deleted finished deliveries",
                      {{"deliveries", std::to_string(r->deliveries)},
                       {"attempts", std::to_string(r->attempts)},
                       {"events", std::to_string(r->events)},
                       {"pages_freed", std::to_string(r->pagesFreed)},
                       {"older_than", formatDuration(opt_.retentionMs)}});
    }

    const WorkerOptions& opt_; // the Worker's; the Worker outlives its retention thread
    const Clock& clock_;       // must outlive the thread, as it must the Worker
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace

// The clock the schedule is kept on: the given one for a SQLite file; for a
// store shared between hosts, the store's (its server's time as this host's
// monotonic clock plus a measured offset), so a worker whose own clock is
// off still honours retry times, and a jump of this host's clock changes
// nothing. Any thread may read it.
class StoreClock final : public Clock {
public:
    explicit StoreClock(const Clock& base)
        : base_(base)
    { }
    int64_t nowMs() const override { return shared_.load() ? base_.monotonicMs() + offset_.load() : base_.nowMs(); }
    int64_t monotonicMs() const override { return base_.monotonicMs(); }
    // The store's clock minus the monotonic clock (nullopt: a file on this host).
    void set(std::optional<int64_t> offsetMs)
    {
        if (!offsetMs)
            return;
        offset_.store(*offsetMs);
        shared_.store(true);
    }

private:
    const Clock& base_;
    std::atomic<bool> shared_{false};
    std::atomic<int64_t> offset_{0};
};

struct Worker::Impl {
    WorkerOptions opt;
    StoreClock clock; // over the Clock given, which must outlive the Worker (see worker.h)
    Database db;
    Queue queue;
    std::unique_ptr<HttpClient> http;
    WorkerMetrics metrics;
    WorkerCounters& counters = metrics.counters;
    std::atomic<bool> stopping{false};

    std::unordered_map<uint64_t, ClaimedDelivery> inflight;
    std::unordered_map<uint64_t, int64_t> startedMono; // when each transfer in flight began
    // How long each target's answers took lately (moving average, ms):
    // claims share slots by it (ClaimContext).
    std::unordered_map<std::string, double> answerMs;
    std::vector<Completion> unrecorded; // finished, not yet committed
    int64_t firstUnrecordedMono = 0;
    std::vector<HttpResult> done;

    int64_t nextClaimAt = 0;        // wall ms; claiming before then finds nothing
    bool claimOnCompletion = false; // the last claim held rows back: the next finished transfer claims
    uint64_t lastChangeToken = 0;
    int64_t storagePauseUntilMono = 0; // backing off after a storage failure
    int64_t storageFailures = 0;
    int64_t nextProgressMono = 0;
    int64_t nextIdentityCheckMono = 0;
    std::optional<Error> fatal; // ends run() with this error

    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> unit{0.0, 1.0};

    Impl(WorkerOptions o, const Clock& c, Database d)
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
    void storageFailed(const Error& e, const char* what)
    {
        ++storageFailures;
        ++counters.storageFailures;
        const int64_t pause = std::min<int64_t>(5000, 50LL << std::min<int64_t>(storageFailures, 7));
        storagePauseUntilMono = clock.monotonicMs() + pause;
        Log::error("storage failure", {{"during", what}, {"error", e.message()}, {"retry_in", formatDuration(pause)}});
    }

    void storageRecovered()
    {
        if (storageFailures > 0)
            Log::info("storage recovered", {{"after_failures", std::to_string(storageFailures)}});
        storageFailures = 0;
    }

    bool storagePaused() const { return clock.monotonicMs() < storagePauseUntilMono; }

    // Claims into the free slots; what finished and is not yet recorded goes
    // into the same transaction, so one commit serves both.
    // What the claim shares the slots by: each target's transfers in flight,
    // how long its answers take, and whether it is slow (answers lately
    // over kFastAnswerMs, or one in flight longer).
    ClaimContext claimContext() const
    {
        ClaimContext ctx;
        ctx.concurrency = opt.concurrency;
        ctx.leaseMarginMs = opt.leaseMarginMs;
        for (const auto& [id, ms] : answerMs) {
            auto& load = ctx.targets[id];
            load.typicalMs = std::max<int64_t>(1, std::llround(ms));
            load.slow = ms > static_cast<double>(kFastAnswerMs);
        }
        const int64_t mono = clock.monotonicMs();
        for (const auto& [tag, d] : inflight) {
            auto& load = ctx.targets[d.target->id];
            ++load.inFlight;
            auto started = startedMono.find(tag);
            if (started != startedMono.end() && mono - started->second > kFastAnswerMs)
                load.slow = true;
        }
        return ctx;
    }

    void claim(int64_t now)
    {
        const int free = opt.concurrency - static_cast<int>(inflight.size());
        auto r = queue.completeAndClaim(unrecorded, now, opt.leaseMs, opt.defaultTimeoutMs, free, claimContext());
        if (!r) {
            storageFailed(r.error(), unrecorded.empty() ? "claim" : "record attempts and claim");
            return;
        }
        storageRecovered();
        recorded();
        if (r->reclaimed > 0)
            Log::info("reclaimed expired leases", {{"count", std::to_string(r->reclaimed)}});
        for (int64_t id : r->orphaned)
            Log::error("moved to the dead-letter queue: its event row is missing", {{"delivery", std::to_string(id)}});
        for (auto& d : r->claimed) {
            const auto tag = static_cast<uint64_t>(d.id);
            if (inflight.count(tag) > 0) {
                // Our own lease ran out mid-flight and this claim took the
                // delivery again: the transfer under way records it (the
                // lease is still ours); a second one would send it twice.
                Log::warn("claimed a delivery already in flight; not sending it twice",
                          {{"delivery", std::to_string(d.id)}});
                continue;
            }
            auto request = buildRequest(d, now, opt.userAgent, opt.defaultTimeoutMs);
            if (request) {
                http->start(std::move(*request));
            } else {
                // Recorded as an attempt that sent nothing; collect() takes it.
                HttpResult failed;
                failed.tag = tag;
                failed.outcome.startedAtMs = now;
                failed.outcome.error = TransportError::Signing;
                failed.outcome.errorMessage = request.error().message();
                done.push_back(std::move(failed));
            }
            inflight.emplace(tag, std::move(d));
            startedMono[tag] = clock.monotonicMs();
        }
        counters.claimed += static_cast<int64_t>(r->claimed.size());
        counters.inFlight = static_cast<int64_t>(inflight.size());
        if (r->moreToMove && static_cast<int>(r->claimed.size()) < free) {
            // The claim moved as many rows out of the way as it may: claim
            // again at once, for what waits behind them.
            nextClaimAt = now;
        } else if (r->heldBack > 0 && static_cast<int>(r->claimed.size()) < free) {
            // Targets at their share or cap had rows stepped over: claim
            // again when a transfer finishes (collect) and frees a slot, or
            // when the rows held back come due, not at once (the walk would
            // only step over the same targets' next rows).
            nextClaimAt = saturatingAdd(now, kFastAnswerMs);
            claimOnCompletion = true;
        } else if (static_cast<int>(r->claimed.size()) < free) {
            // Everything due is taken: sleep until the next due row, a poll
            // interval at most, or until another process commits.
            auto due = queue.nextDueAt(now);
            int64_t next = saturatingAdd(now, opt.pollIntervalMs);
            if (due && *due)
                next = std::min(next, std::max(**due, now + 1));
            nextClaimAt = next;
        }
    }

    Log::Fields withPayload(const ClaimedDelivery& d, Log::Fields fields) const
    {
        if (opt.logPayloads) {
            fields.emplace_back("type", d.type);
            fields.emplace_back("payload", d.payload);
        }
        return fields;
    }

    void collect()
    {
        const int64_t now = clock.nowMs();
        for (auto& res : done) {
            auto it = inflight.find(res.tag);
            if (it == inflight.end())
                continue;
            const ClaimedDelivery& d = it->second;
            const RetryPolicy& policy = d.target->retry;
            Decision dec = decide(res.outcome, policy, d.attemptsUsed + 1, unit(rng), now, opt.retryAfterCapMs,
                                  d.throttleDeferrals);
            if (res.outcome.error != TransportError::Signing) {
                // An answer, or a timeout: either says how long a slot stays taken.
                auto [avg, fresh] = answerMs.try_emplace(d.target->id, static_cast<double>(res.outcome.durationMs));
                if (!fresh)
                    avg->second = 0.8 * avg->second + 0.2 * static_cast<double>(res.outcome.durationMs);
            }
            metrics.recordAttempt(res.outcome, dec.verdict == Verdict::Delivered, now);
            Completion c;
            c.deliveryId = d.id;
            c.targetId = d.target->id;
            c.attemptNumber = d.attemptNumber;
            c.outcome = std::move(res.outcome);
            c.lastError = dec.lastError;
            c.freeThrottle = dec.freeThrottle;
            ++counters.attempts;
            switch (dec.verdict) {
            case Verdict::Delivered:
                c.status = DeliveryStatus::Delivered;
                ++counters.delivered;
                break;
            case Verdict::Retry:
                c.status = DeliveryStatus::Failed;
                c.nextAttemptAt = dec.nextAttemptAt;
                ++counters.retried;
                Log::info("attempt failed; retry scheduled",
                          withPayload(d,
                                      {{"delivery", std::to_string(d.id)},
                                       {"target", d.target->id},
                                       {"attempt", std::to_string(d.attemptNumber)},
                                       {"error", dec.lastError},
                                       {"next_attempt_at", isoTime(dec.nextAttemptAt)}}));
                break;
            case Verdict::DeadLetter:
                c.status = DeliveryStatus::DeadLetter;
                c.deadLetterReason = dec.deadLetterReason;
                ++counters.deadLettered;
                Log::warn("moved to the dead-letter queue",
                          withPayload(d,
                                      {{"delivery", std::to_string(d.id)},
                                       {"target", d.target->id},
                                       {"attempt", std::to_string(d.attemptNumber)},
                                       {"reason", dec.deadLetterReason}}));
                break;
            }
            if (unrecorded.empty())
                firstUnrecordedMono = clock.monotonicMs();
            unrecorded.push_back(std::move(c));
            startedMono.erase(it->first);
            inflight.erase(it);
            if (claimOnCompletion) {
                nextClaimAt = 0; // a slot is free: the rows held back may have their turn
                claimOnCompletion = false;
            }
        }
        done.clear();
        counters.inFlight = static_cast<int64_t>(inflight.size());
    }

    void record()
    {
        if (unrecorded.empty())
            return;
        const int64_t now = clock.nowMs();
        if (auto s = queue.complete(unrecorded, now); !s) {
            storageFailed(s.error(), "record attempts");
            return;
        }
        storageRecovered();
        recorded();
    }

    // After unrecorded was committed: a scheduled retry may be due before the
    // next planned claim.
    void recorded()
    {
        for (const auto& c : unrecorded)
            if (c.status == DeliveryStatus::Failed)
                nextClaimAt = std::min(nextClaimAt, c.nextAttemptAt);
        unrecorded.clear();
        for (const auto& e : queue.takeTargetEvents()) {
            switch (e.kind) {
            case TargetEvent::Kind::Paused:
                ++counters.breakerTrips;
                Log::warn("target paused by the circuit breaker",
                          {{"target", e.targetId},
                           {"reason", e.reason},
                           {"probe_in", formatDuration(opt.breaker.cooldownMs)}});
                break;
            case TargetEvent::Kind::Resumed:
                ++counters.breakerResumes;
                Log::info("target resumed", {{"target", e.targetId}, {"reason", e.reason}});
                break;
            case TargetEvent::Kind::Disabled:
                ++counters.targetsGone;
                Log::warn("target disabled", {{"target", e.targetId}, {"reason", e.reason}});
                break;
            case TargetEvent::Kind::Throttled:
                ++counters.throttleCuts;
                Log::warn("target throttled", {{"target", e.targetId}, {"reason", e.reason}});
                break;
            case TargetEvent::Kind::Unreadable:
                Log::error("target disabled: its row cannot be read; fix it, then run 'webhookctl target enable'",
                           {{"target", e.targetId}, {"reason", e.reason}});
                break;
            }
        }
    }

    bool shouldRecord() const
    {
        if (unrecorded.empty() || storagePaused())
            return false;
        if (inflight.empty() || unrecorded.size() >= static_cast<size_t>(std::max(1, opt.concurrency / 2)))
            return true;
        return clock.monotonicMs() - firstUnrecordedMono >= kGroupCommitWindowMs;
    }

    // Clock changes. Stored times are wall-clock ms: after a jump back a retry
    // due in a second would wait an hour, after one forward every lease
    // (this worker's own too) would look expired. So a jump moves the stored
    // schedule by the jump (Queue::shiftSchedule), and with it the retry
    // times not yet recorded, and the next claim is looked for at once.
    int64_t wallOffset = 0; // nowMs - monotonicMs at the last tick
    bool wallOffsetKnown = false;

    void detectClockJump(int64_t now)
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
                  {{"jump", (delta < 0 ? "-" : "+") + formatDuration(std::abs(delta))},
                   {"deliveries", std::to_string(*moved)}});
        wallOffset = offset;
        nextClaimAt = 0;
    }

    void progress()
    {
        const int64_t mono = clock.monotonicMs();
        if (mono < nextProgressMono)
            return;
        const bool first = nextProgressMono == 0;
        nextProgressMono = mono + (opt.drain && isatty(STDERR_FILENO) ? 1000 : 10'000);
        if (first)
            return;
        Log::info("progress",
                  {{"attempts", std::to_string(counters.attempts.load())},
                   {"delivered", std::to_string(counters.delivered.load())}, // not a status: a count
                   {"retried", std::to_string(counters.retried.load())},
                   {"dead_lettered", std::to_string(counters.deadLettered.load())},
                   {"in_flight", std::to_string(inflight.size())}});
    }

    // A store replaced under the worker (a backup restored with mv) would
    // leave it delivering from a file nobody writes to while monitoring
    // stays green: it stops instead, and the service manager starts it on
    // the new file.
    void checkStore()
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
    void shutdown()
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
        startedMono.clear();
        if (!released.empty()) {
            if (auto s = queue.release(released, clock.nowMs()); !s)
                Log::error("could not release deliveries; their leases will expire instead",
                           {{"count", std::to_string(released.size())}, {"error", s.error().message()}});
            else
                Log::info("released unfinished deliveries", {{"count", std::to_string(released.size())}});
        }
        if (!unrecorded.empty())
            Log::error("could not record finished attempts; those deliveries will be sent again after their lease",
                       {{"count", std::to_string(unrecorded.size())}});
    }

    Status run()
    {
        Log::info("webhookd started",
                  {{"worker", opt.workerId},
                   {"db", redactLocator(opt.database)},
                   {"concurrency", std::to_string(opt.concurrency)},
                   {"poll_interval", formatDuration(opt.pollIntervalMs)},
                   {"default_timeout", formatDuration(opt.defaultTimeoutMs)},
                   {"lease", formatDuration(opt.leaseMs)},
                   {"user_agent", opt.userAgent},
                   {"private_networks", opt.allowPrivateNetworks ? "allowed" : "blocked"},
                   {"allowed_networks", std::to_string(opt.allowedNetworks.size())},
                   {"denied_networks", std::to_string(opt.deniedNetworks.size())},
                   {"https_only", opt.httpsOnly ? "yes" : "no"},
                   {"ca_bundle", opt.caBundle.empty() ? "system" : opt.caBundle},
                   {"max_response_bytes", std::to_string(opt.maxResponseBytes)},
                   {"retry_after_cap", formatDuration(opt.retryAfterCapMs)},
                   {"shutdown_grace", formatDuration(opt.shutdownGraceMs)},
                   {"breaker",
                    opt.breaker.failures > 0 ? std::to_string(opt.breaker.failures) + " failures, " +
                            formatDuration(opt.breaker.cooldownMs) + " cool-down"
                                             : "off"},
                   {"retention", opt.retentionMs > 0 ? formatDuration(opt.retentionMs) : "off"},
                   {"log_payloads", opt.logPayloads ? "yes" : "no"},
                   {"drain", opt.drain ? "yes" : "no"}});
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

            const bool slots = static_cast<int>(inflight.size()) < opt.concurrency;
            const bool refill = inflight.empty() ||
                opt.concurrency - static_cast<int>(inflight.size()) >= std::max(1, opt.concurrency / 4);
            if (slots && refill && now >= nextClaimAt && !storagePaused())
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
            if (shouldRecord())
                record();

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
        Log::info("webhookd stopped",
                  {{"worker", opt.workerId},
                   {"attempts", std::to_string(counters.attempts.load())},
                   {"delivered", std::to_string(counters.delivered.load())}, // not a status: a count
                   {"dead_lettered", std::to_string(counters.deadLettered.load())}});
        return {};
    }
};

Worker::Worker(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }
Worker::~Worker() = default;

Result<std::unique_ptr<Worker>> Worker::create(WorkerOptions options, const Clock& clock)
{
    if (options.concurrency < 1 || options.concurrency > 10'000)
        return fail(Error::invalid("the concurrency must be between 1 and 10000"));
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
                                   {options.retentionMs, "the retention"}})
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
    auto client = HttpClient::create(std::move(http), impl->clock);
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

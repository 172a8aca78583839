#include "worker/metrics.h"

#include <algorithm>

#include <fmt/format.h>

#include "model/delivery_status.h"
#include "model/rollup.h"

namespace webhookd {

// /metrics and the stats_minutely rollup share their latency buckets.
static_assert([] {
    for (size_t i = 0; i < kLatencyBoundsMs.size(); ++i)
        if (static_cast<int64_t>(WorkerMetrics::kBuckets[i] * 1000 + 0.5) != kLatencyBoundsMs[i])
            return false;
    return WorkerMetrics::kBuckets.size() == kLatencyBoundsMs.size();
}());

WorkerMetrics::WorkerMetrics(int64_t healthWindowMs)
    : windowMs_(std::max<int64_t>(healthWindowMs, kSlots)),
      slotMs_(windowMs_ / static_cast<int64_t>(kSlots))
{ }

std::string WorkerMetrics::outcomeLabel(const Outcome& outcome, bool success)
{
    if (success)
        return "success";
    if (outcome.error != TransportError::None)
        return std::string(transportErrorName(outcome.error));
    if (outcome.statusCode >= 100 && outcome.statusCode <= 599)
        return "http_" + std::to_string(outcome.statusCode / 100) + "xx";
    return "network";
}

void WorkerMetrics::recordAttempt(const Outcome& outcome, bool success, int64_t nowMs)
{
    const double seconds = static_cast<double>(outcome.durationMs) / 1000.0;
    const size_t bucket =
        static_cast<size_t>(std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
    std::string label = outcomeLabel(outcome, success);
    const int64_t index = nowMs / slotMs_;

    std::lock_guard lock(mutex_);
    if (bucket < kBuckets.size())
        ++latency_.buckets[bucket];
    ++latency_.count;
    latency_.sumSeconds += seconds;
    ++outcomes_[std::move(label)];
    Slot& slot = slots_[static_cast<size_t>(index) % kSlots];
    if (slot.index != index)
        slot = Slot{index, 0, 0};
    ++slot.attempts;
    slot.successes += success ? 1 : 0;
}

WorkerMetrics::Window WorkerMetrics::recent(int64_t nowMs) const
{
    const int64_t newest = nowMs / slotMs_;
    Window w;
    std::lock_guard lock(mutex_);
    for (const Slot& slot : slots_) {
        if (slot.index > newest - static_cast<int64_t>(kSlots) && slot.index <= newest) {
            w.attempts += slot.attempts;
            w.successes += slot.successes;
        }
    }
    return w;
}

WorkerMetrics::Histogram WorkerMetrics::latency() const
{
    std::lock_guard lock(mutex_);
    return latency_;
}

std::map<std::string, int64_t> WorkerMetrics::attemptsByOutcome() const
{
    std::lock_guard lock(mutex_);
    return outcomes_;
}

namespace {

std::string labelValue(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

struct Writer {
    std::string out;

    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, std::string_view labels, double value)
    {
        out += name;
        if (!labels.empty())
            out += fmt::format("{{{}}}", labels);
        out += fmt::format(" {}\n", value);
    }
};

} // namespace

std::string prometheusText(const WorkerMetrics& metrics, const MonitorSnapshot& db, int64_t nowMs)
{
    const WorkerCounters& c = metrics.counters;
    Writer w;
    auto counter = [&](std::string_view name, std::string_view help, int64_t value) {
        w.family(name, "counter", help);
        w.sample(name, "", static_cast<double>(value));
    };

    w.family("webhookd_deliveries", "gauge", "Deliveries in the database by target and status.");
    std::map<DeliveryStatus, int64_t> depth;
    for (const auto& [key, n] : db.deliveries) {
        w.sample("webhookd_deliveries",
                 fmt::format("target=\"{}\",status=\"{}\"", labelValue(key.first), toString(key.second)),
                 static_cast<double>(n));
        depth[key.second] += n;
    }
    w.family("webhookd_queue_depth", "gauge", "Deliveries in the database by status, all targets.");
    for (DeliveryStatus status : status_set::kAll)
        w.sample("webhookd_queue_depth", fmt::format("status=\"{}\"", toString(status)),
                 static_cast<double>(depth[status]));
    w.family("webhookd_oldest_due_age_seconds", "gauge",
             "How long the longest-waiting due delivery of an enabled target has been due (0 when none).");
    w.sample("webhookd_oldest_due_age_seconds", "",
             db.oldestDueAt ? static_cast<double>(std::max<int64_t>(0, nowMs - *db.oldestDueAt)) / 1000.0 : 0.0);

    w.family("webhookd_target_enabled", "gauge", "1 when the target is enabled.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_enabled", fmt::format("target=\"{}\"", labelValue(t.id)), t.enabled ? 1 : 0);
    w.family("webhookd_target_paused", "gauge", "1 while the target's circuit breaker is open.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_paused", fmt::format("target=\"{}\"", labelValue(t.id)), t.paused ? 1 : 0);
    w.family("webhookd_target_consecutive_failures", "gauge", "Failed attempts in a row, per target.");
    for (const auto& t : db.targets)
        w.sample("webhookd_target_consecutive_failures", fmt::format("target=\"{}\"", labelValue(t.id)),
                 t.consecutiveFailures);

    w.family("webhookd_target_rate_current", "gauge",
             "The rate adaptive throttling holds the target at, per second (only while throttled).");
    for (const auto& t : db.targets)
        if (t.rateCurrent)
            w.sample("webhookd_target_rate_current", fmt::format("target=\"{}\"", labelValue(t.id)), *t.rateCurrent);
    w.family("webhookd_target_rate_per_second", "gauge",
             "The rate the target is sent at: throttled or configured (absent when unlimited).");
    for (const auto& t : db.targets)
        if (t.rate)
            w.sample("webhookd_target_rate_per_second", fmt::format("target=\"{}\"", labelValue(t.id)), *t.rate);

    w.family("webhookd_attempts_total", "counter", "HTTP attempts this worker finished, by outcome.");
    for (const auto& [outcome, n] : metrics.attemptsByOutcome())
        w.sample("webhookd_attempts_total", fmt::format("outcome=\"{}\"", labelValue(outcome)), static_cast<double>(n));

    const auto h = metrics.latency();
    w.family("webhookd_attempt_duration_seconds", "histogram", "Duration of HTTP attempts.");
    int64_t cumulative = 0;
    for (size_t i = 0; i < WorkerMetrics::kBuckets.size(); ++i) {
        cumulative += h.buckets[i];
        w.sample("webhookd_attempt_duration_seconds_bucket", fmt::format("le=\"{}\"", WorkerMetrics::kBuckets[i]),
                 static_cast<double>(cumulative));
    }
    w.sample("webhookd_attempt_duration_seconds_bucket", "le=\"+Inf\"", static_cast<double>(h.count));
    w.sample("webhookd_attempt_duration_seconds_sum", "", h.sumSeconds);
    w.sample("webhookd_attempt_duration_seconds_count", "", static_cast<double>(h.count));

    counter("webhookd_delivered_total", "Deliveries this worker delivered.", c.delivered);
    counter("webhookd_retries_scheduled_total", "Failed attempts after which a retry was scheduled.", c.retried);
    counter("webhookd_dead_lettered_total", "Deliveries this worker moved to the dead-letter queue.", c.deadLettered);
    counter("webhookd_claimed_total", "Deliveries this worker claimed.", c.claimed);
    counter("webhookd_breaker_trips_total", "Times this worker paused a target (circuit breaker opened).",
            c.breakerTrips);
    counter("webhookd_breaker_resumes_total", "Times a probe succeeded and resumed a paused target.", c.breakerResumes);
    counter("webhookd_throttle_cuts_total", "Times this worker halved a target's rate on 429, 502, 503 or 504.",
            c.throttleCuts);
    counter("webhookd_targets_gone_total", "Targets this worker disabled because they answered 410 Gone.",
            c.targetsGone);
    counter("webhookd_storage_failures_total", "Database operations that failed (and were retried).",
            c.storageFailures);
    w.family("webhookd_in_flight", "gauge", "HTTP transfers in flight.");
    w.sample("webhookd_in_flight", "", static_cast<double>(c.inFlight.load()));
    w.family("webhookd_last_tick_timestamp_seconds", "gauge", "When the delivery loop last turned (Unix time).");
    w.sample("webhookd_last_tick_timestamp_seconds", "", static_cast<double>(c.lastTickMs.load()) / 1000.0);
    return std::move(w.out);
}

} // namespace webhookd

#include "records/json.h"

#include <cctype>

#include "core/validate.h"
#include "signing/signing.h"

namespace webhookd {

namespace {

using nlohmann::json;

template <typename T>
json orNull(const std::optional<T>& v)
{
    return v ? json(*v) : json(nullptr);
}

// The fields of Counts, named like statuses but counts (pending holds
// in_progress and rate_limited too).
json countsJson(const Counts& c)
{
    json j = {{"total", c.total}};
    j["delivered"] = c.delivered;    // not a status: a count
    j["failed"] = c.failed;          // not a status: a count
    j["dead_letter"] = c.deadLetter; // not a status: a count
    j["pending"] = c.pending;        // not a status: a count
    return j;
}

} // namespace

json deliveryJson(const Delivery& d)
{
    json j = {
        {"id", d.id},
        {"event_id", d.eventId},
        {"event_uid", d.eventUid},
        {"type", d.type},
        {"target_id", d.targetId},
        {"status", toString(d.status)},
        {"priority", d.priority},
        {"attempt_count", d.attemptCount},
        {"next_attempt_at", d.nextAttemptAt},
        {"last_status_code", orNull(d.lastStatusCode)},
        {"last_error", orNull(d.lastError)},
        {"created_at", d.createdAt},
        {"updated_at", d.updatedAt},
        {"completed_at", orNull(d.completedAt)},
    };
    if (d.deadLetterReason)
        j["dead_letter_reason"] = *d.deadLetterReason;
    if (d.orderingGroup)
        j["ordering_group"] = *d.orderingGroup;
    if (d.waitingBehind)
        j["waiting_behind"] = *d.waitingBehind;
    if (d.blocksGroup)
        j["blocks_group"] = true;
    return j;
}

json attemptJson(const Attempt& a)
{
    return {
        {"number", a.number},
        {"started_at", a.startedAt},
        {"duration_ms", a.durationMs},
        {"status_code", orNull(a.statusCode)},
        {"error_type", orNull(a.errorType)},
        {"error_message", orNull(a.errorMessage)},
        {"retry_after_ms", orNull(a.retryAfterMs)},
        {"response_excerpt", a.responseExcerpt},
        {"request_head", orNull(a.requestHead)},
        {"response_head", orNull(a.responseHead)},
    };
}

json deliveryWithAttemptsJson(const Delivery& d)
{
    json j = deliveryJson(d);
    json attempts = json::array();
    for (const auto& a : d.attempts)
        attempts.push_back(attemptJson(a));
    j["attempts"] = std::move(attempts);
    return j;
}

json retryPolicyJson(const RetryPolicy& r)
{
    return {
        {"max_attempts", r.maxAttempts},
        {"initial_delay_ms", r.initialDelayMs},
        {"max_delay_ms", r.maxDelayMs},
        {"backoff_multiplier", r.multiplier},
        {"jitter_factor", r.jitter},
        {"retry_schedule", r.schedule.empty() ? json(nullptr) : json(r.schedule)},
        {"retry_schedule_name", retryScheduleName(r.schedule)},
        {"retry_window_ms", retryWindowMs(r)},
    };
}

json targetJson(const Target& t, bool showSecret)
{
    json headers = json::object();
    for (const auto& [k, v] : t.headers)
        headers[k] = shownHeaderValue(k, v, showSecret);
    json olderExpiry = json::array();
    for (const auto& o : t.olderSecrets)
        olderExpiry.push_back(o.expiresAt);
    json j = {
        {"id", t.id},
        {"name", t.name},
        {"url", shownUrl(t.url, showSecret)},
        {"secret", showSecret ? t.secret : maskSecret(t.secret)},
        {"previous_secret_expires_at", orNull(t.previousSecretExpiresAt)},
        {"enabled", t.enabled},
        {"disabled_reason", orNull(t.disabledReason)},
        {"consecutive_failures", t.consecutiveFailures},
        {"paused_until", orNull(t.pausedUntil)},
        {"paused_at", orNull(t.pausedAt)},
        {"paused_reason", orNull(t.pausedReason)},
        {"event_filters", t.eventFilters},
        // Stored valid (a hand-edited column that is not JSON shows as null;
        // the target's row error says why).
        {"filter", t.payloadFilter ? json::parse(*t.payloadFilter, nullptr, false) : json(nullptr)},
        {"headers", headers},
        {"timeout_ms", orNull(t.timeoutMs)},
        {"rate_per_second", orNull(t.ratePerSecond)},
        {"burst", orNull(t.burst)},
        {"rate_limit_enabled", t.rateLimitEnabled},
        {"max_in_flight", orNull(t.maxInFlight)},
        {"min_rate", orNull(t.minRate)},
        {"rate_step", orNull(t.rateStep)},
        {"rate_current", orNull(t.rateCurrent)},
        {"rate_adjusted_at", orNull(t.rateAdjustedAt)},
        {"rate_signal_at", orNull(t.rateSignalAt)},
        {"rate_signal", orNull(t.rateSignal)},
        {"older_secrets_expire_at", olderExpiry},
        {"metadata", t.metadata},
        {"signature_scheme", std::string(signatureSchemeName(t.signatureScheme))},
        {"ca_bundle", orNull(t.caBundle)},
        {"app_id", orNull(t.appId)},
        {"body_format", std::string(bodyFormatName(t.bodyFormat))},
        {"ordering", std::string(orderingName(t.ordering))},
        {"ordering_dead_letter", std::string(orderingDeadLetterName(t.orderingDeadLetter))},
        {"created_at", t.createdAt},
        {"updated_at", t.updatedAt},
    };
    j.update(retryPolicyJson(t.retry));
    if (showSecret && t.previousSecret)
        j["previous_secret"] = *t.previousSecret;
    if (showSecret) {
        json older = json::array();
        for (const auto& o : t.olderSecrets)
            older.push_back({{"secret", o.secret}, {"expires_at", o.expiresAt}});
        j["older_secrets"] = std::move(older);
    }
    return j;
}

json eventJson(const EventRecord& e)
{
    return {{"id", e.uid},
            {"event_id", e.id},
            {"type", e.type},
            {"priority", e.priority},
            {"created_at", e.createdAt},
            {"idempotency_key", orNull(e.idempotencyKey)},
            {"app_id", orNull(e.appId)},
            {"ordering_key", orNull(e.orderingKey)}};
}

json eventCreatedJson(const SendResult& r, const std::string& type)
{
    json deliveries = json::array();
    for (size_t i = 0; i < r.deliveryIds.size(); ++i)
        deliveries.push_back({{"id", r.deliveryIds[i]}, {"target_id", r.targetIds[i]}});
    return {{"id", r.uid},
            {"event_id", r.eventId},
            {"type", type},
            {"created_at", r.createdAt},
            {"deliveries", deliveries},
            {"duplicate", r.duplicate}};
}

json sendResultJson(const SendResult& r)
{
    return {{"event_id", r.eventId},
            {"event_uid", r.uid},
            {"delivery_ids", r.deliveryIds},
            {"target_ids", r.targetIds},
            {"duplicate", r.duplicate}};
}

json timeseriesJson(const std::vector<TimeseriesPoint>& points, int64_t stepMs)
{
    json out = json::array();
    for (const auto& p : points) {
        const MinuteCounts& c = p.counts;
        auto ms = [&](double q) { return orNull(latencyQuantile(c, q)); };
        out.push_back({{"t", p.t},
                       {"attempts", c.attempts},
                       {"delivered", c.delivered}, // not a status: a count
                       {"failed", c.retried},      // not a status: a count
                       {"dead_lettered", c.deadLettered},
                       {"throttled", c.throttled},
                       {"avg_ms",
                        c.attempts ? json(static_cast<double>(c.durationMsSum) / static_cast<double>(c.attempts))
                                   : json(nullptr)},
                       {"p50_ms", ms(0.5)},
                       {"p95_ms", ms(0.95)},
                       {"p99_ms", ms(0.99)}});
    }
    return {{"step_ms", stepMs}, {"points", std::move(out)}};
}

json statsJson(const Stats& s)
{
    json byType = json::object(), byTarget = json::object(), depth = json::object();
    for (const auto& [k, c] : s.byEventType)
        byType[k] = countsJson(c);
    for (const auto& [k, c] : s.byTarget)
        byTarget[k] = countsJson(c);
    for (const auto& [status, n] : s.queueDepth)
        depth[std::string(toString(status))] = n;
    return {
        {"total_deliveries", s.all.total},
        {"successful_deliveries", s.all.delivered},
        {"failed_deliveries", s.all.failed},
        {"dead_letter_deliveries", s.all.deadLetter},
        {"pending_deliveries", s.all.pending},
        {"average_response_time_ms", s.averageResponseTimeMs},
        {"success_rate", s.successRate},
        {"by_event_type", byType},
        {"by_target", byTarget},
        {"attempt_latency_ms",
         {{"p50", orNull(s.attemptLatencyMs.p50)},
          {"p95", orNull(s.attemptLatencyMs.p95)},
          {"p99", orNull(s.attemptLatencyMs.p99)}}},
        {"time_to_deliver_ms", {{"p50", orNull(s.timeToDeliverMs.p50)}, {"p95", orNull(s.timeToDeliverMs.p95)}}},
        {"queue_depth", depth},
        {"oldest_due_age_ms", orNull(s.oldestDueAgeMs)},
    };
}

json apiKeyJson(const ApiKey& k)
{
    return {{"id", k.id},
            {"name", k.name},
            {"scopes", k.scopes},
            {"created_at", k.createdAt},
            {"expires_at", orNull(k.expiresAt)},
            {"revoked_at", orNull(k.revokedAt)},
            {"last_used_at", orNull(k.lastUsedAt)},
            {"app_id", orNull(k.appId)},
            {"kind", k.portal ? "portal" : "key"}};
}

json portalSessionJson(const ApiKey& session, const std::string& token, const std::string& url)
{
    return {{"url", url},
            {"token", token},
            {"expires_at", orNull(session.expiresAt)},
            {"app_id", orNull(session.appId)},
            {"id", session.id}};
}

std::string maskSecret(const std::string& secret)
{
    return secret.rfind("whsec_", 0) == 0 ? "whsec_********" : "********";
}

std::string shownHeaderValue(std::string_view name, const std::string& value, bool showSecret)
{
    return showSecret || !isSensitiveHeader(name) ? value : "********";
}

std::string shownUrl(const std::string& url, bool showSecret) { return showSecret ? url : redactUrl(url); }

} // namespace webhookd

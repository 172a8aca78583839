#pragma once

// The JSON of webhookd's records: the contract of `webhookctl --json`, the
// status endpoint and the HTTP API (DESIGN.md, Command-line contract; the
// snake_case names never change). Secrets and other credentials are masked
// unless showSecret says otherwise.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/api_key.h"
#include "model/delivery.h"
#include "model/event.h"
#include "model/rollup.h"
#include "model/stats.h"
#include "model/target.h"

namespace webhookd {

// {id, event_id, event_uid, type, target_id, status, priority, attempt_count,
// next_attempt_at, last_status_code, last_error, created_at, updated_at,
// completed_at}, plus dead_letter_reason while it is a dead letter.
nlohmann::json deliveryJson(const Delivery& d);
// deliveryJson plus "attempts", each as attemptJson.
nlohmann::json deliveryWithAttemptsJson(const Delivery& d);
// {number, started_at, duration_ms, status_code, error_type, error_message,
// retry_after_ms, response_excerpt}.
nlohmann::json attemptJson(const Attempt& a);

// A retry policy by the names of a target's fields, with its schedule's
// name and the whole window (retry_window_ms: when the last attempt is due).
nlohmann::json retryPolicyJson(const RetryPolicy& r);

// Every field of the target; the secret, URL passwords and auth-like header
// values masked unless showSecret (then previous_secret too).
nlohmann::json targetJson(const Target& t, bool showSecret);

// An event as the API lists it: {id (the msg_ uid), event_id, type,
// priority, created_at, idempotency_key, app_id}.
nlohmann::json eventJson(const EventRecord& e);

// What POST /events answers: {id, event_id, type, created_at, deliveries:
// [{id, target_id}], duplicate}.
nlohmann::json eventCreatedJson(const SendResult& r, const std::string& type);

// {event_id, event_uid, delivery_ids, target_ids, duplicate}: what `send --json` prints.
nlohmann::json sendResultJson(const SendResult& r);

// The figures as `stats --json` and /stats print them (DESIGN.md's
// snake_case names, plus the later ones).
nlohmann::json statsJson(const Stats& s);

// GET /stats/timeseries: {step_ms, points: [{t, attempts, delivered, failed,
// dead_lettered, throttled, avg_ms, p50_ms, p95_ms, p99_ms}]}; the ms are
// null for a step without attempts.
nlohmann::json timeseriesJson(const std::vector<TimeseriesPoint>& points, int64_t stepMs);

// {id, name, scopes, created_at, expires_at, revoked_at, last_used_at}: never
// the secret (it is not stored).
nlohmann::json apiKeyJson(const ApiKey& k);
// A new portal session as POST /apps/{app}/portal-sessions and
// `portal-link --json` show it: {url, token, expires_at, app_id, id}.
nlohmann::json portalSessionJson(const ApiKey& session, const std::string& token, const std::string& url);

// Masking, for text output too.
std::string maskSecret(const std::string& secret);
// isSensitiveHeader (core/validate.h) is how headers are masked.
std::string shownHeaderValue(std::string_view name, const std::string& value, bool showSecret);
std::string shownUrl(const std::string& url, bool showSecret);

} // namespace webhookd

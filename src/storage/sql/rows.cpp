#include "storage/sql/rows.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "routing/payload_filter.h"

namespace webhookd::detail {

Target readTarget(sql::Statement& q, int i)
{
    using nlohmann::json;
    Target t;
    t.id = q.getColumn(i + 0).getString();
    t.name = q.getColumn(i + 1).getString();
    t.url = q.getColumn(i + 2).getString();
    t.secret = q.getColumn(i + 3).getString();
    t.previousSecret = optionalColumn<std::string>(q, i + 4);
    t.previousSecretExpiresAt = optionalColumn<int64_t>(q, i + 5);
    t.enabled = q.getColumn(i + 6).getInt() != 0;
    // A JSON column edited by hand may hold what the CHECKs allow but this
    // reader cannot use; the target is then marked, not the read failed (one
    // bad row must not stop every listing and the worker).
    auto column = [&](int at, const char* name) -> json {
        json j = json::parse(q.getColumn(at).getString(), nullptr, false);
        if (j.is_discarded() && !t.rowError)
            t.rowError = std::string("its ") + name + " column is not valid JSON";
        return j;
    };
    // Parsed into named values: GCC 12 misreports ranges over temporaries
    // of nlohmann::json as maybe-uninitialized.
    const json filters = column(i + 7, "event_filters");
    if (filters.is_array()) {
        for (const auto& p : filters) {
            if (p.is_string())
                t.eventFilters.push_back(p.get<std::string>());
            else if (!t.rowError)
                t.rowError = "its event_filters column holds a pattern that is not a string";
        }
    }
    const json headers = column(i + 8, "headers");
    if (headers.is_object()) {
        for (const auto& [k, v] : headers.items()) {
            if (v.is_string())
                t.headers.emplace_back(k, v.get<std::string>());
            else if (!t.rowError)
                t.rowError = "its headers column holds a value for " + k + " that is not a string";
        }
    }
    t.timeoutMs = optionalColumn<int64_t>(q, i + 9);
    t.retry.maxAttempts = q.getColumn(i + 10).getInt();
    t.retry.initialDelayMs = q.getColumn(i + 11).getInt64();
    t.retry.maxDelayMs = q.getColumn(i + 12).getInt64();
    t.retry.multiplier = q.getColumn(i + 13).getDouble();
    t.retry.jitter = q.getColumn(i + 14).getDouble();
    t.ratePerSecond = optionalColumn<double>(q, i + 15);
    t.burst = optionalColumn<int>(q, i + 16);
    t.rateLimitEnabled = q.getColumn(i + 17).getInt() != 0;
    const json metadata = column(i + 18, "metadata");
    if (metadata.is_object())
        for (const auto& [k, v] : metadata.items())
            t.metadata[k] =
                v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, json::error_handler_t::replace);
    t.createdAt = q.getColumn(i + 19).getInt64();
    t.updatedAt = q.getColumn(i + 20).getInt64();
    t.signatureScheme = parseSignatureScheme(q.getColumn(i + 21).getString()).value_or(SignatureScheme::Standard);
    t.caBundle = optionalColumn<std::string>(q, i + 22);
    t.consecutiveFailures = q.getColumn(i + 23).getInt();
    t.pausedUntil = optionalColumn<int64_t>(q, i + 24);
    t.pausedAt = optionalColumn<int64_t>(q, i + 25);
    t.pausedReason = optionalColumn<std::string>(q, i + 26);
    t.disabledReason = optionalColumn<std::string>(q, i + 27);
    t.maxInFlight = optionalColumn<int>(q, i + 28);
    t.minRate = optionalColumn<double>(q, i + 29);
    t.rateStep = optionalColumn<double>(q, i + 30);
    t.rateCurrent = optionalColumn<double>(q, i + 31);
    t.rateAdjustedAt = optionalColumn<int64_t>(q, i + 32);
    t.rateSignalAt = optionalColumn<int64_t>(q, i + 33);
    t.rateSignal = optionalColumn<std::string>(q, i + 34);
    if (!q.getColumn(i + 35).isNull()) {
        const json schedule = column(i + 35, "retry_schedule");
        for (const auto& d : schedule.is_array() ? schedule : json::array()) {
            if (d.is_number_integer() && d.get<int64_t>() >= 0)
                t.retry.schedule.push_back(d.get<int64_t>());
            else if (!t.rowError)
                t.rowError = "its retry_schedule column holds a delay that is not a whole number of milliseconds";
        }
    }
    const json older = column(i + 36, "older_secrets");
    for (const auto& o : older.is_array() ? older : json::array()) {
        if (o.is_object() && o.contains("secret") && o["secret"].is_string() && o.contains("expires_at") &&
            o["expires_at"].is_number_integer())
            t.olderSecrets.push_back({o["secret"].get<std::string>(), o["expires_at"].get<int64_t>()});
        else if (!t.rowError)
            t.rowError = "its older_secrets column holds an entry that is not {secret, expires_at}";
    }
    t.appId = optionalColumn<std::string>(q, i + 37);
    t.bodyFormat = parseBodyFormat(q.getColumn(i + 38).getString()).value_or(BodyFormat::Envelope);
    t.payloadFilter = optionalColumn<std::string>(q, i + 39);
    if (t.payloadFilter && !t.rowError)
        if (auto f = PayloadFilter::parse(*t.payloadFilter); !f)
            t.rowError = "its payload_filter column is not a filter (" + f.error().message() + ")";
    t.ordering = parseOrdering(q.getColumn(i + 40).getString()).value_or(Ordering::None);
    t.orderingDeadLetter =
        parseOrderingDeadLetter(q.getColumn(i + 41).getString()).value_or(OrderingDeadLetter::Skip);
    return t;
}

const char* const kDeliveryColumns =
    "d.id, d.event_id, e.uid, e.type, d.target_id, d.status, d.priority, d.attempt_count, d.next_attempt_at,"
    " d.last_status_code, d.last_error, d.created_at, d.updated_at, d.completed_at";

Delivery readDelivery(sql::Statement& q, int i)
{
    Delivery d;
    d.id = q.getColumn(i + 0).getInt64();
    d.eventId = q.getColumn(i + 1).getInt64();
    d.eventUid = q.getColumn(i + 2).getString();
    d.type = q.getColumn(i + 3).getString();
    d.targetId = q.getColumn(i + 4).getString();
    // The schema's CHECK admits only the enum's names.
    d.status = parseDeliveryStatus(q.getColumn(i + 5).getText()).value_or(DeliveryStatus::Pending);
    d.priority = q.getColumn(i + 6).getInt();
    d.attemptCount = q.getColumn(i + 7).getInt();
    d.nextAttemptAt = q.getColumn(i + 8).getInt64();
    d.lastStatusCode = optionalColumn<int>(q, i + 9);
    d.lastError = optionalColumn<std::string>(q, i + 10);
    d.createdAt = q.getColumn(i + 11).getInt64();
    d.updatedAt = q.getColumn(i + 12).getInt64();
    d.completedAt = optionalColumn<int64_t>(q, i + 13);
    return d;
}

} // namespace webhookd::detail

namespace webhookd::detail {

int64_t deleteDeliveriesAndOrphans(sql::Connection& sql, sql::Statement& del)
{
    std::vector<int64_t> events;
    int64_t deleted = 0;
    while (del.executeStep()) {
        events.push_back(del.getColumn(0).getInt64());
        ++deleted;
    }
    deleteOrphanEvents(sql, std::move(events));
    return deleted;
}

Status knownTarget(sql::Connection& sql, const std::optional<std::string>& id)
{
    if (!id)
        return {};
    sql::Statement t(sql, sql::Q::TargetExists);
    t.bind(1, *id);
    if (!t.executeStep())
        return fail(Error::notFound("there is no target '" + *id + "'"));
    return {};
}

int64_t deleteOrphanEvents(sql::Connection& sql, std::vector<int64_t> events)
{
    std::sort(events.begin(), events.end());
    events.erase(std::unique(events.begin(), events.end()), events.end());
    sql::Statement orphan(sql, sql::Q::EventDeleteOrphan);
    int64_t deleted = 0;
    for (int64_t id : events) {
        orphan.reset();
        orphan.bind(1, id);
        deleted += orphan.exec();
    }
    return deleted;
}

} // namespace webhookd::detail

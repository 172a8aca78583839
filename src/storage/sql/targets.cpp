#include "storage/targets.h"

#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "model/target_rules.h"
#include "signing/signing.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

using nlohmann::json;

json headersJson(const HeaderList& headers)
{
    json out = json::object();
    for (const auto& [k, v] : headers)
        out[k] = v;
    return out;
}

Result<Target> loadTarget(sql::Connection& sql, const std::string& id)
{
    sql::Statement q(sql, std::string("SELECT ") + detail::kTargetColumns + " FROM targets WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep())
        return fail(Error::notFound("there is no target '" + id + "'"));
    return detail::readTarget(q);
}

// Writes every column of t; the bucket starts full whenever the limit changes.
void saveTarget(sql::Connection& sql, const Target& t, bool insert)
{
    const char* insertSql =
        "INSERT INTO targets (id, name, url, secret, previous_secret, previous_secret_expires_at, enabled,"
        " event_filters, headers, timeout_ms, max_attempts, initial_delay_ms, max_delay_ms, backoff_multiplier,"
        " jitter_factor, rate_per_second, burst, rate_limit_enabled, metadata, created_at, updated_at,"
        " bucket_tokens, bucket_updated_at, signature_scheme, ca_bundle, max_in_flight, min_rate, rate_step,"
        " retry_schedule, app_id, body_format)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
        " NULL, NULL, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)";
    const char* updateSql =
        "UPDATE targets SET name = ?2, url = ?3, secret = ?4, previous_secret = ?5,"
        " previous_secret_expires_at = ?6, enabled = ?7, event_filters = ?8, headers = ?9, timeout_ms = ?10,"
        " max_attempts = ?11, initial_delay_ms = ?12, max_delay_ms = ?13, backoff_multiplier = ?14,"
        " jitter_factor = ?15, rate_per_second = ?16, burst = ?17, rate_limit_enabled = ?18, metadata = ?19,"
        " updated_at = ?21, signature_scheme = ?22, ca_bundle = ?23, max_in_flight = ?24, min_rate = ?25,"
        " rate_step = ?26, retry_schedule = ?27, app_id = ?28, body_format = ?29,"
        // A new rate or floor ends a throttling the old one started.
        " rate_current = CASE WHEN rate_per_second IS ?16 AND rate_limit_enabled = ?18 AND min_rate IS ?25"
        "                THEN rate_current END,"
        " bucket_tokens = CASE WHEN rate_per_second IS ?16 AND burst IS ?17 AND rate_limit_enabled = ?18"
        "                 THEN bucket_tokens END,"
        " bucket_updated_at = CASE WHEN rate_per_second IS ?16 AND burst IS ?17 AND rate_limit_enabled = ?18"
        "                 THEN bucket_updated_at END"
        " WHERE id = ?1";
    sql::Statement q(sql, insert ? insertSql : updateSql);
    q.bind(1, t.id);
    q.bind(2, t.name);
    q.bind(3, t.url);
    q.bind(4, t.secret);
    detail::bindOptional(q, 5, t.previousSecret);
    detail::bindOptional(q, 6, t.previousSecretExpiresAt);
    q.bind(7, t.enabled ? 1 : 0);
    q.bind(8, json(t.eventFilters).dump());
    q.bind(9, headersJson(t.headers).dump());
    detail::bindOptional(q, 10, t.timeoutMs);
    q.bind(11, t.retry.maxAttempts);
    q.bind(12, t.retry.initialDelayMs);
    q.bind(13, t.retry.maxDelayMs);
    q.bind(14, t.retry.multiplier);
    q.bind(15, t.retry.jitter);
    detail::bindOptional(q, 16, t.ratePerSecond);
    detail::bindOptional(q, 17, t.burst);
    q.bind(18, t.rateLimitEnabled ? 1 : 0);
    q.bind(19, json(t.metadata).dump());
    q.bind(20, t.createdAt);
    q.bind(21, t.updatedAt);
    q.bind(22, std::string(signatureSchemeName(t.signatureScheme)));
    detail::bindOptional(q, 23, t.caBundle);
    detail::bindOptional(q, 24, t.maxInFlight);
    detail::bindOptional(q, 25, t.minRate);
    detail::bindOptional(q, 26, t.rateStep);
    if (t.retry.schedule.empty())
        q.bind(27);
    else
        q.bind(27, json(t.retry.schedule).dump());
    detail::bindOptional(q, 28, t.appId);
    q.bind(29, std::string(bodyFormatName(t.bodyFormat)));
    q.exec();
}

} // namespace

Result<Target> addTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                         const Limits& limits)
{
    auto made = makeTarget(id, spec, clock.nowMs(), limits);
    if (!made)
        return made;
    const Target& t = *made;
    return detail::guarded("add the target", [&]() -> Result<Target> {
        sql::Transaction tx(detail::sql(db), true);
        sql::Statement exists(detail::sql(db), "SELECT 1 FROM targets WHERE id = ?");
        exists.bind(1, id);
        if (exists.executeStep())
            return fail(Error::conflict("a target with id '" + id + "' already exists"));
        saveTarget(detail::sql(db), t, true);
        tx.commit();
        detail::targetsChanged(db);
        return t;
    });
}

Result<Target> updateTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                            const Limits& limits)
{
    return detail::guarded("update the target", [&]() -> Result<Target> {
        sql::Transaction tx(detail::sql(db), true);
        auto t = loadTarget(detail::sql(db), id);
        if (!t)
            return t;
        applySpec(*t, spec);
        t->updatedAt = clock.nowMs();
        if (auto s = validateTarget(*t, limits); !s)
            return fail(s.error());
        saveTarget(detail::sql(db), *t, false);
        tx.commit();
        detail::targetsChanged(db);
        return t;
    });
}

Result<Target> getTarget(Database& db, const std::string& id)
{
    return detail::guarded("read the target", [&] { return loadTarget(detail::sql(db), id); });
}

Result<std::vector<Target>> listTargets(Database& db)
{
    return detail::guarded("list targets", [&]() -> Result<std::vector<Target>> {
        sql::Statement q(detail::sql(db),
                         std::string("SELECT ") + detail::kTargetColumns + " FROM targets ORDER BY id");
        std::vector<Target> out;
        while (q.executeStep())
            out.push_back(detail::readTarget(q));
        return out;
    });
}

Result<Target> setTargetEnabled(Database& db, const std::string& id, bool enabled, const Clock& clock)
{
    return detail::guarded(enabled ? "enable the target" : "disable the target", [&]() -> Result<Target> {
        sql::Transaction tx(detail::sql(db), true);
        auto t = loadTarget(detail::sql(db), id);
        if (!t)
            return t;
        setEnabledByHand(*t, enabled, clock.nowMs());
        sql::Statement q(detail::sql(db),
                         "UPDATE targets SET enabled = ?2, updated_at = ?3, consecutive_failures = ?4,"
                         " paused_until = ?5, paused_at = ?6, paused_reason = ?7, disabled_reason = ?8 WHERE id = ?1");
        q.bind(1, id);
        q.bind(2, t->enabled ? 1 : 0);
        q.bind(3, t->updatedAt);
        q.bind(4, t->consecutiveFailures);
        detail::bindOptional(q, 5, t->pausedUntil);
        detail::bindOptional(q, 6, t->pausedAt);
        detail::bindOptional(q, 7, t->pausedReason);
        detail::bindOptional(q, 8, t->disabledReason);
        q.exec();
        tx.commit();
        detail::targetsChanged(db);
        return t;
    });
}

Result<int64_t> removeTarget(Database& db, const std::string& id)
{
    return detail::guarded("remove the target", [&]() -> Result<int64_t> {
        sql::Transaction tx(detail::sql(db), true);
        if (auto t = loadTarget(detail::sql(db), id); !t)
            return fail(t.error());
        // Events that went only to this target go with it; events that still
        // go to other targets stay.
        sql::Statement deliveries(detail::sql(db), "DELETE FROM deliveries WHERE target_id = ? RETURNING event_id");
        deliveries.bind(1, id);
        const int64_t removed = detail::deleteDeliveriesAndOrphans(detail::sql(db), deliveries);
        sql::Statement del(detail::sql(db), "DELETE FROM targets WHERE id = ?");
        del.bind(1, id);
        del.exec();
        tx.commit();
        detail::targetsChanged(db);
        return removed;
    });
}

Result<Rotation> rotateSecret(Database& db, const std::string& id, std::optional<std::string> newSecret,
                              int64_t overlapMs, const Clock& clock)
{
    std::string secret = newSecret ? *newSecret : generateSecret();
    if (auto s = secretKey(secret); !s)
        return fail(s.error());
    if (overlapMs < 0)
        return fail(Error::invalid("the overlap must not be negative"));
    if (overlapMs > kMaxDurationMs)
        return fail(Error::invalid("the overlap must be at most 10 years (3650d)"));
    return detail::guarded("rotate the secret", [&]() -> Result<Rotation> {
        sql::Transaction tx(detail::sql(db), true);
        auto t = loadTarget(detail::sql(db), id);
        if (!t)
            return fail(t.error());
        if (t->secret == secret)
            return fail(Error::invalid("the new secret is the same as the current one"));
        const int64_t now = clock.nowMs();
        // The secret it replaces becomes the previous one; the previous one
        // joins the older ones while its own window lasts. Expired ones go,
        // and at most kMaxPreviousSecrets sign at once (the oldest leave).
        std::vector<PreviousSecret> previous = rotatedSecrets(*t, now);
        if (overlapMs > 0)
            previous.insert(previous.begin(), PreviousSecret{t->secret, saturatingAdd(now, overlapMs)});
        if (previous.size() > kMaxPreviousSecrets)
            previous.resize(kMaxPreviousSecrets);
        json older = json::array();
        for (size_t i = 1; i < previous.size(); ++i)
            older.push_back({{"secret", previous[i].secret}, {"expires_at", previous[i].expiresAt}});
        sql::Statement q(detail::sql(db),
                         "UPDATE targets SET previous_secret = ?, previous_secret_expires_at = ?, secret = ?,"
                         " updated_at = ?, older_secrets = ? WHERE id = ?");
        if (!previous.empty()) {
            q.bind(1, previous.front().secret);
            q.bind(2, previous.front().expiresAt);
        } else {
            q.bind(1);
            q.bind(2);
        }
        q.bind(3, secret);
        q.bind(4, now);
        q.bind(5, older.dump());
        q.bind(6, id);
        q.exec();
        tx.commit();
        detail::targetsChanged(db);
        Rotation r{secret, std::nullopt};
        if (overlapMs > 0)
            r.previousExpiresAt = saturatingAdd(now, overlapMs);
        return r;
    });
}

} // namespace webhookd

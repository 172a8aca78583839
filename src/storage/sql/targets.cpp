#include "storage/targets.h"

#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "model/target_rules.h"
#include "signing/signing.h"
#include "storage/sql/connection.h"
#include "storage/sql/ordering.h"
#include "storage/sql/rows.h"
#include "storage/sql/settings.h"
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
    sql::Statement q(sql, sql::Q::TargetById);
    q.bind(1, id);
    if (!q.executeStep())
        return fail(Error::notFound("there is no target '" + id + "'"));
    return detail::readTarget(q);
}

// Writes every column of t; the bucket starts full whenever the limit changes.
void saveTarget(sql::Connection& sql, const Target& t, bool insert)
{
    sql::Statement q(sql, insert ? sql::Q::TargetInsert : sql::Q::TargetUpdate);
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
    q.bind(20, t.updatedAt);
    q.bind(21, std::string(signatureSchemeName(t.signatureScheme)));
    detail::bindOptional(q, 22, t.caBundle);
    detail::bindOptional(q, 23, t.maxInFlight);
    detail::bindOptional(q, 24, t.minRate);
    detail::bindOptional(q, 25, t.rateStep);
    if (t.retry.schedule.empty())
        q.bind(26);
    else
        q.bind(26, json(t.retry.schedule).dump());
    detail::bindOptional(q, 27, t.appId);
    q.bind(28, std::string(bodyFormatName(t.bodyFormat)));
    detail::bindOptional(q, 29, t.payloadFilter);
    q.bind(30, std::string(orderingName(t.ordering)));
    q.bind(31, std::string(orderingDeadLetterName(t.orderingDeadLetter)));
    if (insert) // an update keeps the target's creation time
        q.bind(32, t.createdAt);
    q.exec();
}

} // namespace

Result<Target> addTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                         const Limits& limits)
{
    return detail::guarded("add the target", [&]() -> Result<Target> {
        sql::Transaction tx(detail::sql(db), true);
        // The spec's retry fields change the store's default policy.
        auto retry = detail::loadDefaultRetry(detail::sql(db));
        if (!retry)
            return fail(retry.error());
        auto made = makeTarget(id, spec, clock.nowMs(), limits, *retry);
        if (!made)
            return made;
        const Target& t = *made;
        sql::Statement exists(detail::sql(db), sql::Q::TargetExists);
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
        const Ordering ordering = t->ordering;
        applySpec(*t, spec);
        t->updatedAt = clock.nowMs();
        if (auto s = validateTarget(*t, limits); !s)
            return fail(s.error());
        saveTarget(detail::sql(db), *t, false);
        // What waited under the old ordering goes; groups start afresh.
        if (t->ordering != ordering)
            detail::resetGroups(detail::sql(db), id, t->updatedAt);
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
        sql::Statement q(detail::sql(db), sql::Q::TargetList);
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
        sql::Statement q(detail::sql(db), sql::Q::TargetSetEnabled);
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
        sql::Statement deliveries(detail::sql(db), sql::Q::TargetDeleteDeliveries);
        deliveries.bind(1, id);
        const int64_t removed = detail::deleteDeliveriesAndOrphans(detail::sql(db), deliveries);
        sql::Statement del(detail::sql(db), sql::Q::TargetDelete);
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
        sql::Statement q(detail::sql(db), sql::Q::TargetRotate);
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

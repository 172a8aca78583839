#include "storage/targets.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <nlohmann/json.hpp>

#include "core/ids.h"
#include "routing/patterns.h"
#include "signing/signing.h"
#include "storage/database.h"
#include "storage/rows.h"
#include "storage/sql_error.h"

namespace webhookd {

namespace {

using nlohmann::json;

Status validateTarget(const Target& t, const Limits& limits)
{
    if (auto s = validateTargetId(t.id); !s)
        return s;
    if (auto s = validateUrl(t.url); !s)
        return s;
    if (auto s = secretKey(t.secret); !s)
        return fail(s.error());
    if (t.name.size() > 200)
        return fail(Error::invalid("the target name is longer than 200 characters"));
    for (const auto& p : t.eventFilters)
        if (auto s = validatePattern(p); !s)
            return s;
    if (t.headers.size() > limits.maxHeaders)
        return fail(Error::invalid("a target may have at most " + std::to_string(limits.maxHeaders) +
                                   " custom headers"));
    for (const auto& [k, v] : t.headers)
        if (auto s = validateHeader(k, v, limits); !s)
            return s;
    if (t.timeoutMs && (*t.timeoutMs < 1 || *t.timeoutMs > 3'600'000))
        return fail(Error::invalid("the timeout must be between 1ms and 1h"));
    const auto& r = t.retry;
    if (r.maxAttempts < 1 || r.maxAttempts > 1000)
        return fail(Error::invalid("max attempts must be between 1 and 1000"));
    if (r.initialDelayMs < 0 || r.maxDelayMs < 0)
        return fail(Error::invalid("retry delays must not be negative"));
    if (r.maxDelayMs < r.initialDelayMs)
        return fail(Error::invalid("the maximum retry delay must not be below the initial delay"));
    if (!(r.multiplier >= 1.0 && r.multiplier <= 100.0))
        return fail(Error::invalid("the backoff multiplier must be between 1 and 100"));
    if (!(r.jitter >= 0.0 && r.jitter <= 1.0))
        return fail(Error::invalid("the jitter factor must be between 0 and 1"));
    if (t.ratePerSecond && !(*t.ratePerSecond > 0.0 && *t.ratePerSecond <= 1e6))
        return fail(Error::invalid("the rate must be above 0 and at most 1000000 per second"));
    if (t.burst && (*t.burst < 1 || *t.burst > 1'000'000))
        return fail(Error::invalid("the burst must be between 1 and 1000000"));
    if (t.rateLimitEnabled && !t.ratePerSecond)
        return fail(Error::invalid("rate limiting needs a rate (--rate)"));
    for (const auto& [k, v] : t.metadata)
        if (k.empty())
            return fail(Error::invalid("metadata keys must not be empty"));
    if (t.caBundle) {
        if (t.caBundle->empty() || t.caBundle->size() > 4096)
            return fail(Error::invalid("the CA bundle path must be 1 to 4096 characters"));
        for (unsigned char c : *t.caBundle)
            if (c < 0x20 || c == 0x7f)
                return fail(Error::invalid("the CA bundle path must not contain control characters"));
    }
    return {};
}

void applySpec(Target& t, const TargetSpec& s)
{
    if (s.name) t.name = *s.name;
    if (s.url) t.url = *s.url;
    if (s.secret) t.secret = *s.secret;
    if (s.eventFilters) t.eventFilters = *s.eventFilters;
    if (s.headers) t.headers = *s.headers;
    if (s.timeoutMs) t.timeoutMs = *s.timeoutMs;
    if (s.maxAttempts) t.retry.maxAttempts = *s.maxAttempts;
    if (s.initialDelayMs) t.retry.initialDelayMs = *s.initialDelayMs;
    if (s.maxDelayMs) t.retry.maxDelayMs = *s.maxDelayMs;
    if (s.backoffMultiplier) t.retry.multiplier = *s.backoffMultiplier;
    if (s.jitterFactor) t.retry.jitter = *s.jitterFactor;
    if (s.ratePerSecond) {
        t.ratePerSecond = *s.ratePerSecond;
        t.rateLimitEnabled = true; // giving a rate turns limiting on, unless the spec says otherwise below
    }
    if (s.burst) t.burst = *s.burst;
    if (s.rateLimitEnabled) t.rateLimitEnabled = *s.rateLimitEnabled;
    if (s.metadata) t.metadata = *s.metadata;
    if (s.enabled) t.enabled = *s.enabled;
    if (s.signatureScheme) t.signatureScheme = *s.signatureScheme;
    if (s.caBundle) {
        if (s.caBundle->empty())
            t.caBundle.reset();
        else
            t.caBundle = *s.caBundle;
    }
}

json headersJson(const HeaderList& headers)
{
    json out = json::object();
    for (const auto& [k, v] : headers)
        out[k] = v;
    return out;
}

Result<Target> loadTarget(SQLite::Database& sql, const std::string& id)
{
    SQLite::Statement q(sql, std::string("SELECT ") + detail::kTargetColumns + " FROM targets WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep())
        return fail(Error::notFound("there is no target '" + id + "'"));
    return detail::readTarget(q);
}

// Writes every column of t; the bucket starts full whenever the limit changes.
void saveTarget(SQLite::Database& sql, const Target& t, bool insert)
{
    const char* insertSql =
        "INSERT INTO targets (id, name, url, secret, previous_secret, previous_secret_expires_at, enabled,"
        " event_filters, headers, timeout_ms, max_attempts, initial_delay_ms, max_delay_ms, backoff_multiplier,"
        " jitter_factor, rate_per_second, burst, rate_limit_enabled, metadata, created_at, updated_at,"
        " bucket_tokens, bucket_updated_at, signature_scheme, ca_bundle)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,"
        " NULL, NULL, ?22, ?23)";
    const char* updateSql =
        "UPDATE targets SET name = ?2, url = ?3, secret = ?4, previous_secret = ?5,"
        " previous_secret_expires_at = ?6, enabled = ?7, event_filters = ?8, headers = ?9, timeout_ms = ?10,"
        " max_attempts = ?11, initial_delay_ms = ?12, max_delay_ms = ?13, backoff_multiplier = ?14,"
        " jitter_factor = ?15, rate_per_second = ?16, burst = ?17, rate_limit_enabled = ?18, metadata = ?19,"
        " updated_at = ?21, signature_scheme = ?22, ca_bundle = ?23,"
        " bucket_tokens = CASE WHEN rate_per_second IS ?16 AND burst IS ?17 AND rate_limit_enabled = ?18"
        "                 THEN bucket_tokens END,"
        " bucket_updated_at = CASE WHEN rate_per_second IS ?16 AND burst IS ?17 AND rate_limit_enabled = ?18"
        "                 THEN bucket_updated_at END"
        " WHERE id = ?1";
    SQLite::Statement q(sql, insert ? insertSql : updateSql);
    q.bind(1, t.id);
    q.bind(2, t.name);
    q.bind(3, t.url);
    q.bind(4, t.secret);
    if (t.previousSecret) q.bind(5, *t.previousSecret); else q.bind(5);
    if (t.previousSecretExpiresAt) q.bind(6, *t.previousSecretExpiresAt); else q.bind(6);
    q.bind(7, t.enabled ? 1 : 0);
    q.bind(8, json(t.eventFilters).dump());
    q.bind(9, headersJson(t.headers).dump());
    if (t.timeoutMs) q.bind(10, *t.timeoutMs); else q.bind(10);
    q.bind(11, t.retry.maxAttempts);
    q.bind(12, t.retry.initialDelayMs);
    q.bind(13, t.retry.maxDelayMs);
    q.bind(14, t.retry.multiplier);
    q.bind(15, t.retry.jitter);
    if (t.ratePerSecond) q.bind(16, *t.ratePerSecond); else q.bind(16);
    if (t.burst) q.bind(17, *t.burst); else q.bind(17);
    q.bind(18, t.rateLimitEnabled ? 1 : 0);
    q.bind(19, json(t.metadata).dump());
    q.bind(20, t.createdAt);
    q.bind(21, t.updatedAt);
    q.bind(22, std::string(signatureSchemeName(t.signatureScheme)));
    if (t.caBundle) q.bind(23, *t.caBundle); else q.bind(23);
    q.exec();
}

} // namespace

Result<Target> addTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                         const Limits& limits)
{
    Target t;
    t.id = id;
    applySpec(t, spec);
    if (!spec.url)
        return fail(Error::invalid("a target needs a URL (--url)"));
    if (!spec.secret)
        t.secret = generateSecret();
    t.createdAt = t.updatedAt = clock.nowMs();
    if (auto s = validateTarget(t, limits); !s)
        return fail(s.error());
    return detail::guarded("add the target", [&]() -> Result<Target> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement exists(db.sql(), "SELECT 1 FROM targets WHERE id = ?");
        exists.bind(1, id);
        if (exists.executeStep())
            return fail(Error::conflict("a target with id '" + id + "' already exists"));
        saveTarget(db.sql(), t, true);
        tx.commit();
        db.targetsChanged();
        return t;
    });
}

Result<Target> updateTarget(Database& db, const std::string& id, const TargetSpec& spec, const Clock& clock,
                            const Limits& limits)
{
    return detail::guarded("update the target", [&]() -> Result<Target> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        auto t = loadTarget(db.sql(), id);
        if (!t)
            return t;
        applySpec(*t, spec);
        t->updatedAt = clock.nowMs();
        if (auto s = validateTarget(*t, limits); !s)
            return fail(s.error());
        saveTarget(db.sql(), *t, false);
        tx.commit();
        db.targetsChanged();
        return t;
    });
}

Result<Target> getTarget(Database& db, const std::string& id)
{
    return detail::guarded("read the target", [&] { return loadTarget(db.sql(), id); });
}

Result<std::vector<Target>> listTargets(Database& db)
{
    return detail::guarded("list targets", [&]() -> Result<std::vector<Target>> {
        SQLite::Statement q(db.sql(), std::string("SELECT ") + detail::kTargetColumns + " FROM targets ORDER BY id");
        std::vector<Target> out;
        while (q.executeStep())
            out.push_back(detail::readTarget(q));
        return out;
    });
}

Result<Target> setTargetEnabled(Database& db, const std::string& id, bool enabled, const Clock& clock)
{
    // By hand: enabling also closes the circuit breaker and forgets why the
    // worker stopped the target; disabling records no reason.
    return detail::guarded(enabled ? "enable the target" : "disable the target", [&]() -> Result<Target> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement q(db.sql(), enabled ? "UPDATE targets SET enabled = 1, updated_at = ?2, consecutive_failures = 0,"
                                                " paused_until = NULL, paused_at = NULL, paused_reason = NULL,"
                                                " disabled_reason = NULL WHERE id = ?1"
                                              : "UPDATE targets SET enabled = 0, updated_at = ?2, disabled_reason = NULL"
                                                " WHERE id = ?1");
        q.bind(1, id);
        q.bind(2, clock.nowMs());
        if (q.exec() == 0)
            return fail(Error::notFound("there is no target '" + id + "'"));
        auto t = loadTarget(db.sql(), id);
        tx.commit();
        db.targetsChanged();
        return t;
    });
}

Result<int64_t> removeTarget(Database& db, const std::string& id)
{
    return detail::guarded("remove the target", [&]() -> Result<int64_t> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        if (auto t = loadTarget(db.sql(), id); !t)
            return fail(t.error());
        // Events that went only to this target go with it; events that still
        // go to other targets stay.
        SQLite::Statement deliveries(db.sql(), "DELETE FROM deliveries WHERE target_id = ? RETURNING event_id");
        deliveries.bind(1, id);
        const int64_t removed = detail::deleteDeliveriesAndOrphans(db.sql(), deliveries);
        SQLite::Statement del(db.sql(), "DELETE FROM targets WHERE id = ?");
        del.bind(1, id);
        del.exec();
        tx.commit();
        db.targetsChanged();
        return removed;
    });
}

Result<std::string> rotateSecret(Database& db, const std::string& id, std::optional<std::string> newSecret,
                                 int64_t overlapMs, const Clock& clock)
{
    std::string secret = newSecret ? *newSecret : generateSecret();
    if (auto s = secretKey(secret); !s)
        return fail(s.error());
    if (overlapMs < 0)
        return fail(Error::invalid("the overlap must not be negative"));
    return detail::guarded("rotate the secret", [&]() -> Result<std::string> {
        SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
        auto t = loadTarget(db.sql(), id);
        if (!t)
            return fail(t.error());
        if (t->secret == secret)
            return fail(Error::invalid("the new secret is the same as the current one"));
        const int64_t now = clock.nowMs();
        SQLite::Statement q(db.sql(),
                            "UPDATE targets SET previous_secret = ?, previous_secret_expires_at = ?, secret = ?,"
                            " updated_at = ? WHERE id = ?");
        if (overlapMs > 0) {
            q.bind(1, t->secret);
            q.bind(2, now + overlapMs);
        } else {
            q.bind(1);
            q.bind(2);
        }
        q.bind(3, secret);
        q.bind(4, now);
        q.bind(5, id);
        q.exec();
        tx.commit();
        db.targetsChanged();
        return secret;
    });
}

std::vector<std::string> signingSecrets(const Target& target, int64_t nowMs)
{
    std::vector<std::string> out{target.secret};
    if (target.previousSecret && target.previousSecretExpiresAt && nowMs < *target.previousSecretExpiresAt)
        out.push_back(*target.previousSecret);
    return out;
}

} // namespace webhookd

#include "storage/settings.h"

#include <nlohmann/json.hpp>

#include "model/target_rules.h"
#include "storage/sql/connection.h"
#include "storage/sql/rows.h"
#include "storage/sql/settings.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

using nlohmann::json;

constexpr const char* kRetry = "retry";

std::string retryText(const RetryPolicy& r)
{
    return json{
        {"max_attempts", r.maxAttempts}, {"initial_delay_ms", r.initialDelayMs},
        {"max_delay_ms", r.maxDelayMs},  {"backoff_multiplier", r.multiplier},
        {"jitter_factor", r.jitter},     {"retry_schedule", r.schedule.empty() ? json(nullptr) : json(r.schedule)}}
        .dump();
}

Result<RetryPolicy> readRetry(const std::string& text)
{
    const auto unreadable = [] {
        return fail(Error::invalid("the store's default retry policy (table settings) cannot be read; set it again "
                                   "with webhookctl defaults set"));
    };
    const json j = json::parse(text, nullptr, false);
    if (!j.is_object())
        return unreadable();
    RetryPolicy r;
    try {
        r.maxAttempts = j.at("max_attempts").get<int>();
        r.initialDelayMs = j.at("initial_delay_ms").get<int64_t>();
        r.maxDelayMs = j.at("max_delay_ms").get<int64_t>();
        r.multiplier = j.at("backoff_multiplier").get<double>();
        r.jitter = j.at("jitter_factor").get<double>();
        if (!j.at("retry_schedule").is_null())
            r.schedule = j.at("retry_schedule").get<std::vector<int64_t>>();
    } catch (const json::exception&) {
        return unreadable();
    }
    if (!validateRetry(r))
        return unreadable();
    return r;
}

} // namespace

namespace detail {

Result<RetryPolicy> loadDefaultRetry(sql::Connection& sql)
{
    sql::Statement q(sql, sql::Q::SettingGet);
    q.bind(1, std::string(kRetry));
    if (!q.executeStep())
        return defaultRetryPolicy();
    return readRetry(q.getColumn(0).getString());
}

} // namespace detail

Result<RetryPolicy> getDefaultRetry(Database& db)
{
    return detail::guarded("read the default retry policy", [&] { return detail::loadDefaultRetry(detail::sql(db)); });
}

Result<RetryPolicy> setDefaultRetry(Database& db, const TargetSpec& spec, const Clock& clock)
{
    return detail::guarded("set the default retry policy", [&]() -> Result<RetryPolicy> {
        sql::Transaction tx(detail::sql(db), true);
        auto current = detail::loadDefaultRetry(detail::sql(db));
        if (!current)
            current = defaultRetryPolicy(); // an unreadable one is replaced whole
        auto next = changeRetryPolicy(*current, spec);
        if (!next)
            return next;
        sql::Statement q(detail::sql(db), sql::Q::SettingPut);
        q.bind(1, std::string(kRetry));
        q.bind(2, retryText(*next));
        q.bind(3, clock.nowMs());
        q.exec();
        tx.commit();
        return next;
    });
}

} // namespace webhookd

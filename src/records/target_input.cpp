#include "records/target_input.h"

#include <limits>

#include "model/target_rules.h"
#include "retry/retry.h"
#include "routing/payload_filter.h"
#include "signing/signing.h"

namespace webhookd {

namespace {

using nlohmann::json;

Error wrongType(const std::string& field, const char* what)
{
    return Error::invalid("\"" + field + "\" must be " + what);
}

template <typename T>
Result<T> integerField(const std::string& field, const json& v)
{
    if (!v.is_number_integer())
        return fail(wrongType(field, "a whole number"));
    const auto n = v.is_number_unsigned() ? static_cast<long double>(v.get<uint64_t>())
                                          : static_cast<long double>(v.get<int64_t>());
    if (n < static_cast<long double>(std::numeric_limits<T>::min()) ||
        n > static_cast<long double>(std::numeric_limits<T>::max()))
        return fail(Error::invalid("\"" + field + "\" is out of range"));
    return static_cast<T>(v.get<int64_t>());
}

Result<double> numberField(const std::string& field, const json& v)
{
    if (!v.is_number())
        return fail(wrongType(field, "a number"));
    return v.get<double>();
}

Result<std::string> stringField(const std::string& field, const json& v)
{
    if (!v.is_string())
        return fail(wrongType(field, "a string"));
    return v.get<std::string>();
}

Result<bool> boolField(const std::string& field, const json& v)
{
    if (!v.is_boolean())
        return fail(wrongType(field, "true or false"));
    return v.get<bool>();
}

Result<std::map<std::string, std::string>> stringMap(const std::string& field, const json& v)
{
    if (!v.is_object())
        return fail(wrongType(field, "an object of strings"));
    std::map<std::string, std::string> out;
    for (const auto& [k, x] : v.items()) {
        if (!x.is_string())
            return fail(wrongType(field, "an object of strings"));
        out[k] = x.get<std::string>();
    }
    return out;
}

} // namespace

Result<TargetInput> parseTargetInput(const json& body, bool withId)
{
    if (!body.is_object())
        return fail(Error::invalid("the body must be a JSON object of target settings"));
    TargetInput in;
    TargetSpec& s = in.spec;
    for (const auto& [field, v] : body.items()) {
        Status st;
        auto take = [&](auto r, auto& into) {
            if (r)
                into = std::move(*r);
            else
                st = fail(r.error());
        };
        if (field == "id" && withId) {
            take(stringField(field, v), in.id);
        } else if (field == "url") {
            take(stringField(field, v), s.url);
        } else if (field == "name") {
            take(stringField(field, v), s.name);
        } else if (field == "secret") {
            // A manage key must not pick a secret and cut receivers off at
            // once: the secret changes only by rotation, with an overlap.
            if (!withId)
                return fail(Error::invalid("a target's secret changes only by rotation: POST "
                                           "/targets/{id}/secret/rotate (admin scope), which keeps the old one "
                                           "signing during an overlap"));
            take(stringField(field, v), s.secret);
            if (st && s.secret)
                st = validateGivenSecret(*s.secret);
        } else if (field == "event_filters") {
            if (!v.is_array())
                st = fail(wrongType(field, "an array of event-type patterns"));
            else {
                std::vector<std::string> patterns;
                for (const auto& p : v)
                    if (p.is_string())
                        patterns.push_back(p.get<std::string>());
                    else
                        st = fail(wrongType(field, "an array of event-type patterns"));
                s.eventFilters = std::move(patterns);
            }
        } else if (field == "filter") {
            // null removes it; an object must be a filter (one sentence why not).
            if (v.is_null()) {
                s.payloadFilter = std::string();
            } else {
                auto f = PayloadFilter::fromJson(v);
                if (f)
                    s.payloadFilter = f->text();
                else
                    st = fail(f.error());
            }
        } else if (field == "headers") {
            auto m = stringMap(field, v);
            if (m)
                s.headers = HeaderList(m->begin(), m->end());
            else
                st = fail(m.error());
        } else if (field == "metadata") {
            take(stringMap(field, v), s.metadata);
        } else if (field == "timeout_ms") {
            take(integerField<int64_t>(field, v), s.timeoutMs);
        } else if (field == "max_attempts") {
            take(integerField<int>(field, v), s.maxAttempts);
        } else if (field == "initial_delay_ms") {
            take(integerField<int64_t>(field, v), s.initialDelayMs);
        } else if (field == "max_delay_ms") {
            take(integerField<int64_t>(field, v), s.maxDelayMs);
        } else if (field == "backoff_multiplier") {
            take(numberField(field, v), s.backoffMultiplier);
        } else if (field == "jitter_factor") {
            take(numberField(field, v), s.jitterFactor);
        } else if (field == "retry_schedule") {
            if (v.is_string()) {
                take(parseRetrySchedule(v.get<std::string>()), s.retrySchedule);
            } else if (v.is_array()) {
                std::vector<int64_t> delays;
                for (const auto& d : v) {
                    auto n = integerField<int64_t>(field, d);
                    if (!n) {
                        st = fail(wrongType(field, "a schedule name or an array of delays in milliseconds"));
                        break;
                    }
                    delays.push_back(*n);
                }
                s.retrySchedule = std::move(delays);
            } else {
                st = fail(wrongType(field, "a schedule name or an array of delays in milliseconds"));
            }
        } else if (field == "rate_per_second") {
            if (v.is_null())
                s.rateLimitEnabled = false;
            else
                take(numberField(field, v), s.ratePerSecond);
        } else if (field == "burst") {
            take(integerField<int>(field, v), s.burst);
        } else if (field == "rate_limit_enabled") {
            take(boolField(field, v), s.rateLimitEnabled);
        } else if (field == "max_in_flight") {
            take(integerField<int>(field, v), s.maxInFlight);
        } else if (field == "min_rate") {
            take(numberField(field, v), s.minRate);
        } else if (field == "rate_step") {
            take(numberField(field, v), s.rateStep);
        } else if (field == "enabled") {
            take(boolField(field, v), s.enabled);
        } else if (field == "signature_scheme") {
            auto name = stringField(field, v);
            auto scheme = name ? parseSignatureScheme(*name) : std::nullopt;
            if (!scheme)
                st = fail(wrongType(field, "\"standard\" or \"github\""));
            s.signatureScheme = scheme;
        } else if (field == "ca_bundle") {
            take(stringField(field, v), s.caBundle);
        } else if (field == "app_id") {
            if (v.is_null())
                s.appId = std::string(); // clears it
            else
                take(stringField(field, v), s.appId);
        } else if (field == "ordering") {
            auto name = stringField(field, v);
            auto o = name ? parseOrdering(*name) : std::nullopt;
            if (!o)
                st = fail(wrongType(field, "\"none\", \"fifo\" or \"key\""));
            s.ordering = o;
        } else if (field == "ordering_dead_letter") {
            auto name = stringField(field, v);
            auto o = name ? parseOrderingDeadLetter(*name) : std::nullopt;
            if (!o)
                st = fail(wrongType(field, "\"skip\" or \"block\""));
            s.orderingDeadLetter = o;
        } else if (field == "body_format") {
            auto name = stringField(field, v);
            auto format = name ? parseBodyFormat(*name) : std::nullopt;
            if (!format)
                st = fail(wrongType(field, "\"envelope\" or \"data\""));
            s.bodyFormat = format;
        } else {
            return fail(Error::invalid("\"" + field + "\" is not a target setting one may give"));
        }
        if (!st)
            return fail(st.error());
    }
    if (withId && !in.id)
        return fail(Error::invalid("\"id\" is missing"));
    if (withId && !s.url)
        return fail(Error::invalid("\"url\" is missing"));
    return in;
}

} // namespace webhookd

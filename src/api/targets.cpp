#include "api/handlers.h"

#include <algorithm>

#include "api/call.h"
#include "api/context.h"
#include "core/validate.h"
#include "model/api_key.h"
#include "model/target_rules.h"
#include "records/json.h"
#include "records/target_input.h"
#include "storage/events.h"
#include "storage/settings.h"
#include "storage/targets.h"

namespace webhookd::api {

namespace {

constexpr int64_t kDefaultOverlapMs = 86'400'000;

// A target's URL as a key may see it: an admin key the whole URL; others
// with the user info and every query value masked, since both carry
// credentials in capability URLs (https://…/hook?token=…).
std::string shownTargetUrl(const std::string& url, const ApiKey* key)
{
    return key && grants(key->scopes, "admin") ? url : maskUrlCredentials(url);
}

// A target as the calling key may see it (shownTargetUrl).
json targetFor(const Call& c, const Target& t)
{
    json j = targetJson(t, false);
    j["url"] = shownTargetUrl(t.url, c.key);
    return j;
}

// The path's target, when the call's key may see it: 404 as for an unknown
// one otherwise.
Target visibleTarget(Call& c)
{
    const std::string id = pathId(c);
    Target t = must(getTarget(c.db(), id));
    mustSee(c, t.appId, "there is no target '" + id + "'");
    return t;
}

// Its id, read only when the key is bound to an application (an operator
// key's request goes straight to the change, which says 404 itself).
std::string visibleTargetId(Call& c) { return boundApp(c) ? visibleTarget(c).id : pathId(c); }

// A target's settings from a body: a bound key's application is implied and
// may not be changed (an empty app_id, which clears it, included).
TargetInput targetInputOf(Call& c, bool withId)
{
    auto in = parseTargetInput(body(c), withId);
    if (!in)
        throw Problem{422, "", in.error().message()};
    if (boundApp(c)) {
        in->spec.appId = writingApp(c, in->spec.appId); // "" (clearing it) is another application too
        // A file on this server is no tenant's to name.
        if (in->spec.caBundle)
            throw Problem{403, "", "\"ca_bundle\" names a file on the server: only an operator key may set it"};
    }
    return std::move(*in);
}

} // namespace

void listTargetsRoute(Call& c)
{
    auto all = must(listTargets(c.db())); // sorted by id
    if (const auto app = listingApp(c))
        std::erase_if(all, [&app](const Target& t) { return t.appId != app; });
    writeJson(c.res, 200, pageById(c, all, "t", [&c](const Target& t) { return targetFor(c, t); }));
}

void createTarget(Call& c)
{
    auto in = targetInputOf(c, true);
    auto t = must(addTarget(c.db(), *in.id, in.spec, c.ctx.clock, c.ctx.opt.limits));
    json j = targetFor(c, t);
    if (!in.spec.secret)
        j["secret"] = t.secret; // generated: shown this once
    writeJson(c.res, 201, j);
}

void getTargetRoute(Call& c) { writeJson(c.res, 200, targetFor(c, visibleTarget(c))); }

void updateTargetRoute(Call& c)
{
    const std::string id = visibleTargetId(c);
    const auto in = targetInputOf(c, false);
    writeJson(c.res, 200, targetFor(c, must(updateTarget(c.db(), id, in.spec, c.ctx.clock, c.ctx.opt.limits))));
}

void deleteTarget(Call& c)
{
    must(removeTarget(c.db(), visibleTargetId(c)));
    c.res.set(204, "", "application/json");
}

void setEnabled(Call& c, bool enabled)
{
    writeJson(c.res, 200, targetFor(c, must(setTargetEnabled(c.db(), visibleTargetId(c), enabled, c.ctx.clock))));
}

// One event of type webhookd.test to this target alone, recorded and
// delivered like any other: what a customer presses to see their endpoint
// answer.
void sendTestEvent(Call& c)
{
    const Target t = visibleTarget(c);
    json j = bodyObject(c, {"type", "data"});
    EventInput e;
    e.type = "webhookd.test";
    if (j.contains("type")) {
        if (!j["type"].is_string())
            throw Problem{422, "", "\"type\" must be a string"};
        e.type = j["type"].get<std::string>();
    }
    e.payload = j.contains("data") ? j["data"].dump()
                                   : json{{"test", true}, {"target_id", t.id}, {"sent_at", c.ctx.clock.nowMs()}}.dump();
    e.targets = {t.id};
    e.appId = t.appId;
    const std::string type = e.type;
    auto r = must(sendEvent(c.db(), e, c.ctx.clock, c.ctx.opt.limits));
    writeJson(c.res, 202, eventCreatedJson(r, type));
}

void rotateSecretRoute(Call& c)
{
    json j = bodyObject(c, {"secret", "overlap"});
    std::optional<std::string> secret;
    if (j.contains("secret")) {
        if (!j["secret"].is_string())
            throw Problem{422, "", "\"secret\" must be a string"};
        secret = j["secret"].get<std::string>();
        if (auto strong = validateGivenSecret(*secret); !strong)
            throw Problem{422, "", strong.error().message()};
    }
    const int64_t overlap = durationField(j, "overlap", "24h").value_or(kDefaultOverlapMs);
    auto r = must(rotateSecret(c.db(), visibleTargetId(c), secret, overlap, c.ctx.clock));
    writeJson(c.res, 200,
              {{"secret", r.secret},
               {"previous_secret_expires_at", r.previousExpiresAt ? json(*r.previousExpiresAt) : json(nullptr)}});
}

void getDefaults(Call& c) { writeJson(c.res, 200, {{"retry", retryPolicyJson(must(getDefaultRetry(c.db())))}}); }

// {"retry": {…}}: the retry fields of a target, changed where given.
void setDefaults(Call& c)
{
    const json b = bodyObject(c, {"retry"});
    const json retry = b.value("retry", json::object());
    static constexpr std::string_view kFields[] = {"max_attempts",       "initial_delay_ms", "max_delay_ms",
                                                   "backoff_multiplier", "jitter_factor",    "retry_schedule"};
    if (!retry.is_object())
        throw Problem{422, "", "\"retry\" must be an object of retry settings"};
    for (const auto& [field, v] : retry.items())
        if (std::find(std::begin(kFields), std::end(kFields), field) == std::end(kFields))
            throw Problem{422, "",
                          "\"retry\" has no field \"" + field +
                              "\" (it takes max_attempts, initial_delay_ms, "
                              "max_delay_ms, backoff_multiplier, jitter_factor and retry_schedule)"};
    auto in = parseTargetInput(retry, false);
    if (!in)
        throw Problem{422, "", in.error().message()};
    writeJson(c.res, 200, {{"retry", retryPolicyJson(must(setDefaultRetry(c.db(), in->spec, c.ctx.clock)))}});
}

} // namespace webhookd::api

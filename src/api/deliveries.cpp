#include "api/handlers.h"

#include "api/call.h"
#include "api/context.h"
#include "core/duration.h"
#include "model/delivery_status.h"
#include "records/json.h"
#include "storage/deliveries.h"
#include "storage/redrive.h"
#include "storage/retention.h"

namespace webhookd::api {

namespace {

// The filter and page size of a listing of deliveries or dead letters,
// from the query parameters the route takes (checkQuery has refused any
// other, so a route without "status" reads it as absent).
std::pair<DeliveryFilter, int> filterOf(Call& c)
{
    DeliveryFilter f;
    if (auto s = textOf(c, "status")) {
        f.status = parseDeliveryStatus(*s);
        if (!f.status)
            throw Problem{400, "", "status must be one of " + std::string(allStatusNames())};
    }
    f.targetId = textOf(c, "target_id");
    f.type = typeOf(c);
    // Another application's target is no filter of this one's: the listing
    // is empty, as for a target that does not exist.
    f.appId = listingApp(c);
    const int limit = readListing(c, f);
    return {f, limit};
}

// Deliveries page by (created_at, id); dead letters by id alone.
json deliveryPage(std::vector<Delivery> rows, int limit, bool byId)
{
    return pageOf(std::move(rows), limit, deliveryJson, [byId](const Delivery& d) {
        return std::pair{byId ? 0 : d.createdAt, d.id};
    });
}

json requeuedJson(const std::vector<Requeued>& r)
{
    json ids = json::array();
    for (const auto& q : r)
        ids.push_back(q.id);
    return {{"requeued", r.size()}, {"ids", ids}};
}

} // namespace

void listDeliveriesRoute(Call& c)
{
    const auto [f, limit] = filterOf(c);
    writeJson(c.res, 200, deliveryPage(must(listDeliveries(c.db(), f)), limit, false));
}

void getDeliveryRoute(Call& c)
{
    auto n = wholeNumber(*c.req.pathParam("id"));
    if (!n)
        throw Problem{422, "", "a delivery id is a whole number"};
    mustSeeDeliveries(c, {*n});
    writeJson(c.res, 200, deliveryWithAttemptsJson(must(getDelivery(c.db(), *n))));
}

void releaseDeadLetterRoute(Call& c)
{
    auto n = wholeNumber(*c.req.pathParam("id"));
    if (!n)
        throw Problem{422, "", "a delivery id is a whole number"};
    mustSeeDeliveries(c, {*n});
    if (auto r = releaseDeadLetter(c.db(), *n, c.ctx.clock); !r)
        throw fromError(r.error());
    writeJson(c.res, 200, json{{"released", *n}});
}

void resend(Call& c)
{
    json j = bodyObject(c, {"ids"});
    auto ids = idsOf(j);
    if (ids.empty())
        throw Problem{422, "", "\"ids\" is missing"};
    mustSeeDeliveries(c, ids);
    writeJson(c.res, 202, requeuedJson(must(resendDeliveries(c.db(), ids, c.ctx.clock))));
}

void listDeadLettersRoute(Call& c)
{
    const auto [f, limit] = filterOf(c);
    writeJson(c.res, 200, deliveryPage(must(listDeadLetters(c.db(), f)), limit, true));
}

void retryDeadLettersRoute(Call& c)
{
    const Clock& clock = c.ctx.clock;
    json j = bodyObject(c, {"ids", "all", "target_id", "type", "since", "app_id"});
    const bool all = j.value("all", false);
    if (j.contains("all") && !j["all"].is_boolean())
        throw Problem{422, "", "\"all\" must be true or false"};
    auto ids = idsOf(j);
    if (all == !ids.empty())
        throw Problem{422, "", "give either \"ids\" or \"all\": true"};
    if (!all) {
        if (j.contains("target_id") || j.contains("type") || j.contains("since") || j.contains("app_id"))
            throw Problem{422, "", "target_id, type, since and app_id narrow \"all\": true only"};
        mustSeeDeliveries(c, ids);
        writeJson(c.res, 202, requeuedJson(must(retryDeadLetters(c.db(), ids, clock))));
        return;
    }
    DeadLetterSelection s;
    for (const char* k : {"target_id", "type", "since", "app_id"})
        if (j.contains(k) && !j[k].is_string())
            throw Problem{422, "", std::string("\"") + k + "\" must be a string"};
    if (j.contains("target_id"))
        s.targetId = j["target_id"].get<std::string>();
    s.appId = writingApp(c, j.contains("app_id") ? std::optional(j["app_id"].get<std::string>()) : std::nullopt);
    mustSeeTarget(c, s.targetId);
    if (j.contains("type"))
        s.type = j["type"].get<std::string>();
    if (j.contains("since")) {
        auto t = parseTimeOrAgo(j["since"].get<std::string>(), clock.nowMs());
        if (!t)
            throw Problem{422, "", "since: " + t.error().message()};
        s.movedSince = *t;
    }
    writeJson(c.res, 202, requeuedJson(must(retryAllDeadLetters(c.db(), s, clock))));
}

void purgeDeadLetters(Call& c)
{
    json j = bodyObject(c, {"older_than", "app_id"});
    if (j.contains("app_id") && !j["app_id"].is_string())
        throw Problem{422, "", "\"app_id\" must be a string"};
    auto d = durationField(j, "older_than", "7d");
    if (!d)
        throw Problem{422, "", "\"older_than\" must be a duration such as 7d, at most 3650d"};
    PurgeOptions o;
    o.completedBeforeMs = saturatingAdd(c.ctx.clock.nowMs(), -*d);
    o.statuses = PurgeStatuses::DeadLetter;
    o.appId = writingApp(c, j.contains("app_id") ? std::optional(j["app_id"].get<std::string>()) : std::nullopt);
    writeJson(c.res, 200, {{"deleted", must(purgeTerminal(c.db(), o)).deliveries}});
}

} // namespace webhookd::api

#include "api/handlers.h"

#include "api/call.h"
#include "api/context.h"
#include "api/ingest.h"
#include "core/json_text.h"
#include "records/batch_line.h"
#include "records/json.h"
#include "storage/events.h"

namespace webhookd::api {

namespace {

constexpr size_t kMaxBatch = 10'000;

// An event from a request: a bound key's application is implied, and
// another one named is 403.
EventInput eventFrom(const Call& c, std::string_view text, const std::string& label)
{
    auto e = parseBatchLine(text);
    if (!e)
        throw Problem{422, "", label + e.error().message()};
    e->appId = writingApp(c, e->appId);
    const size_t maxPayload = c.ctx.opt.limits.maxPayloadBytes;
    if (e->payload.size() > maxPayload)
        throw Problem{413, "",
                      label + "the payload is larger than " + std::to_string(maxPayload) + " bytes (--max-payload)"};
    return std::move(*e);
}

} // namespace

void createEvent(Call& c)
{
    checkJsonText(c.req.body, c.ctx.opt.limits.maxJsonDepth + 1);
    EventInput e = eventFrom(c, c.req.body, "");
    if (auto header = c.req.header("Idempotency-Key")) {
        if (e.idempotencyKey && *e.idempotencyKey != *header)
            throw Problem{400, "", "the Idempotency-Key header and the body's idempotency_key differ"};
        e.idempotencyKey = *header;
    }
    const std::string type = e.type;
    auto r = must(c.ctx.ingest->submit(std::move(e)).get());
    if (r.duplicate)
        c.res.headers.emplace_back("Idempotent-Replayed", "true");
    writeJson(c.res, r.duplicate ? 200 : 202, eventCreatedJson(r, type));
}

void createEventBatch(Call& c)
{
    const size_t maxDepth = c.ctx.opt.limits.maxJsonDepth;
    std::vector<EventInput> events;
    auto label = [](size_t n) { return "event " + std::to_string(n) + ": "; };
    const auto type = c.req.header("Content-Type").value_or("");
    if (type.find("ndjson") != std::string::npos) {
        std::string_view rest = c.req.body;
        size_t line = 0;
        while (!rest.empty()) {
            const size_t nl = rest.find('\n');
            std::string_view text = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
            ++line;
            if (text.find_first_not_of(" \t\r") == std::string_view::npos)
                continue;
            if (events.size() == kMaxBatch)
                throw Problem{422, "", "a batch holds at most 10,000 events"};
            if (!json_text::validate(text, maxDepth + 1))
                throw Problem{400, "", "line " + std::to_string(line) + " is not valid JSON"};
            events.push_back(eventFrom(c, text, label(events.size() + 1)));
        }
    } else {
        if (auto v = json_text::validate(c.req.body, maxDepth + 2); !v)
            throw Problem{400, "", "the body is " + v.error().message()};
        auto elements = json_text::arrayElements(c.req.body, maxDepth + 2);
        if (!elements)
            throw Problem{422, "", "the body must be a JSON array of events (or NDJSON)"};
        if (elements->size() > kMaxBatch)
            throw Problem{422, "", "a batch holds at most 10,000 events"};
        for (const auto& [kind, raw] : *elements)
            events.push_back(eventFrom(c, raw, label(events.size() + 1)));
    }
    if (events.empty())
        throw Problem{422, "", "the batch holds no events"};
    auto r = must(sendBatch(c.db(), events, c.ctx.clock, c.ctx.opt.limits));
    json data = json::array();
    for (size_t i = 0; i < r.size(); ++i)
        data.push_back(eventCreatedJson(r[i], events[i].type));
    writeJson(c.res, 202, {{"data", data}});
}

void listEventsRoute(Call& c)
{
    EventFilter f;
    f.type = typeOf(c);
    f.appId = listingApp(c);
    f.idempotencyKey = textOf(c, "idempotency_key");
    const int limit = readListing(c, f);
    writeJson(c.res, 200, pageOf(must(listEvents(c.db(), f)), limit, eventJson, [](const EventRecord& e) {
                  return std::pair{e.createdAt, e.id};
              }));
}

void getEventRoute(Call& c)
{
    const std::string uid = *c.req.pathParam("uid");
    auto e = must(getEvent(c.db(), uid));
    mustSee(c, e.appId, "there is no event '" + uid + "'");
    json j = eventJson(e);
    json deliveries = json::array();
    for (const auto& d : e.deliveries)
        deliveries.push_back(deliveryJson(d));
    j["deliveries"] = std::move(deliveries);
    // The payload goes out byte for byte as it was given (its numbers
    // and key order), so it is spliced in as text, not re-encoded.
    std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    text.pop_back();
    text += ",\"data\":" + e.payload + "}";
    c.res.set(200, std::move(text), "application/json");
}

} // namespace webhookd::api

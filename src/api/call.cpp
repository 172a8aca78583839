#include "api/call.h"

#include <algorithm>
#include <charconv>

#include "api/context.h"
#include "core/duration.h"
#include "core/ids.h"
#include "core/json_text.h"
#include "core/text.h"
#include "model/api_key.h"
#include "signing/signing.h"
#include "storage/deliveries.h"
#include "storage/targets.h"

namespace webhookd::api {

namespace {

constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 250;
constexpr size_t kMaxIds = 10'000;
// Bodies other than events': settings and lists of ids, a few KiB at most.
// Only POST /events (up to --max-payload) and POST /events/batch take more.
constexpr size_t kMaxManagementBody = 64 * 1024;
constexpr size_t kMaxManagementDepth = 32; // a target's settings nest 2 levels
// Times in query parameters: from the epoch to the end of the year 9999.
constexpr int64_t kMaxTimeMs = 253'402'300'799'999;
constexpr std::string_view kForeignIterator = "the iterator is not one this API gave";

std::optional<std::pair<int64_t, int64_t>> readIterator(std::string_view text)
{
    auto raw = base64UrlDecode(text);
    if (!raw)
        return std::nullopt;
    const size_t colon = raw->find(':');
    if (colon == std::string::npos)
        return std::nullopt;
    auto at = wholeNumber(std::string_view(*raw).substr(0, colon));
    auto id = wholeNumber(std::string_view(*raw).substr(colon + 1));
    if (!at || !id)
        return std::nullopt;
    return std::pair{*at, *id};
}

// The name a mistyped one most likely meant: one that starts with it, or
// the nearest within a third of its length in edits.
std::optional<std::string_view> closestName(std::string_view given, const std::vector<std::string_view>& names)
{
    constexpr size_t kLongest = 64; // longer is no typo of a parameter name
    if (given.empty() || given.size() > kLongest)
        return std::nullopt;
    std::optional<std::string_view> best;
    size_t bestDistance = std::max<size_t>(1, given.size() / 3) + 1;
    for (std::string_view name : names) {
        const size_t d = given.size() >= 3 && name.substr(0, given.size()) == given ? 0 : editDistance(given, name);
        if (d < bestDistance) {
            best = name;
            bestDistance = d;
        }
    }
    return best;
}

// A name from a request, for a sentence: quoted, and cut if long.
std::string shownName(std::string_view name)
{
    constexpr size_t kShown = 64;
    return "\"" + std::string(name.substr(0, kShown)) + (name.size() > kShown ? "…" : "") + "\"";
}

} // namespace

Database& Call::db()
{
    if (!lease)
        lease.emplace(must(ctx.pool.acquire()));
    return *lease->db;
}

void checkQuery(const ApiRoute& route, const http::Request& req)
{
    for (size_t i = 0; i < req.query.size(); ++i) {
        const std::string& name = req.query[i].first;
        if (std::find(route.query.begin(), route.query.end(), name) == route.query.end()) {
            std::string detail = "unknown query parameter " + shownName(name);
            if (auto near = closestName(name, route.query))
                detail += "; did you mean " + shownName(*near) + "?";
            else if (route.query.empty())
                detail += "; this operation takes none";
            else {
                detail += "; this operation takes ";
                for (size_t k = 0; k < route.query.size(); ++k)
                    detail += (k == 0 ? "" : ", ") + std::string(route.query[k]);
            }
            throw Problem{400, "", detail};
        }
        for (size_t j = 0; j < i; ++j)
            if (req.query[j].first == name)
                throw Problem{400, "", "the query parameter " + shownName(name) + " is given more than once"};
    }
}

void writeJson(http::Response& res, int status, const json& j)
{
    res.set(status, j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void checkJsonText(std::string_view text, size_t maxDepth)
{
    if (auto v = json_text::validate(text, maxDepth); !v)
        throw Problem{v.error().is(Error::Code::TooDeep) ? 422 : 400, "", "the body is " + v.error().message()};
}

json body(const Call& c)
{
    if (c.req.body.size() > kMaxManagementBody)
        throw Problem{413, "",
                      "the body is larger than " + std::to_string(kMaxManagementBody) +
                          " bytes; only events may be larger"};
    checkJsonText(c.req.body, kMaxManagementDepth);
    json j = json::parse(c.req.body, nullptr, false);
    if (j.is_discarded())
        throw Problem{400, "", "the body is not valid JSON"};
    return j;
}

json bodyObject(const Call& c, std::initializer_list<std::string_view> allowed)
{
    json j = c.req.body.empty() ? json::object() : body(c);
    if (!j.is_object())
        throw Problem{422, "", "the body must be a JSON object"};
    for (const auto& [k, v] : j.items())
        if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
            throw Problem{422, "", "\"" + k + "\" is not a field of this request"};
    return j;
}

std::optional<int64_t> wholeNumber(std::string_view s)
{
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty())
        return std::nullopt;
    return v;
}

int limitOf(const Call& c)
{
    auto text = c.req.queryParam("limit");
    if (!text)
        return kDefaultLimit;
    auto n = wholeNumber(*text);
    if (!n || *n < 1 || *n > kMaxLimit)
        throw Problem{400, "", "limit must be a whole number from 1 to " + std::to_string(kMaxLimit)};
    return static_cast<int>(*n);
}

std::optional<std::pair<int64_t, int64_t>> iteratorOf(const Call& c)
{
    auto text = c.req.queryParam("iterator");
    if (!text || text->empty())
        return std::nullopt;
    auto it = readIterator(*text);
    if (!it)
        throw Problem{400, "", std::string(kForeignIterator)};
    return it;
}

std::optional<int64_t> timeOf(const Call& c, const char* name)
{
    auto text = c.req.queryParam(name);
    if (!text)
        return std::nullopt;
    std::optional<int64_t> ms = wholeNumber(*text);
    if (!ms) {
        auto t = parseTimeOrAgo(*text, c.ctx.clock.nowMs());
        if (!t)
            throw Problem{400, "", std::string(name) + ": " + t.error().message()};
        ms = *t;
    }
    if (*ms < 0 || *ms > kMaxTimeMs)
        throw Problem{400, "",
                      std::string(name) + " must be a time from 1970 to the end of 9999 (epoch ms 0 to " +
                          std::to_string(kMaxTimeMs) + ")"};
    return ms;
}

std::optional<std::string> textOf(const Call& c, const char* name)
{
    auto v = c.req.queryParam(name);
    if (v && v->empty())
        return std::nullopt;
    return v;
}

std::string pathId(const Call& c) { return *c.req.pathParam("id"); }

std::optional<std::string> typeOf(const Call& c)
{
    auto t = textOf(c, "type");
    if (t && t->find('*') < t->size() - 1)
        throw Problem{400, "", "type: a pattern holds one * and only at its end, such as order.*"};
    return t;
}

std::optional<int64_t> durationField(const json& j, const char* name, const char* example)
{
    if (!j.contains(name))
        return std::nullopt;
    auto d =
        j[name].is_string() ? parseDuration(j[name].get<std::string>()) : Result<int64_t>(fail(Error::invalid("")));
    if (!d)
        throw Problem{422, "",
                      std::string("\"") + name + "\" must be a duration such as " + example + ", at most 3650d"};
    return *d;
}

std::vector<int64_t> idsOf(const json& j)
{
    if (!j.contains("ids"))
        return {};
    const json& ids = j["ids"];
    if (!ids.is_array() || ids.empty() || ids.size() > kMaxIds)
        throw Problem{422, "", "\"ids\" must be an array of 1 to 10,000 delivery ids"};
    std::vector<int64_t> out;
    for (const auto& i : ids) {
        if (!i.is_number_integer())
            throw Problem{422, "", "\"ids\" must be an array of 1 to 10,000 delivery ids"};
        out.push_back(i.get<int64_t>());
    }
    return out;
}

json page(json data, bool done, std::optional<std::string> iterator)
{
    return {
        {"data", std::move(data)}, {"iterator", done || !iterator ? json(nullptr) : json(*iterator)}, {"done", done}};
}

std::string iteratorAfter(int64_t createdAt, int64_t id)
{
    return base64UrlEncode(std::to_string(createdAt) + ":" + std::to_string(id));
}

std::optional<std::string> afterId(const Call& c, const std::string& tag)
{
    auto text = textOf(c, "iterator");
    if (!text)
        return std::nullopt;
    auto raw = base64UrlDecode(*text);
    if (!raw || raw->rfind(tag + ":", 0) != 0)
        throw Problem{400, "", std::string(kForeignIterator)};
    return raw->substr(tag.size() + 1);
}

const std::optional<std::string>& boundApp(const Call& c)
{
    static const std::optional<std::string> kNone;
    return c.key ? c.key->appId : kNone;
}

std::optional<std::string> listingApp(const Call& c)
{
    const std::optional<std::string> named = textOf(c, "app_id");
    if (named)
        if (auto s = validateAppId(*named); !s)
            throw Problem{400, "", "app_id: " + s.error().message()};
    return writingApp(c, named);
}

std::optional<std::string> writingApp(const Call& c, const std::optional<std::string>& named)
{
    const auto& bound = boundApp(c);
    if (!bound)
        return named;
    if (named && *named != *bound)
        throw Problem{403, "", "this key is bound to the application '" + *bound + "' and may not act for another"};
    return bound;
}

void mustSee(const Call& c, const std::optional<std::string>& recordApp, const std::string& notFound)
{
    const auto& bound = boundApp(c);
    if (bound && recordApp != bound)
        throw Problem{404, "", notFound};
}

void mustSeeTarget(Call& c, const std::optional<std::string>& targetId)
{
    if (!targetId || !boundApp(c))
        return;
    auto t = getTarget(c.db(), *targetId);
    if (!t && !t.error().is(Error::Kind::NotFound))
        throw fromError(t.error());
    mustSee(c, t ? t->appId : boundApp(c), "there is no target '" + *targetId + "'");
}

void mustSeeDeliveries(Call& c, const std::vector<int64_t>& ids)
{
    const auto& bound = boundApp(c);
    if (!bound)
        return;
    if (auto outside = must(firstOutsideApp(c.db(), ids, *bound)))
        throw Problem{404, "", "there is no delivery " + std::to_string(*outside)};
}

std::string iteratorAfterId(const std::string& tag, const std::string& lastId)
{
    return base64UrlEncode(tag + ":" + lastId);
}

} // namespace webhookd::api

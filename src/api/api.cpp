#include "api/api.h"
#include "api/dashboard.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "api/ingest.h"
#include "core/duration.h"
#include "core/json_text.h"
#include "core/log.h"
#include "http/server.h"
#include "model/api_key.h"
#include "model/delivery_status.h"
#include "model/target_rules.h"
#include "records/batch_line.h"
#include "records/json.h"
#include "records/target_input.h"
#include "signing/signing.h"
#include "storage/api_keys.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/redrive.h"
#include "storage/retention.h"
#include "storage/stats.h"
#include "storage/targets.h"

namespace webhookd {

namespace {

using nlohmann::json;

constexpr std::string_view kBase = "/api/v1";
constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 250;
constexpr size_t kMaxBatch = 10'000;
constexpr int64_t kDefaultOverlapMs = 86'400'000;
// Bodies other than events': settings and lists of ids, a few KiB at most.
// Only POST /events (up to --max-payload) and POST /events/batch take more.
constexpr size_t kMaxManagementBody = 64 * 1024;
constexpr size_t kMaxManagementDepth = 32; // a target's settings nest 2 levels
// Times in query parameters: from the epoch to the end of the year 9999.
constexpr int64_t kMaxTimeMs = 253'402'300'799'999;
constexpr std::string_view kForeignIterator = "the iterator is not one this API gave";

// An answer that ends the handler: a problem document.
struct Problem {
    int status;
    std::string code;
    std::string detail;
};

std::string_view titleOf(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

std::string_view codeOf(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "authentication_failed";
    case 403: return "insufficient_scope";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 422: return "validation_error";
    case 503: return "busy";
    default: return "server_error";
    }
}

void writeProblem(http::Response& res, const Problem& p)
{
    json j = {{"type", "about:blank"},
              {"title", titleOf(p.status)},
              {"status", p.status},
              {"code", p.code.empty() ? std::string(codeOf(p.status)) : p.code},
              {"detail", p.detail}};
    res.set(p.status, j.dump(-1, ' ', false, json::error_handler_t::replace), "application/problem+json");
    if (p.status == 503)
        res.headers.emplace_back("Retry-After", "1");
    if (p.status == 401)
        res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"webhookd\"");
}

// One log line per outage of the store (Database::outages), not one per
// request that met it; any thread.
void logUnavailable(const Error& e)
{
    static std::mutex mutex;
    static uint64_t logged = 0;
    const uint64_t outage = Database::outages();
    {
        std::lock_guard lock(mutex);
        if (std::exchange(logged, outage) == outage)
            return;
    }
    Log::error("the store cannot be reached; requests are answered 503 until it can", {{"error", e.toString()}});
}

// The store's and the rules' errors as answers: their sentence is the detail.
Problem fromError(const Error& e)
{
    switch (e.kind()) {
    case Error::Kind::Unavailable:
        logUnavailable(e);
        return {503, "store_unavailable", "the store cannot be reached; try again in a second"};
    case Error::Kind::NotFound: return {404, "", e.message()};
    case Error::Kind::Invalid: return {422, "", e.message()};
    case Error::Kind::Conflict: return {409, "", e.message()};
    case Error::Kind::Busy: return {503, "", "the store is busy; try again in a second"};
    case Error::Kind::ReadOnly: return {503, "read_only", "the store is read-only"};
    default:
        Log::error("api request failed", {{"error", e.toString()}});
        return {500, "", "the request failed inside webhookd; its log has the cause"};
    }
}

void writeJson(http::Response& res, int status, const json& j)
{
    res.set(status, j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

std::optional<int64_t> wholeNumber(std::string_view s)
{
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty())
        return std::nullopt;
    return v;
}

// The opaque position after a row: base64url of "created_at:id".
std::string iteratorAfter(int64_t createdAt, int64_t id)
{
    return base64UrlEncode(std::to_string(createdAt) + ":" + std::to_string(id));
}

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

// Levenshtein's distance between two short names.
size_t editDistance(std::string_view a, std::string_view b)
{
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
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

// Query parameters are checked like a body's fields: each must be one the
// route takes, given once.
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

// A target's URL as a key may see it: an admin key the whole URL; others
// with the user info and every query value masked, since both carry
// credentials in capability URLs (https://…/hook?token=…).
std::string shownTargetUrl(const std::string& url, const ApiKey* key)
{
    if (key && grants(key->scopes, "admin"))
        return url;
    std::string out = redactUrl(url);
    const size_t start = out.find('?');
    if (start == std::string::npos)
        return out;
    const size_t end = std::min(out.find('#', start), out.size());
    std::string masked;
    for (size_t at = start + 1; at <= end;) {
        const size_t next = std::min(out.find('&', at), end);
        const std::string_view part = std::string_view(out).substr(at, next - at);
        const size_t eq = part.find('=');
        masked += (masked.empty() ? "" : "&") +
            (eq == std::string_view::npos ? std::string("***") : std::string(part.substr(0, eq + 1)) + "***");
        at = next + 1;
    }
    return out.substr(0, start + 1) + masked + out.substr(end);
}

// At most one line a second for a message any client can cause; the line
// after a quiet spell says how many were left out.
class LogThrottle {
public:
    // The number left out since the last line written, or nullopt when this
    // one is left out too.
    std::optional<int64_t> admit(int64_t nowMs)
    {
        std::lock_guard lock(mutex_);
        if (written_ && nowMs >= *written_ && nowMs - *written_ < 1000) {
            ++leftOut_;
            return std::nullopt;
        }
        written_ = nowMs;
        return std::exchange(leftOut_, 0);
    }

private:
    std::mutex mutex_;
    std::optional<int64_t> written_;
    int64_t leftOut_ = 0;
};

// Connections for the request threads: one per thread at a time, opened
// when first needed, kept for the next request.
class Pool {
public:
    Pool(std::string locator, OpenOptions open)
        : locator_(std::move(locator)),
          open_(open)
    { }

    struct Lease {
        Pool* pool;
        std::unique_ptr<Database> db;
        ~Lease()
        {
            if (db) {
                std::lock_guard lock(pool->mutex_);
                pool->free_.push_back(std::move(db));
            }
        }
        Lease(Pool* p, std::unique_ptr<Database> d)
            : pool(p),
              db(std::move(d))
        { }
        Lease(Lease&&) = default;
    };

    Result<Lease> acquire()
    {
        {
            std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                auto db = std::move(free_.back());
                free_.pop_back();
                return Lease(this, std::move(db));
            }
        }
        auto db = Database::open(locator_, open_);
        if (!db)
            return fail(db.error());
        return Lease(this, std::make_unique<Database>(std::move(*db)));
    }

private:
    std::string locator_;
    OpenOptions open_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Database>> free_;
};

} // namespace

// Keys that authenticated in the last second, by the SHA-256 of their
// token: a producer's every request would otherwise read api_keys and hash
// again. A key revoked through this API leaves at once; one revoked with
// webhookctl (another process) within a second.
class KeyCache {
public:
    static constexpr int64_t kFreshMs = 1000;

    std::optional<ApiKey> find(const std::string& digest, int64_t now)
    {
        std::lock_guard lock(mutex_);
        auto it = keys_.find(digest);
        if (it == keys_.end() || now - it->second.second >= kFreshMs ||
            (it->second.first.expiresAt && *it->second.first.expiresAt <= now))
            return std::nullopt;
        return it->second.first;
    }

    void put(const std::string& digest, const ApiKey& key, int64_t now)
    {
        std::lock_guard lock(mutex_);
        if (keys_.size() > 10'000)
            keys_.clear(); // a flood of distinct valid tokens: start over rather than grow
        keys_[digest] = {key, now};
    }

    void forget(const std::string& id)
    {
        std::lock_guard lock(mutex_);
        for (auto it = keys_.begin(); it != keys_.end();)
            it = it->second.first.id == id ? keys_.erase(it) : std::next(it);
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::pair<ApiKey, int64_t>> keys_;
};

struct ApiServer::Impl {
    ApiOptions opt;
    const Clock& clock;
    Pool pool;
    KeyCache keys;
    LogThrottle refusals;   // "api key refused"
    LogThrottle unanswered; // "api health: the store does not answer"
    std::unique_ptr<IngestBatcher> ingest;
    std::unique_ptr<http::Server> http;

    Impl(ApiOptions o, const Clock& c)
        : opt(std::move(o)),
          clock(c),
          pool(opt.database, opt.open)
    { }

    // What a handler works with.
    struct Call {
        const http::Request& req;
        http::Response& res;
        Pool& pool;
        const ApiKey* key = nullptr; // null for routes without a scope
        std::optional<Pool::Lease> lease;

        // A connection for this request, taken from the pool when first needed.
        Database& db()
        {
            if (!lease)
                lease.emplace(must(pool.acquire()));
            return *lease->db;
        }
    };
    using Handler = std::function<void(Impl&, Call&)>;

    // --- reading requests -------------------------------------------------

    // 400 when text is not JSON, 422 when it nests deeper than maxDepth:
    // checked before any parser builds it, so depth costs no memory.
    static void checkJsonText(std::string_view text, size_t maxDepth)
    {
        if (auto v = json_text::validate(text, maxDepth); !v)
            throw Problem{v.error().message().rfind("nests", 0) == 0 ? 422 : 400, "",
                          "the body is " + v.error().message()};
    }

    // A management body (not an event's): at most 64 KiB and 32 levels.
    static json body(const Call& c)
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

    static json bodyObject(const Call& c, std::initializer_list<std::string_view> allowed)
    {
        json j = c.req.body.empty() ? json::object() : body(c);
        if (!j.is_object())
            throw Problem{422, "", "the body must be a JSON object"};
        for (const auto& [k, v] : j.items())
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                throw Problem{422, "", "\"" + k + "\" is not a field of this request"};
        return j;
    }

    static int limitOf(const Call& c)
    {
        auto text = c.req.queryParam("limit");
        if (!text)
            return kDefaultLimit;
        auto n = wholeNumber(*text);
        if (!n || *n < 1 || *n > kMaxLimit)
            throw Problem{400, "", "limit must be a whole number from 1 to " + std::to_string(kMaxLimit)};
        return static_cast<int>(*n);
    }

    static std::optional<std::pair<int64_t, int64_t>> iteratorOf(const Call& c)
    {
        auto text = c.req.queryParam("iterator");
        if (!text || text->empty())
            return std::nullopt;
        auto it = readIterator(*text);
        if (!it)
            throw Problem{400, "", std::string(kForeignIterator)};
        return it;
    }

    // A time parameter: epoch ms, ISO-8601 or a duration ago ("7d"), from
    // 1970 to 9999; 400 otherwise.
    std::optional<int64_t> timeOf(const Call& c, const char* name) const
    {
        auto text = c.req.queryParam(name);
        if (!text)
            return std::nullopt;
        std::optional<int64_t> ms = wholeNumber(*text);
        if (!ms) {
            auto t = parseTimeOrAgo(*text, clock.nowMs());
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

    static std::optional<std::string> textOf(const Call& c, const char* name)
    {
        auto v = c.req.queryParam(name);
        if (v && v->empty())
            return std::nullopt;
        return v;
    }

    // A body field holding a duration ("24h"), or nullopt when absent; 422
    // for anything else. `example` goes into the sentence.
    static std::optional<int64_t> durationField(const json& j, const char* name, const char* example)
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

    static std::vector<int64_t> idsOf(const json& j)
    {
        if (!j.contains("ids"))
            return {};
        const json& ids = j["ids"];
        if (!ids.is_array() || ids.empty() || ids.size() > kMaxBatch)
            throw Problem{422, "", "\"ids\" must be an array of 1 to 10,000 delivery ids"};
        std::vector<int64_t> out;
        for (const auto& i : ids) {
            if (!i.is_number_integer())
                throw Problem{422, "", "\"ids\" must be an array of 1 to 10,000 delivery ids"};
            out.push_back(i.get<int64_t>());
        }
        return out;
    }

    template <typename T>
    static T must(Result<T> r)
    {
        if (!r)
            throw fromError(r.error());
        return std::move(*r);
    }

    static void mustOk(const Status& s)
    {
        if (!s)
            throw fromError(s.error());
    }

    static json page(json data, bool done, std::optional<std::string> iterator)
    {
        return {{"data", std::move(data)},
                {"iterator", done || !iterator ? json(nullptr) : json(*iterator)},
                {"done", done}};
    }

    // A keyset page from rows read with limit + 1 (one more says there are
    // more): `show` makes each row's JSON, `key` the (created_at, id) the
    // next page starts after.
    template <typename Row, typename Show, typename Key>
    static json pageOf(std::vector<Row> rows, int limit, Show show, Key key)
    {
        const bool done = static_cast<int>(rows.size()) <= limit;
        if (!done)
            rows.pop_back();
        json data = json::array();
        for (const auto& r : rows)
            data.push_back(show(r));
        std::optional<std::string> next;
        if (!rows.empty()) {
            const auto [at, id] = key(rows.back());
            next = iteratorAfter(at, id);
        }
        return page(std::move(data), done, next);
    }

    // --- events -----------------------------------------------------------

    EventInput eventFrom(std::string_view text, const std::string& label) const
    {
        auto e = parseBatchLine(text);
        if (!e)
            throw Problem{422, "", label + e.error().message()};
        if (e->payload.size() > opt.limits.maxPayloadBytes)
            throw Problem{413, "",
                          label + "the payload is larger than " + std::to_string(opt.limits.maxPayloadBytes) +
                              " bytes (--max-payload)"};
        return std::move(*e);
    }

    static Problem sendProblem(const Error& e)
    {
        if (e.is(Error::Kind::Conflict) && e.message().find("idempotency key") != std::string::npos)
            return {422, "idempotency_key_reused", e.message()};
        return fromError(e);
    }

    void createEvent(Call& c)
    {
        checkJsonText(c.req.body, opt.limits.maxJsonDepth + 1);
        EventInput e = eventFrom(c.req.body, "");
        if (auto header = c.req.header("Idempotency-Key")) {
            if (e.idempotencyKey && *e.idempotencyKey != *header)
                throw Problem{400, "", "the Idempotency-Key header and the body's idempotency_key differ"};
            e.idempotencyKey = *header;
        }
        const std::string type = e.type;
        auto r = ingest->submit(std::move(e)).get();
        if (!r)
            throw sendProblem(r.error());
        if (r->duplicate)
            c.res.headers.emplace_back("Idempotent-Replayed", "true");
        writeJson(c.res, r->duplicate ? 200 : 202, eventCreatedJson(*r, type));
    }

    void createEventBatch(Call& c)
    {
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
                if (!json_text::validate(text, opt.limits.maxJsonDepth + 1))
                    throw Problem{400, "", "line " + std::to_string(line) + " is not valid JSON"};
                events.push_back(eventFrom(text, label(events.size() + 1)));
            }
        } else {
            if (auto v = json_text::validate(c.req.body, opt.limits.maxJsonDepth + 2); !v)
                throw Problem{400, "", "the body is " + v.error().message()};
            auto elements = json_text::arrayElements(c.req.body, opt.limits.maxJsonDepth + 2);
            if (!elements)
                throw Problem{422, "", "the body must be a JSON array of events (or NDJSON)"};
            if (elements->size() > kMaxBatch)
                throw Problem{422, "", "a batch holds at most 10,000 events"};
            for (const auto& [kind, raw] : *elements)
                events.push_back(eventFrom(raw, label(events.size() + 1)));
        }
        if (events.empty())
            throw Problem{422, "", "the batch holds no events"};
        auto r = sendBatch(c.db(), events, clock, opt.limits);
        if (!r)
            throw sendProblem(r.error());
        json data = json::array();
        for (size_t i = 0; i < r->size(); ++i)
            data.push_back(eventCreatedJson((*r)[i], events[i].type));
        writeJson(c.res, 202, {{"data", data}});
    }

    void listEventsRoute(Call& c)
    {
        EventFilter f;
        f.type = textOf(c, "type");
        f.createdSince = timeOf(c, "since");
        f.createdUntil = timeOf(c, "until");
        f.after = iteratorOf(c);
        const int limit = limitOf(c);
        f.limit = limit + 1;
        writeJson(c.res, 200, pageOf(must(listEvents(c.db(), f)), limit, eventJson, [](const EventRecord& e) {
                      return std::pair{e.createdAt, e.id};
                  }));
    }

    void getEventRoute(Call& c)
    {
        auto e = must(getEvent(c.db(), *c.req.pathParam("uid")));
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

    // --- targets ----------------------------------------------------------

    // A page of records sorted by id, read whole (targets and keys are
    // few): those after the iterator, base64url of "<tag>:<last id>".
    template <typename Row, typename Show>
    static json pageById(const Call& c, const std::vector<Row>& rows, const std::string& tag, Show show)
    {
        const int limit = limitOf(c);
        std::optional<std::string> after;
        if (auto text = textOf(c, "iterator")) {
            auto raw = base64UrlDecode(*text);
            if (!raw || raw->rfind(tag + ":", 0) != 0)
                throw Problem{400, "", std::string(kForeignIterator)};
            after = raw->substr(tag.size() + 1);
        }
        json data = json::array();
        std::string last;
        bool done = true;
        for (const auto& r : rows) {
            if (after && r.id <= *after)
                continue;
            if (static_cast<int>(data.size()) == limit) {
                done = false;
                break;
            }
            data.push_back(show(r));
            last = r.id;
        }
        return page(std::move(data), done, base64UrlEncode(tag + ":" + last));
    }

    // A target as the calling key may see it (shownTargetUrl).
    static json targetFor(const Call& c, const Target& t)
    {
        json j = targetJson(t, false);
        j["url"] = shownTargetUrl(t.url, c.key);
        return j;
    }

    void listTargetsRoute(Call& c)
    {
        auto all = must(listTargets(c.db())); // sorted by id
        writeJson(c.res, 200, pageById(c, all, "t", [&c](const Target& t) { return targetFor(c, t); }));
    }

    void createTarget(Call& c)
    {
        auto in = parseTargetInput(body(c), true);
        if (!in)
            throw Problem{422, "", in.error().message()};
        auto t = must(addTarget(c.db(), *in->id, in->spec, clock, opt.limits));
        json j = targetFor(c, t);
        if (!in->spec.secret)
            j["secret"] = t.secret; // generated: shown this once
        writeJson(c.res, 201, j);
    }

    void getTargetRoute(Call& c) { writeJson(c.res, 200, targetFor(c, must(getTarget(c.db(), id(c))))); }

    void updateTargetRoute(Call& c)
    {
        auto in = parseTargetInput(body(c), false);
        if (!in)
            throw Problem{422, "", in.error().message()};
        writeJson(c.res, 200, targetFor(c, must(updateTarget(c.db(), id(c), in->spec, clock, opt.limits))));
    }

    void deleteTarget(Call& c)
    {
        must(removeTarget(c.db(), id(c)));
        c.res.set(204, "", "application/json");
    }

    void setEnabled(Call& c, bool enabled)
    {
        writeJson(c.res, 200, targetFor(c, must(setTargetEnabled(c.db(), id(c), enabled, clock))));
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
        auto r = must(rotateSecret(c.db(), id(c), secret, overlap, clock));
        writeJson(c.res, 200,
                  {{"secret", r.secret},
                   {"previous_secret_expires_at", r.previousExpiresAt ? json(*r.previousExpiresAt) : json(nullptr)}});
    }

    static std::string id(const Call& c) { return *c.req.pathParam("id"); }

    // --- deliveries -------------------------------------------------------

    // Deliveries page by (created_at, id); dead letters by id alone.
    static json deliveryPage(std::vector<Delivery> rows, int limit, bool byId)
    {
        return pageOf(std::move(rows), limit, deliveryJson, [byId](const Delivery& d) {
            return std::pair{byId ? 0 : d.createdAt, d.id};
        });
    }

    void listDeliveriesRoute(Call& c)
    {
        DeliveryFilter f;
        if (auto s = textOf(c, "status")) {
            f.status = parseDeliveryStatus(*s);
            if (!f.status)
                throw Problem{400, "", "status must be one of " + std::string(allStatusNames())};
        }
        f.targetId = textOf(c, "target_id");
        f.type = textOf(c, "type");
        f.createdSince = timeOf(c, "since");
        f.createdUntil = timeOf(c, "until");
        f.after = iteratorOf(c);
        const int limit = limitOf(c);
        f.limit = limit + 1;
        writeJson(c.res, 200, deliveryPage(must(listDeliveries(c.db(), f)), limit, false));
    }

    void getDeliveryRoute(Call& c)
    {
        auto n = wholeNumber(*c.req.pathParam("id"));
        if (!n)
            throw Problem{422, "", "a delivery id is a whole number"};
        writeJson(c.res, 200, deliveryWithAttemptsJson(must(getDelivery(c.db(), *n))));
    }

    static json requeuedJson(const std::vector<Requeued>& r)
    {
        json ids = json::array();
        for (const auto& q : r)
            ids.push_back(q.id);
        return {{"requeued", r.size()}, {"ids", ids}};
    }

    void resend(Call& c)
    {
        json j = bodyObject(c, {"ids"});
        auto ids = idsOf(j);
        if (ids.empty())
            throw Problem{422, "", "\"ids\" is missing"};
        writeJson(c.res, 202, requeuedJson(must(resendDeliveries(c.db(), ids, clock))));
    }

    void listDeadLettersRoute(Call& c)
    {
        DeliveryFilter f;
        f.targetId = textOf(c, "target_id");
        f.type = textOf(c, "type");
        f.createdSince = timeOf(c, "since");
        f.after = iteratorOf(c);
        const int limit = limitOf(c);
        f.limit = limit + 1;
        writeJson(c.res, 200, deliveryPage(must(listDeadLetters(c.db(), f)), limit, true));
    }

    void retryDeadLettersRoute(Call& c)
    {
        json j = bodyObject(c, {"ids", "all", "target_id", "type", "since"});
        const bool all = j.value("all", false);
        if (j.contains("all") && !j["all"].is_boolean())
            throw Problem{422, "", "\"all\" must be true or false"};
        auto ids = idsOf(j);
        if (all == !ids.empty())
            throw Problem{422, "", "give either \"ids\" or \"all\": true"};
        if (!all) {
            if (j.contains("target_id") || j.contains("type") || j.contains("since"))
                throw Problem{422, "", "target_id, type and since narrow \"all\": true only"};
            writeJson(c.res, 202, requeuedJson(must(retryDeadLetters(c.db(), ids, clock))));
            return;
        }
        DeadLetterSelection s;
        for (const char* k : {"target_id", "type", "since"})
            if (j.contains(k) && !j[k].is_string())
                throw Problem{422, "", std::string("\"") + k + "\" must be a string"};
        if (j.contains("target_id"))
            s.targetId = j["target_id"].get<std::string>();
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
        json j = bodyObject(c, {"older_than"});
        auto d = durationField(j, "older_than", "7d");
        if (!d)
            throw Problem{422, "", "\"older_than\" must be a duration such as 7d, at most 3650d"};
        PurgeOptions o;
        o.completedBeforeMs = saturatingAdd(clock.nowMs(), -*d);
        o.statuses = PurgeStatuses::DeadLetter;
        writeJson(c.res, 200, {{"deleted", must(purgeTerminal(c.db(), o)).deliveries}});
    }

    void stats(Call& c)
    {
        StatsFilter f;
        f.createdSince = timeOf(c, "since");
        f.createdUntil = timeOf(c, "until");
        f.targetId = textOf(c, "target_id");
        f.type = textOf(c, "type");
        writeJson(c.res, 200, statsJson(must(statistics(c.db(), f, clock))));
    }

    void timeseriesRoute(Call& c)
    {
        TimeseriesQuery q;
        q.until = timeOf(c, "until").value_or(clock.nowMs());
        q.since = timeOf(c, "since").value_or(std::max<int64_t>(0, q.until - 3'600'000));
        if (auto step = textOf(c, "step")) {
            auto d = parseDuration(*step);
            if (!d || !validateTimeseriesStep(*d))
                throw Problem{400, "", "step must be a whole number of minutes from 1m to 24h, such as 5m"};
            q.stepMs = *d;
        }
        q.targetId = textOf(c, "target_id");
        writeJson(c.res, 200, timeseriesJson(must(timeseries(c.db(), q)), q.stepMs));
    }

    // --- API keys ---------------------------------------------------------

    void listKeys(Call& c)
    {
        auto all = must(listApiKeys(c.db()));
        std::sort(all.begin(), all.end(), [](const ApiKey& a, const ApiKey& b) { return a.id < b.id; });
        writeJson(c.res, 200, pageById(c, all, "k", apiKeyJson));
    }

    void createKey(Call& c)
    {
        json j = bodyObject(c, {"name", "scopes", "expires_in"});
        if (!j.contains("name") || !j["name"].is_string())
            throw Problem{422, "", "\"name\" must be a string"};
        std::vector<std::string> scopes;
        if (!j.contains("scopes") || !j["scopes"].is_array())
            throw Problem{422, "", "\"scopes\" must be an array of scopes"};
        for (const auto& s : j["scopes"]) {
            if (!s.is_string())
                throw Problem{422, "", "\"scopes\" must be an array of scopes"};
            scopes.push_back(s.get<std::string>());
        }
        const std::optional<int64_t> expires = durationField(j, "expires_in", "90d");
        auto made = must(createApiKey(c.db(), j["name"].get<std::string>(), scopes, expires, clock));
        json out = apiKeyJson(made.key);
        out["token"] = made.token;
        writeJson(c.res, 201, out);
    }

    void revokeKey(Call& c)
    {
        must(revokeApiKey(c.db(), id(c), clock));
        keys.forget(id(c));
        c.res.set(204, "", "application/json");
    }

    // --- health -----------------------------------------------------------

    // Whether this process can reach its store, nothing about receivers: a
    // connection from the pool (not the request's) answers SELECT 1.
    void health(Call& c)
    {
        auto lease = pool.acquire();
        const Status answers = lease ? checkStoreAnswers(*lease->db) : Status(fail(lease.error()));
        if (!answers) {
            if (auto leftOut = unanswered.admit(clock.nowMs()))
                Log::warn("api health: the store does not answer",
                          {{"error", answers.error().toString()}, {"left_out", std::to_string(*leftOut)}});
            throw Problem{503, "store_unavailable", "the store does not answer; try again in a second"};
        }
        writeJson(c.res, 200, {{"status", "ok"}});
    }

    // --- dispatch ---------------------------------------------------------

    void serve(const ApiRoute& route, const Handler& handler, const http::Request& req, http::Response& res)
    {
        // Answers hold records, secrets and tokens: no cache keeps them.
        res.headers.emplace_back("Cache-Control", "no-store");
        Call call{req, res, pool, nullptr, std::nullopt};
        try {
            std::optional<ApiKey> key;
            if (!route.scope.empty()) {
                auto auth = req.header("Authorization");
                constexpr std::string_view kBearer = "Bearer ";
                if (!auth || auth->size() <= kBearer.size() ||
                    !std::equal(kBearer.begin(), kBearer.end(), auth->begin(),
                                [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
                    throw Problem{401, "", "an API key is needed: Authorization: Bearer whk_…"};
                const std::string_view token = std::string_view(*auth).substr(kBearer.size());
                const std::string digest = sha256({token});
                const int64_t now = clock.nowMs();
                Result<ApiKey> k = fail(Error::invalid(""));
                if (auto cached = keys.find(digest, now))
                    k = std::move(*cached);
                else if ((k = authenticateApiKey(call.db(), token, clock)))
                    keys.put(digest, *k, now);
                if (!k) {
                    if (!k.error().is(Error::Kind::Invalid))
                        throw fromError(k.error());
                    if (auto leftOut = refusals.admit(now))
                        Log::info("api key refused",
                                  {{"reason", k.error().message()},
                                   {"remote", req.remoteAddr},
                                   {"left_out", std::to_string(*leftOut)}});
                    throw Problem{401, "", k.error().message()};
                }
                if (route.scope != "*" && !grants(k->scopes, route.scope))
                    throw Problem{403, "", "this API key lacks the '" + std::string(route.scope) + "' scope"};
                key = std::move(*k);
                call.key = &*key;
            }
            checkQuery(route, req);
            handler(*this, call);
        } catch (const Problem& p) {
            writeProblem(res, p);
        }
    }
};

namespace {

struct Operation {
    ApiRoute route;
    ApiServer::Impl::Handler handler;
};

const std::vector<Operation>& operations()
{
    using I = ApiServer::Impl;
    using C = I::Call;
    static const std::vector<Operation> all = {
        {{"GET", "/openapi.json", "getOpenApi", ""},
         [](I&, C& c) { c.res.set(200, std::string(openApiDocument()), "application/json"); }},
        {{"GET", "/health", "getHealth", ""}, [](I& i, C& c) { i.health(c); }},
        {{"POST", "/events", "createEvent", "events:write"}, [](I& i, C& c) { i.createEvent(c); }},
        {{"POST", "/events/batch", "createEventBatch", "events:write"}, [](I& i, C& c) { i.createEventBatch(c); }},
        {{"GET", "/events", "listEvents", "read", {"type", "since", "until", "limit", "iterator"}},
         [](I& i, C& c) { i.listEventsRoute(c); }},
        {{"GET", "/events/{uid}", "getEvent", "read"}, [](I& i, C& c) { i.getEventRoute(c); }},
        {{"GET", "/targets", "listTargets", "read", {"limit", "iterator"}}, [](I& i, C& c) { i.listTargetsRoute(c); }},
        {{"POST", "/targets", "createTarget", "manage"}, [](I& i, C& c) { i.createTarget(c); }},
        {{"GET", "/targets/{id}", "getTarget", "read"}, [](I& i, C& c) { i.getTargetRoute(c); }},
        {{"PATCH", "/targets/{id}", "updateTarget", "manage"}, [](I& i, C& c) { i.updateTargetRoute(c); }},
        {{"DELETE", "/targets/{id}", "deleteTarget", "manage"}, [](I& i, C& c) { i.deleteTarget(c); }},
        {{"POST", "/targets/{id}/enable", "enableTarget", "manage"}, [](I& i, C& c) { i.setEnabled(c, true); }},
        {{"POST", "/targets/{id}/disable", "disableTarget", "manage"}, [](I& i, C& c) { i.setEnabled(c, false); }},
        {{"POST", "/targets/{id}/secret/rotate", "rotateTargetSecret", "admin"},
         [](I& i, C& c) { i.rotateSecretRoute(c); }},
        {{"GET",
          "/deliveries",
          "listDeliveries",
          "read",
          {"status", "target_id", "type", "since", "until", "limit", "iterator"}},
         [](I& i, C& c) { i.listDeliveriesRoute(c); }},
        {{"GET", "/deliveries/{id}", "getDelivery", "read"}, [](I& i, C& c) { i.getDeliveryRoute(c); }},
        {{"POST", "/deliveries/resend", "resendDeliveries", "manage"}, [](I& i, C& c) { i.resend(c); }},
        {{"GET", "/dead-letters", "listDeadLetters", "read", {"target_id", "type", "since", "limit", "iterator"}},
         [](I& i, C& c) { i.listDeadLettersRoute(c); }},
        {{"POST", "/dead-letters/retry", "retryDeadLetters", "manage"}, [](I& i, C& c) { i.retryDeadLettersRoute(c); }},
        {{"POST", "/dead-letters/purge", "purgeDeadLetters", "manage"}, [](I& i, C& c) { i.purgeDeadLetters(c); }},
        {{"GET", "/stats", "getStats", "read", {"since", "until", "target_id", "type"}},
         [](I& i, C& c) { i.stats(c); }},
        {{"GET", "/stats/timeseries", "getStatsTimeseries", "read", {"since", "until", "step", "target_id"}},
         [](I& i, C& c) { i.timeseriesRoute(c); }},
        {{"GET", "/api-keys", "listApiKeys", "admin", {"limit", "iterator"}}, [](I& i, C& c) { i.listKeys(c); }},
        {{"POST", "/api-keys", "createApiKey", "admin"}, [](I& i, C& c) { i.createKey(c); }},
        {{"GET", "/api-keys/self", "getApiKeySelf", "*"}, [](I&, C& c) { writeJson(c.res, 200, apiKeyJson(*c.key)); }},
        {{"DELETE", "/api-keys/{id}", "revokeApiKey", "admin"}, [](I& i, C& c) { i.revokeKey(c); }},
    };
    return all;
}

} // namespace

const std::vector<ApiRoute>& apiRoutes()
{
    static const std::vector<ApiRoute> routes = [] {
        std::vector<ApiRoute> out;
        for (const auto& op : operations())
            out.push_back(op.route);
        return out;
    }();
    return routes;
}

namespace {

// The dashboard's files at / (index.html) and /NAME. Every answer carries a
// Content-Security-Policy that allows this origin's script, style and API
// calls only: no inline script, no other origin, no framing.
void serveDashboard(http::Server& server)
{
    for (const DashboardAsset& asset : dashboardAssets()) {
        auto handler = [&asset](const http::Request& req, http::Response& res) {
            res.headers.emplace_back(
                "Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
            res.headers.emplace_back("X-Content-Type-Options", "nosniff");
            res.headers.emplace_back("Referrer-Policy", "no-referrer");
            res.headers.emplace_back("X-Frame-Options", "DENY");
            res.headers.emplace_back("Cache-Control", "no-cache");
            res.headers.emplace_back("ETag", std::string(asset.etag));
            if (req.header("If-None-Match") == std::string(asset.etag)) {
                res.set(304, "", std::string(asset.contentType));
                return;
            }
            res.set(200, std::string(asset.body), std::string(asset.contentType));
        };
        server.route("GET", std::string(asset.path), handler);
        if (asset.path == "/index.html")
            server.route("GET", "/", handler);
    }
}

} // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::create(ApiOptions options, const Clock& clock)
{
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    Impl* p = impl.get();
    auto ingest = IngestBatcher::create(p->opt.database, p->opt.open, clock, p->opt.limits, p->opt.ingestQueue);
    if (!ingest)
        return fail(ingest.error());
    p->ingest = std::move(*ingest);
    http::ServerOptions so;
    so.host = p->opt.host;
    so.port = p->opt.port;
    so.threads = p->opt.threads;
    // A batch of events is one body: twice the largest payload, and room for
    // a batch of many small ones.
    so.maxBodyBytes = std::max<size_t>(2 * p->opt.limits.maxPayloadBytes + 64 * 1024, 16 * 1024 * 1024);
    so.keepAliveMax = 1000;
    so.keepAliveTimeoutMs = 2'000;
    so.headTimeoutMs = 5'000;
    so.requestDeadlineMs = 30'000;
    so.maxConnections = p->opt.maxConnections;
    so.maxConnectionsPerPeer = p->opt.maxConnectionsPerPeer;
    so.errorWriter = [](int status, const std::string& detail, http::Response& res) {
        writeProblem(res, {status, "", detail});
    };
    auto server = http::Server::create(so);
    if (!server)
        return fail(server.error());
    p->http = std::move(*server);
    for (const auto& op : operations()) {
        const ApiRoute* route = &op.route;
        const Impl::Handler* handler = &op.handler;
        p->http->route(std::string(op.route.method), std::string(kBase) + std::string(op.route.path),
                       [p, route, handler](const http::Request& req, http::Response& res) {
                           p->serve(*route, *handler, req, res);
                       });
    }
    serveDashboard(*p->http);
    return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }

ApiServer::~ApiServer() { stop(); }

void ApiServer::start() { impl_->http->start(); }
void ApiServer::stop()
{
    if (impl_ && impl_->http)
        impl_->http->stop();
}
std::string ApiServer::address() const { return impl_->http->address(); }
bool ApiServer::accepting() const { return impl_->http->loopAlive(1000); }

} // namespace webhookd

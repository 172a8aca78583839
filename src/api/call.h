#pragma once

// What a handler works with (Call), and the readers every resource shares:
// query parameters, bodies, keyset pages. Each reader throws Problem (400
// for a query, 413 or 422 for a body) when the request is not what the
// route takes.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/pool.h"
#include "api/problem.h"
#include "http/server.h"

namespace webhookd {

struct ApiKey;
struct ApiRoute;

namespace api {

struct ApiContext;
using nlohmann::json;

// One request in a handler; lives for the request, on its thread.
struct Call {
    ApiContext& ctx;
    const http::Request& req;
    http::Response& res;
    const ApiKey* key = nullptr; // null for routes without a scope
    std::optional<Pool::Lease> lease;

    // A connection for this request, taken from the pool when first needed;
    // the store's errors as problems.
    Database& db();
};

using Handler = void (*)(Call&);

// Each query parameter is one the route takes, given once; 400 otherwise,
// naming the one meant where a name is mistyped.
void checkQuery(const ApiRoute& route, const http::Request& req);

void writeJson(http::Response& res, int status, const json& j);

// 400 when text is not JSON, 422 when it nests deeper than maxDepth:
// checked before any parser builds it, so depth costs no memory.
void checkJsonText(std::string_view text, size_t maxDepth);

// A management body (not an event's): at most 64 KiB and 32 levels.
json body(const Call& c);
// The same, an object whose fields are all among `allowed` (none: {}).
json bodyObject(const Call& c, std::initializer_list<std::string_view> allowed);

std::optional<int64_t> wholeNumber(std::string_view s);
int limitOf(const Call& c);                                           // ?limit=, 50 when absent, 1 to 250
std::optional<std::pair<int64_t, int64_t>> iteratorOf(const Call& c); // (created_at, id)
// A time parameter: epoch ms, ISO-8601 or a duration ago ("7d"), from
// 1970 to 9999; 400 otherwise.
std::optional<int64_t> timeOf(const Call& c, const char* name);
std::optional<std::string> textOf(const Call& c, const char* name); // empty is absent
std::string pathId(const Call& c);                                  // {id}
// ?type=: an event type, or a pattern ending in * (order.*); 400 for a *
// anywhere else.
std::optional<std::string> typeOf(const Call& c);

// A body field holding a duration ("24h"), or nullopt when absent; 422
// for anything else. `example` goes into the sentence.
std::optional<int64_t> durationField(const json& j, const char* name, const char* example);
// "ids": 1 to 10,000 delivery ids; empty when absent, 422 when malformed.
std::vector<int64_t> idsOf(const json& j);

// The parameters every keyset listing takes into its filter: since, until,
// iterator and limit. The page size; f.limit is one more, to tell whether
// more follow. A route without "until" reads it as absent (checkQuery).
template <typename Filter>
int readListing(const Call& c, Filter& f)
{
    f.createdSince = timeOf(c, "since");
    f.createdUntil = timeOf(c, "until");
    f.after = iteratorOf(c);
    const int limit = limitOf(c);
    f.limit = limit + 1;
    return limit;
}

json page(json data, bool done, std::optional<std::string> iterator);
// The opaque position after a row: base64url of "created_at:id".
std::string iteratorAfter(int64_t createdAt, int64_t id);

// A keyset page from rows read with limit + 1 (one more says there are
// more): `show` makes each row's JSON, `key` the (created_at, id) the
// next page starts after.
template <typename Row, typename Show, typename Key>
json pageOf(std::vector<Row> rows, int limit, Show show, Key key)
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

// Applications (DESIGN.md "HTTP API", Tenants). A key bound to an
// application sees only that application's records: everything else answers
// 404 exactly as a record that does not exist (existence does not leak).

// The application a call is confined to: its key's, when bound to one.
const std::optional<std::string>& boundApp(const Call& c);
// The application a listing keeps to: a bound key's own, or ?app_id= for an
// operator key (none: every application). 403 for a bound key naming
// another application in ?app_id=.
std::optional<std::string> listingApp(const Call& c);
// 403 when a bound key names an application other than its own in a body or
// a path; the application a write applies to otherwise (the key's when
// none is named).
std::optional<std::string> writingApp(const Call& c, const std::optional<std::string>& named);
// 404 with `notFound` unless a record of application `recordApp` is visible
// to the call's key.
void mustSee(const Call& c, const std::optional<std::string>& recordApp, const std::string& notFound);
// 404 "there is no target 'ID'" when a bound key names a target of another
// application (an unknown one is the storage's own 404 later).
void mustSeeTarget(Call& c, const std::optional<std::string>& targetId);
// 404 "there is no delivery N" for the first delivery not of the bound
// key's application (nothing for operator keys).
void mustSeeDeliveries(Call& c, const std::vector<int64_t>& ids);

// Pages by id: the iterator is base64url of "<tag>:<last id>". afterId is
// the id after which the page starts: nullopt on the first page, 400 for an
// iterator of another tag.
std::optional<std::string> afterId(const Call& c, const std::string& tag);
std::string iteratorAfterId(const std::string& tag, const std::string& lastId);

// A page of records sorted by id, read whole (targets and keys are few):
// those after the iterator.
template <typename Row, typename Show>
json pageById(const Call& c, const std::vector<Row>& rows, const std::string& tag, Show show)
{
    const int limit = limitOf(c);
    const std::optional<std::string> after = afterId(c, tag);
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
    return page(std::move(data), done, iteratorAfterId(tag, last));
}

} // namespace api
} // namespace webhookd

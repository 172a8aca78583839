#include "api/problem.h"

#include <mutex>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "http/server.h"
#include "storage/database.h"

namespace webhookd::api {

namespace {

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

} // namespace

void writeProblem(http::Response& res, const Problem& p)
{
    using nlohmann::json;
    json j = {{"type", "about:blank"},
              {"title", http::reasonPhrase(p.status)},
              {"status", p.status},
              {"code", p.code.empty() ? std::string(codeOf(p.status)) : p.code},
              {"detail", p.detail}};
    res.set(p.status, j.dump(-1, ' ', false, json::error_handler_t::replace), "application/problem+json");
    if (p.status == 503)
        res.headers.emplace_back("Retry-After", "1");
    if (p.status == 401)
        res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"webhookd\"");
}

Problem fromError(const Error& e)
{
    switch (e.code()) {
    case Error::Code::IdempotencyKeyReused: return {422, "idempotency_key_reused", e.message()};
    case Error::Code::TooDeep: // answered as its kind
    case Error::Code::None: break;
    }
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

} // namespace webhookd::api

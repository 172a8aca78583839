#include "api/api.h"

#include <algorithm>
#include <cmath>

#include "api/auth.h"
#include "api/call.h"
#include "api/context.h"
#include "api/dashboard.h"
#include "api/handlers.h"
#include "api/ingest.h"
#include "api/request_metrics.h"
#include "core/log.h"
#include "http/server.h"

namespace webhookd {

namespace api {

ApiContext::ApiContext(ApiOptions o, const Clock& c)
    : opt(std::move(o)),
      clock(c),
      pool(opt.database, opt.open)
{ }

ApiContext::~ApiContext() = default;

namespace {

constexpr std::string_view kBase = "/api/v1";

// Who may call an operation, beyond its scope. A key bound to an
// application and a portal session act only inside their application;
// operations on keys and sessions are for operator keys alone, and a portal
// session gets only what a customer's portal needs.
enum class Who {
    Anyone,      // any key with the scope, portal sessions included
    NotPortal,   // keys with the scope, bound or not; no portal session
    OperatorOnly // keys with the scope and no application
};

struct Operation {
    ApiRoute route;
    Handler handler;
    Who who = Who::Anyone;
};

void getOpenApi(Call& c) { c.res.set(200, std::string(openApiDocument()), "application/json"); }

const std::vector<Operation>& operations()
{
    using C = Call;
    using enum Who;
    static const std::vector<Operation> all = {
        {{"GET", "/openapi.json", "getOpenApi", ""}, getOpenApi},
        {{"GET", "/health", "getHealth", ""}, health},
        {{"POST", "/events", "createEvent", "events:write"}, createEvent, NotPortal},
        {{"POST", "/events/batch", "createEventBatch", "events:write"}, createEventBatch, NotPortal},
        {{"GET",
          "/events",
          "listEvents",
          "read",
          {"type", "since", "until", "app_id", "idempotency_key", "limit", "iterator"}},
         listEventsRoute},
        {{"GET", "/events/{uid}", "getEvent", "read"}, getEventRoute},
        {{"GET", "/targets", "listTargets", "read", {"app_id", "limit", "iterator"}}, listTargetsRoute},
        {{"POST", "/targets", "createTarget", "manage"}, createTarget},
        {{"GET", "/targets/{id}", "getTarget", "read"}, getTargetRoute},
        {{"PATCH", "/targets/{id}", "updateTarget", "manage"}, updateTargetRoute},
        {{"DELETE", "/targets/{id}", "deleteTarget", "manage"}, deleteTarget, NotPortal},
        {{"POST", "/targets/{id}/enable", "enableTarget", "manage"}, [](C& c) { setEnabled(c, true); }},
        {{"POST", "/targets/{id}/disable", "disableTarget", "manage"}, [](C& c) { setEnabled(c, false); }},
        {{"POST", "/targets/{id}/secret/rotate", "rotateTargetSecret", "admin"}, rotateSecretRoute},
        {{"POST", "/targets/{id}/test", "sendTestEvent", "manage"}, sendTestEvent},
        {{"GET",
          "/deliveries",
          "listDeliveries",
          "read",
          {"status", "target_id", "type", "since", "until", "app_id", "limit", "iterator"}},
         listDeliveriesRoute},
        {{"GET", "/deliveries/{id}", "getDelivery", "read"}, getDeliveryRoute},
        {{"POST", "/deliveries/resend", "resendDeliveries", "manage"}, resend},
        {{"GET",
          "/dead-letters",
          "listDeadLetters",
          "read",
          {"target_id", "type", "since", "app_id", "limit", "iterator"}},
         listDeadLettersRoute},
        {{"POST", "/dead-letters/retry", "retryDeadLetters", "manage"}, retryDeadLettersRoute},
        {{"POST", "/dead-letters/{id}/release", "releaseDeadLetter", "manage"}, releaseDeadLetterRoute},
        {{"POST", "/dead-letters/purge", "purgeDeadLetters", "manage"}, purgeDeadLetters, NotPortal},
        {{"GET", "/stats", "getStats", "read", {"since", "until", "target_id", "type", "app_id"}}, stats},
        {{"GET", "/stats/timeseries", "getStatsTimeseries", "read", {"since", "until", "step", "target_id", "app_id"}},
         timeseriesRoute},
        {{"GET", "/defaults", "getDefaults", "read"}, getDefaults, NotPortal},
        {{"PUT", "/defaults", "setDefaults", "admin"}, setDefaults, OperatorOnly},
        {{"GET", "/api-keys", "listApiKeys", "admin", {"limit", "iterator"}}, listKeys, OperatorOnly},
        {{"POST", "/api-keys", "createApiKey", "admin"}, createKey, OperatorOnly},
        {{"GET", "/api-keys/self", "getApiKeySelf", "*"}, getKeySelf},
        {{"DELETE", "/api-keys/{id}", "revokeApiKey", "admin"}, revokeKey, OperatorOnly},
        {{"POST", "/apps/{app}/portal-sessions", "createPortalSession", "manage"},
         createPortalSessionRoute,
         OperatorOnly},
        {{"DELETE", "/apps/{app}/portal-sessions", "revokePortalSessions", "manage"},
         revokePortalSessionsRoute,
         OperatorOnly},
    };
    return all;
}

// 403 when the key may not call the operation for what it is (a portal
// session, or bound to an application), whatever its scopes.
void checkWho(const Operation& op, const ApiKey& key)
{
    if (key.portal && op.who != Who::Anyone)
        throw Problem{403, "", "a portal session may not do this"};
    if (key.appId && op.who == Who::OperatorOnly)
        throw Problem{403, "",
                      "API keys and portal sessions are managed with an operator key; this key is bound to the "
                      "application '" +
                          *key.appId + "'"};
}

// One request: its key (when the route needs one), its query parameters,
// then its handler; a Problem thrown on the way is the answer.
void serve(ApiContext& ctx, const Operation& op, const http::Request& req, http::Response& res)
{
    // Answers hold records, secrets and tokens: no cache keeps them.
    res.headers.emplace_back("Cache-Control", "no-store");
    Call call{ctx, req, res, nullptr, std::nullopt};
    try {
        std::optional<ApiKey> key;
        if (!op.route.scope.empty()) {
            key = authenticate(call, op.route.scope);
            call.key = &*key;
            // Who asked, for the access log: the key's name and id (the
            // token's public half), never its secret.
            res.logFields = {{"key", key->name}, {"key_id", key->id}};
            if (key->appId)
                res.logFields.emplace_back("app", *key->appId);
            checkWho(op, *key);
        }
        checkQuery(op.route, req);
        op.handler(call);
    } catch (const Problem& p) {
        writeProblem(res, p);
    }
}

// The dashboard's files at / (index.html) and /NAME. Every answer carries a
// Content-Security-Policy that allows this origin's script, style and API
// calls only: no inline script, no other origin, and no framing unless the
// operator names who may frame it (--portal-frame-ancestors).
void serveDashboard(http::Server& server, const std::string& frameAncestors)
{
    const std::string csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                            "img-src 'self' data:; frame-ancestors " +
        (frameAncestors.empty() ? std::string("'none'") : frameAncestors) + "; base-uri 'none'; form-action 'self'";
    const bool framable = !frameAncestors.empty();
    for (const DashboardAsset& asset : dashboardAssets()) {
        auto handler = [&asset, csp, framable](const http::Request& req, http::Response& res) {
            res.headers.emplace_back("Content-Security-Policy", csp);
            res.headers.emplace_back("X-Content-Type-Options", "nosniff");
            res.headers.emplace_back("Referrer-Policy", "no-referrer");
            if (!framable) // X-Frame-Options cannot name origins; CSP decides then
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

// The access log: one line per answered request, at info. The route is the
// pattern that matched ("other" for none), never the path or its query, so
// ids and anything a client put in a URL stay out; who asked is the key's
// name ("-" without one), never its token.
void logRequest(const http::Exchange& x)
{
    if (!Log::enabled(LogLevel::Info))
        return;
    Log::Fields f = {{"method", RequestMetrics::methodLabel(x.method)},
                     {"route", RequestMetrics::routeLabel(x.route)},
                     {"status", x.status},
                     {"duration_ms", std::round(x.seconds * 1e6) / 1e3}};
    bool keyed = false;
    if (x.logFields)
        for (const auto& [name, value] : *x.logFields) {
            f.emplace_back(name, value);
            keyed = keyed || name == "key";
        }
    if (!keyed)
        f.emplace_back("key", "-");
    Log::info("api request", f);
}

} // namespace
} // namespace api

const std::vector<ApiRoute>& apiRoutes()
{
    static const std::vector<ApiRoute> routes = [] {
        std::vector<ApiRoute> out;
        for (const auto& op : api::operations())
            out.push_back(op.route);
        return out;
    }();
    return routes;
}

// The server's shared state, and its HTTP server, stopped (destroyed) first.
struct ApiServer::Impl {
    api::ApiContext ctx;
    RequestMetrics metrics; // written by http's threads: outlives it
    std::unique_ptr<http::Server> http;

    Impl(ApiOptions o, const Clock& c)
        : ctx(std::move(o), c)
    { }
};

Result<std::unique_ptr<ApiServer>> ApiServer::create(ApiOptions options, const Clock& clock)
{
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    Impl* p = impl.get();
    api::ApiContext& ctx = p->ctx;
    const ApiOptions& opt = ctx.opt;
    auto ingest = IngestBatcher::create(opt.database, opt.open, clock, opt.limits, opt.ingestQueue);
    if (!ingest)
        return fail(ingest.error());
    ctx.ingest = std::move(*ingest);
    http::ServerOptions so;
    so.host = opt.host;
    so.port = opt.port;
    so.threads = opt.threads;
    // A batch of events is one body: twice the largest payload, and room for
    // a batch of many small ones.
    so.maxBodyBytes = std::max<size_t>(2 * opt.limits.maxPayloadBytes + 64 * 1024, 16 * 1024 * 1024);
    so.keepAliveMax = 1000;
    so.keepAliveTimeoutMs = 2'000;
    so.headTimeoutMs = 5'000;
    so.requestDeadlineMs = 30'000;
    so.maxConnections = opt.maxConnections;
    so.maxConnectionsPerPeer = opt.maxConnectionsPerPeer;
    so.errorWriter = [](int status, const std::string& detail, http::Response& res) {
        api::writeProblem(res, {status, "", detail});
    };
    so.observer = [metrics = &p->metrics](const http::Exchange& x) {
        metrics->record(x.method, x.route, x.status, x.seconds);
        api::logRequest(x);
    };
    auto server = http::Server::create(so);
    if (!server)
        return fail(server.error());
    p->http = std::move(*server);
    ctx.address = p->http->address();
    for (const auto& op : api::operations()) {
        const api::Operation* o = &op;
        p->http->route(std::string(op.route.method), std::string(api::kBase) + std::string(op.route.path),
                       [&ctx, o](const http::Request& req, http::Response& res) { api::serve(ctx, *o, req, res); });
    }
    api::serveDashboard(*p->http, opt.frameAncestors);
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
const RequestMetrics& ApiServer::requestMetrics() const { return impl_->metrics; }

} // namespace webhookd

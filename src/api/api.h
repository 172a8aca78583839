#pragma once

// The HTTP API (DESIGN.md "HTTP API"): /api/v1 over http::Server, with API
// keys, scopes, problem documents, keyset pages and group-committed ingest.
// It calls storage/ only; every route is a row of apiRoutes(), which
// tests/api_test.cpp holds against src/api/openapi.json, query parameters
// included.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/validate.h"
#include "storage/database.h"

namespace webhookd {

class RequestMetrics;

struct ApiRoute {
    std::string_view method;
    std::string_view path; // below /api/v1, {name} for a parameter
    std::string_view operationId;
    std::string_view scope; // "" no key needed; "*" any valid key
    // The query parameters it takes; any other, or one given twice, is 400.
    std::vector<std::string_view> query = {};
};

// Every route the API serves, in the order of openapi.json.
const std::vector<ApiRoute>& apiRoutes();

// The OpenAPI 3.1 document served at /api/v1/openapi.json (embedded).
std::string_view openApiDocument();

struct ApiOptions {
    std::string database; // the store's locator
    OpenOptions open;     // busy timeout; the API never creates or migrates
    std::string host = "127.0.0.1";
    int port = 0;
    int threads = 16; // handlers run at once (idle and slow connections hold none)
    int maxConnections = 4096;
    int maxConnectionsPerPeer = 512;
    Limits limits;
    size_t ingestQueue = 4096; // events waiting for the group commit; more get 503
    // Where people reach this API (https://hooks.example.com), for portal
    // links; empty: http:// and the address it listens on.
    std::string publicUrl;
    // CSP frame-ancestors sources that may frame the dashboard (an operator
    // embedding the portal in their product); empty: no framing at all.
    std::string frameAncestors;
};

class ApiServer {
public:
    // Binds now and opens the ingest writer's connection. Network error when
    // the address cannot be bound; the store's errors as they come.
    static Result<std::unique_ptr<ApiServer>> create(ApiOptions options, const Clock& clock);
    ~ApiServer(); // stops
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    void start();
    void stop(); // waits for requests in progress; idempotent
    std::string address() const;
    bool accepting() const; // its connection loop turns
    // What it answered (api/request_metrics.h), for /metrics; lives as
    // long as the server. Every answered request is also logged at info
    // ("api request": method, route pattern, status, duration_ms, key).
    const RequestMetrics& requestMetrics() const;
    struct Impl;

private:
    explicit ApiServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd

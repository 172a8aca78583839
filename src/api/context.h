#pragma once

// What the API's handlers share: one per ApiServer, made by
// ApiServer::create and living as long as the server.

#include <memory>

#include "api/api.h"
#include "api/auth.h"
#include "api/log_throttle.h"
#include "api/pool.h"

namespace webhookd {

class IngestBatcher;

namespace api {

struct ApiContext {
    ApiOptions opt;
    const Clock& clock; // must outlive the context
    Pool pool;
    KeyCache keys;
    LogThrottle refusals;                  // "api key refused"
    LogThrottle unanswered;                // "api health: the store does not answer"
    std::unique_ptr<IngestBatcher> ingest; // POST /events' group commit

    std::string address; // host:port it listens on, once bound

    ApiContext(ApiOptions o, const Clock& c);
    // Where people reach this API: --public-url, or http:// and the address.
    std::string publicUrl() const { return opt.publicUrl.empty() ? "http://" + address : opt.publicUrl; }
    ~ApiContext();
};

} // namespace api
} // namespace webhookd

#pragma once

// API keys on requests: the bearer token, the cache of keys that
// authenticated lately, and the route's scope.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "model/api_key.h"

namespace webhookd::api {

struct Call;

// Keys that authenticated in the last second, by the SHA-256 of their
// token: a producer's every request would otherwise read api_keys and hash
// again. A key revoked through this API leaves at once; one revoked with
// webhookctl (another process) within a second. Any thread.
class KeyCache {
public:
    static constexpr int64_t kFreshMs = 1000;

    std::optional<ApiKey> find(const std::string& digest, int64_t now);
    void put(const std::string& digest, const ApiKey& key, int64_t now);
    void forget(const std::string& id); // a key's id
    void clear();

private:
    std::mutex mutex_;
    std::map<std::string, std::pair<ApiKey, int64_t>> keys_;
};

// The key the request's "Authorization: Bearer …" names, when it grants
// `scope` ("*": any valid key; a portal session passes, and the operation
// decides what it may do). Throws Problem 401 without a valid key
// (refusals are logged, at most one line a second), 403 when the key lacks
// the scope, and the store's errors as problems.
ApiKey authenticate(Call& c, std::string_view scope);

} // namespace webhookd::api

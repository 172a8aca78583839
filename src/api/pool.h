#pragma once

// Connections for the API's request threads: one per thread at a time,
// opened when first needed, kept for the next request.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "storage/database.h"

namespace webhookd::api {

class Pool {
public:
    Pool(std::string locator, OpenOptions open);

    // A connection on loan; it goes back to the pool when the lease ends.
    // The pool must outlive its leases.
    struct Lease {
        Pool* pool;
        std::unique_ptr<Database> db;
        Lease(Pool* p, std::unique_ptr<Database> d);
        Lease(Lease&&) = default;
        ~Lease();
    };

    // A free connection, or a new one (the store's errors as they come).
    // Any thread.
    Result<Lease> acquire();

private:
    std::string locator_;
    OpenOptions open_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Database>> free_;
};

} // namespace webhookd::api

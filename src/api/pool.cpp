#include "api/pool.h"

namespace webhookd::api {

Pool::Pool(std::string locator, OpenOptions open)
    : locator_(std::move(locator)),
      open_(open)
{ }

Pool::Lease::Lease(Pool* p, std::unique_ptr<Database> d)
    : pool(p),
      db(std::move(d))
{ }

Pool::Lease::~Lease()
{
    if (db) {
        std::lock_guard lock(pool->mutex_);
        pool->free_.push_back(std::move(db));
    }
}

Result<Pool::Lease> Pool::acquire()
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

} // namespace webhookd::api

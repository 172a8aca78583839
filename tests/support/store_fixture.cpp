#include "support/store_fixture.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <doctest/doctest.h>

#include "storage/events.h"
#include "storage/targets.h"

namespace webhookd::test {

Database openNew(const std::string& path)
{
    OpenOptions options;
    options.create = true;
    auto db = Database::open(path, options);
    REQUIRE_MESSAGE(db, "could not create the database: " << db.error().toString());
    return std::move(*db);
}

TargetSpec filteredBy(std::vector<std::string> filters, bool enabled)
{
    TargetSpec spec;
    spec.eventFilters = std::move(filters);
    spec.enabled = enabled;
    return spec;
}

StoreFixture::StoreFixture(StoreOptions options)
{
    if (options.rawForeignKeys)
        raw.exec("PRAGMA foreign_keys = ON");
}

Target StoreFixture::addTarget(const std::string& id, TargetSpec spec)
{
    if (!spec.url)
        spec.url = "http://127.0.0.1:9/" + id;
    auto t = webhookd::addTarget(db, id, spec, clock);
    REQUIRE_MESSAGE(t, t.error().toString());
    return *t;
}

SendResult StoreFixture::send(const std::string& type, std::vector<std::string> targets, int priority)
{
    EventInput e;
    e.type = type;
    e.payload = R"({"n": 1})";
    e.targets = std::move(targets);
    e.priority = priority;
    auto r = sendEvent(db, e, clock);
    REQUIRE_MESSAGE(r, r.error().toString());
    return *r;
}

int64_t StoreFixture::sendTo(const std::string& target, int priority)
{
    EventInput e;
    e.type = "thing.happened";
    e.priority = priority;
    e.targets = {target};
    auto r = sendEvent(db, e, clock);
    REQUIRE_MESSAGE(r, r.error().toString());
    return r->deliveryIds.at(0);
}

int64_t StoreFixture::count(const std::string& query) { return raw.execAndGet(query).getInt64(); }

int64_t StoreFixture::rows(const std::string& table) { return count("SELECT count(*) FROM " + table); }

std::string StoreFixture::text(const std::string& query) { return raw.execAndGet(query).getString(); }

std::string StoreFixture::status(int64_t deliveryId)
{
    SQLite::Statement q(raw, "SELECT status FROM deliveries WHERE id = ?");
    q.bind(1, deliveryId);
    REQUIRE(q.executeStep());
    return q.getColumn(0).getString();
}

void StoreFixture::setStatus(int64_t deliveryId, const std::string& status)
{
    raw.exec("UPDATE deliveries SET status = '" + status + "' WHERE id = " + std::to_string(deliveryId));
}

void StoreFixture::deadLetter(int64_t deliveryId, const std::string& reason, int attempts)
{
    const std::string id = std::to_string(deliveryId);
    const std::string now = std::to_string(clock.nowMs());
    SQLite::Transaction tx(raw);
    raw.exec("UPDATE deliveries SET status = 'dead_letter', attempt_count = " + std::to_string(attempts) +
             ", completed_at = " + now + ", updated_at = " + now + " WHERE id = " + id);
    for (int n = 1; n <= attempts; ++n)
        raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
                 " VALUES (" +
                 id + ", " + std::to_string(n) + ", " + now + ", 10, 500)");
    SQLite::Statement dl(raw, "INSERT INTO dead_letters (delivery_id, reason, moved_at) VALUES (?, ?, ?)");
    dl.bind(1, deliveryId);
    dl.bind(2, reason);
    dl.bind(3, clock.nowMs());
    dl.exec();
    tx.commit();
}

} // namespace webhookd::test

#include "support/store_fixture.h"

#include "storage/events.h"
#include "storage/sql/driver.h"
#include "storage/targets.h"

namespace webhookd::test {

std::string newLocator(const TempDir& dir, const std::string& name)
{
    return postgresBackend() ? freshPostgresDatabase() : dir.file(name);
}

Database openNew(const std::string& locator, OpenOptions options)
{
    options.create = true;
    auto db = Database::open(locator, options);
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

namespace {

OpenOptions fixtureOpen(const StoreOptions& options, FaultyConnection*& faults)
{
    OpenOptions open;
    if (options.faults)
        open.wrapConnection = [&faults](sql::Connection& real) {
            auto wrapper = std::make_unique<FaultyConnection>(real);
            faults = wrapper.get();
            return std::unique_ptr<sql::Connection>(std::move(wrapper));
        };
    return open;
}

} // namespace

StoreFixture::StoreFixture(StoreOptions options)
    : db(openNew(locator, fixtureOpen(options, faults))),
      raw(locator)
{
    if (options.rawForeignKeys && !raw.postgres())
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

int64_t StoreFixture::count(const std::string& query) { return raw.int64(query); }

int64_t StoreFixture::rows(const std::string& table) { return count("SELECT count(*) FROM " + table); }

std::string StoreFixture::text(const std::string& query) { return raw.text(query); }

std::string StoreFixture::status(int64_t deliveryId)
{
    auto found = raw.rows("SELECT status FROM deliveries WHERE id = " + std::to_string(deliveryId));
    REQUIRE_MESSAGE(found.size() == 1, "no delivery " << deliveryId);
    return found[0][0];
}

void StoreFixture::setStatus(int64_t deliveryId, const std::string& status)
{
    raw.exec("UPDATE deliveries SET status = " + quoted(status) + " WHERE id = " + std::to_string(deliveryId));
}

void StoreFixture::deadLetter(int64_t deliveryId, const std::string& reason, int attempts)
{
    const std::string id = std::to_string(deliveryId);
    const std::string now = std::to_string(clock.nowMs());
    std::string script =
        "BEGIN; UPDATE deliveries SET status = 'dead_letter', attempt_count = " + std::to_string(attempts) +
        ", completed_at = " + now + ", updated_at = " + now + " WHERE id = " + id + ";";
    for (int n = 1; n <= attempts; ++n)
        script += " INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" + id +
            ", " + std::to_string(n) + ", " + now + ", 10, 500);";
    script += " INSERT INTO dead_letters (delivery_id, reason, moved_at) VALUES (" + id + ", " + quoted(reason) + ", " +
        now + "); COMMIT";
    raw.exec(script);
}

std::string quoted(const std::string& text)
{
    std::string out = "'";
    for (char c : text) {
        out += c;
        if (c == '\'')
            out += '\'';
    }
    return out + "'";
}

} // namespace webhookd::test

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "core/clock.h"
#include "storage/database.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/stats.h"
#include "storage/targets.h"
#include "support/temp_dir.h"

using namespace webhookd;

namespace {

Database openNew(const std::string& path)
{
    OpenOptions options;
    options.create = true;
    auto db = Database::open(path, options);
    if (!db)
        FAIL("could not create the database: " << db.error().toString());
    return std::move(*db);
}

// A fresh database, a fake clock, and a second, plain connection to the same
// file for looking at (and tampering with) rows behind the library's back.
struct Fixture {
    test::TempDir dir;
    std::string path = dir.file("webhooks.db");
    FakeClock clock;
    Database db = openNew(path);
    SQLite::Database raw{path, SQLite::OPEN_READWRITE, 5000};

    int64_t count(const std::string& query) { return raw.execAndGet(query).getInt64(); }
    int64_t rows(const std::string& table) { return count("SELECT count(*) FROM " + table); }
    std::string text(const std::string& query) { return raw.execAndGet(query).getString(); }

    Target addTarget(const std::string& id, std::vector<std::string> filters = {}, bool enabled = true)
    {
        TargetSpec spec;
        spec.url = "http://127.0.0.1:9/" + id;
        spec.eventFilters = std::move(filters);
        spec.enabled = enabled;
        auto t = webhookd::addTarget(db, id, spec, clock);
        REQUIRE_MESSAGE(t, t.error().toString());
        return *t;
    }

    SendResult send(const std::string& type, std::vector<std::string> targets = {}, int priority = 0)
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

    // What the worker does when it gives up, written directly in SQL.
    void deadLetter(int64_t deliveryId, const std::string& reason, int attempts = 3)
    {
        const std::string id = std::to_string(deliveryId);
        const std::string now = std::to_string(clock.nowMs());
        SQLite::Transaction tx(raw);
        raw.exec("UPDATE deliveries SET status = 'dead_letter', attempt_count = " + std::to_string(attempts) +
                 ", completed_at = " + now + ", updated_at = " + now + " WHERE id = " + id);
        for (int n = 1; n <= attempts; ++n)
            raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code)"
                     " VALUES (" + id + ", " + std::to_string(n) + ", " + now + ", 10, 500)");
        SQLite::Statement dl(raw, "INSERT INTO dead_letters (delivery_id, reason, moved_at) VALUES (?, ?, ?)");
        dl.bind(1, deliveryId);
        dl.bind(2, reason);
        dl.bind(3, clock.nowMs());
        dl.exec();
        tx.commit();
    }

    void setStatus(int64_t deliveryId, const std::string& status)
    {
        raw.exec("UPDATE deliveries SET status = '" + status + "' WHERE id = " + std::to_string(deliveryId));
    }

    std::string status(int64_t deliveryId)
    {
        return text("SELECT status FROM deliveries WHERE id = " + std::to_string(deliveryId));
    }
};

std::vector<int64_t> ids(const std::vector<Delivery>& ds)
{
    std::vector<int64_t> out;
    for (const auto& d : ds)
        out.push_back(d.id);
    return out;
}

} // namespace

// ---------------------------------------------------------------------------

TEST_CASE("storage: opening a missing file without create is NotFound and creates nothing")
{
    test::TempDir dir;
    const std::string path = dir.file("missing.db");
    auto db = Database::open(path);
    REQUIRE_FALSE(db);
    CHECK(db.error().is(Error::Kind::NotFound));
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("storage: create makes a private WAL database with foreign keys on")
{
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    Database db = openNew(path);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(db.sql().execAndGet("PRAGMA journal_mode").getString() == "wal");
    CHECK(db.sql().execAndGet("PRAGMA foreign_keys").getInt() == 1);
    CHECK(db.schemaVersion() == Database::latestSchemaVersion());
    CHECK(Database::latestSchemaVersion() >= 1);
    CHECK_FALSE(db.readOnly());
    CHECK(db.path() == path);
}

TEST_CASE("storage: re-opening a database is fine and migrating again applies nothing")
{
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    {
        Database db = openNew(path);
        auto applied = db.migrate();
        REQUIRE(applied);
        CHECK(*applied == 0);
    }
    auto again = Database::open(path);
    REQUIRE(again);
    CHECK(again->schemaVersion() == Database::latestSchemaVersion());
    CHECK(again->migrate().value() == 0);
    SUBCASE("without migrating at open, migrate() applies every migration once")
    {
        const std::string fresh = dir.file("fresh.db");
        OpenOptions options;
        options.create = true;
        options.migrate = false;
        auto db = Database::open(fresh, options);
        REQUIRE(db);
        CHECK(db->schemaVersion() == 0);
        CHECK(db->migrate().value() == Database::latestSchemaVersion());
        CHECK(db->schemaVersion() == Database::latestSchemaVersion());
        CHECK(db->migrate().value() == 0);
    }
}

TEST_CASE("storage: a file that is not a webhookd database is Invalid")
{
    test::TempDir dir;
    SUBCASE("not SQLite at all")
    {
        const std::string path = dir.file("notes.txt");
        std::ofstream(path) << std::string(4096, 'x');
        auto db = Database::open(path);
        REQUIRE_FALSE(db);
        CHECK(db.error().is(Error::Kind::Invalid));
    }
    SUBCASE("another application's SQLite database")
    {
        const std::string path = dir.file("other.db");
        {
            SQLite::Database other(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
            other.exec("CREATE TABLE things (x INTEGER)");
        }
        auto db = Database::open(path);
        REQUIRE_FALSE(db);
        CHECK(db.error().is(Error::Kind::Invalid));
    }
    SUBCASE("a folder")
    {
        auto db = Database::open(dir.path().string());
        REQUIRE_FALSE(db);
        CHECK(db.error().is(Error::Kind::Invalid));
    }
}

TEST_CASE("storage: a database from a newer webhookd is Invalid")
{
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    {
        Database db = openNew(path);
        db.sql().exec("PRAGMA user_version = " + std::to_string(Database::latestSchemaVersion() + 1));
    }
    auto db = Database::open(path);
    REQUIRE_FALSE(db);
    CHECK(db.error().is(Error::Kind::Invalid));
    CHECK(db.error().message().find("newer") != std::string::npos);
}

TEST_CASE("storage: a file the process may not write opens read-only")
{
    // Tests usually run as root here, and root may write any file regardless
    // of its mode, so there is no way to make the file unwritable: skip.
    if (::geteuid() == 0) {
        MESSAGE("running as root: a chmod 0400 file is still writable, so this case is skipped");
        return;
    }
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    { Database db = openNew(path); }
    REQUIRE(::chmod(path.c_str(), 0400) == 0);
    auto db = Database::open(path);
    REQUIRE(db);
    CHECK(db->readOnly());
    FakeClock clock;
    CHECK(listTargets(*db));
    TargetSpec spec;
    spec.url = "http://x/";
    auto t = addTarget(*db, "a", spec, clock);
    REQUIRE_FALSE(t);
    CHECK(t.error().is(Error::Kind::ReadOnly));
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: adding a target stores it with a generated whsec_ secret")
{
    Fixture f;
    TargetSpec spec;
    spec.url = "https://example.com/hook";
    spec.name = "Example";
    spec.eventFilters = std::vector<std::string>{"cost.*"};
    spec.headers = HeaderList{{"X-Api-Key", "k"}};
    spec.metadata = std::map<std::string, std::string>{{"team", "billing"}};
    auto t = addTarget(f.db, "example", spec, f.clock);
    REQUIRE(t);
    CHECK(t->secret.rfind("whsec_", 0) == 0);
    CHECK(t->secret.size() == 50);
    auto stored = getTarget(f.db, "example");
    REQUIRE(stored);
    CHECK(stored->secret == t->secret);
    CHECK(stored->url == "https://example.com/hook");
    CHECK(stored->name == "Example");
    CHECK(stored->eventFilters == std::vector<std::string>{"cost.*"});
    CHECK(stored->headers == HeaderList{{"X-Api-Key", "k"}});
    CHECK(stored->metadata.at("team") == "billing");
    CHECK(stored->enabled);
    CHECK(stored->createdAt == f.clock.nowMs());
    CHECK(stored->retry.maxAttempts == 5);
    CHECK_FALSE(stored->rateLimitEnabled);
    SUBCASE("a given secret is kept")
    {
        spec.secret = "my-raw-secret";
        auto other = addTarget(f.db, "other", spec, f.clock);
        REQUIRE(other);
        CHECK(getTarget(f.db, "other")->secret == "my-raw-secret");
    }
}

TEST_CASE("storage: a duplicate target id is a Conflict")
{
    Fixture f;
    f.addTarget("a");
    TargetSpec spec;
    spec.url = "http://other/";
    auto t = addTarget(f.db, "a", spec, f.clock);
    REQUIRE_FALSE(t);
    CHECK(t.error().is(Error::Kind::Conflict));
    CHECK(f.rows("targets") == 1);
    CHECK(f.text("SELECT url FROM targets") == "http://127.0.0.1:9/a");
}

TEST_CASE("storage: a target breaking a rule is Invalid and nothing is stored")
{
    Fixture f;
    TargetSpec spec;
    spec.url = "http://example.com/";
    std::string id = "good";
    SUBCASE("no url") { spec.url.reset(); }
    SUBCASE("bad url") { spec.url = "ftp://example.com/"; }
    SUBCASE("uppercase scheme") { spec.url = "HTTP://example.com/"; }
    SUBCASE("reserved header") { spec.headers = HeaderList{{"Webhook-Signature", "x"}}; }
    SUBCASE("header with CRLF") { spec.headers = HeaderList{{"X-A", "a\r\nb"}}; }
    SUBCASE("bad pattern") { spec.eventFilters = std::vector<std::string>{"cost alert"}; }
    SUBCASE("bad id") { id = "has space"; }
    SUBCASE("bad whsec_ secret") { spec.secret = "whsec_***"; }
    SUBCASE("max delay below initial delay")
    {
        spec.initialDelayMs = 5000;
        spec.maxDelayMs = 1000;
    }
    auto t = addTarget(f.db, id, spec, f.clock);
    REQUIRE_FALSE(t);
    CHECK(t.error().is(Error::Kind::Invalid));
    CHECK(f.rows("targets") == 0);
}

TEST_CASE("storage: updating a target changes only the given fields")
{
    Fixture f;
    TargetSpec spec;
    spec.url = "http://example.com/a";
    spec.name = "A";
    spec.eventFilters = std::vector<std::string>{"cost.*"};
    spec.headers = HeaderList{{"X-A", "1"}};
    spec.maxAttempts = 7;
    auto before = addTarget(f.db, "a", spec, f.clock);
    REQUIRE(before);
    f.clock.advance(5000);

    TargetSpec change;
    change.name = "Renamed";
    change.maxDelayMs = 120'000;
    auto after = updateTarget(f.db, "a", change, f.clock);
    REQUIRE(after);
    auto stored = getTarget(f.db, "a");
    REQUIRE(stored);
    CHECK(stored->name == "Renamed");
    CHECK(stored->retry.maxDelayMs == 120'000);
    CHECK(stored->url == before->url);
    CHECK(stored->secret == before->secret);
    CHECK(stored->eventFilters == before->eventFilters);
    CHECK(stored->headers == before->headers);
    CHECK(stored->retry.maxAttempts == 7);
    CHECK(stored->retry.initialDelayMs == before->retry.initialDelayMs);
    CHECK(stored->createdAt == before->createdAt);
    CHECK(stored->updatedAt == before->updatedAt + 5000);

    SUBCASE("an invalid update changes nothing")
    {
        TargetSpec bad;
        bad.name = "Changed";
        bad.url = "not a url";
        auto r = updateTarget(f.db, "a", bad, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(getTarget(f.db, "a")->name == "Renamed");
    }
}

TEST_CASE("storage: operations on an unknown target are NotFound")
{
    Fixture f;
    f.addTarget("a");
    TargetSpec spec;
    spec.name = "x";
    CHECK(updateTarget(f.db, "b", spec, f.clock).error().is(Error::Kind::NotFound));
    CHECK(getTarget(f.db, "b").error().is(Error::Kind::NotFound));
    CHECK(setTargetEnabled(f.db, "b", false, f.clock).error().is(Error::Kind::NotFound));
    CHECK(removeTarget(f.db, "b").error().is(Error::Kind::NotFound));
    CHECK(rotateSecret(f.db, "b", std::nullopt, 0, f.clock).error().is(Error::Kind::NotFound));
    CHECK(f.rows("targets") == 1);
}

TEST_CASE("storage: targets can be disabled and enabled again")
{
    Fixture f;
    f.addTarget("a");
    auto off = setTargetEnabled(f.db, "a", false, f.clock);
    REQUIRE(off);
    CHECK_FALSE(off->enabled);
    CHECK(f.count("SELECT enabled FROM targets WHERE id = 'a'") == 0);
    auto on = setTargetEnabled(f.db, "a", true, f.clock);
    REQUIRE(on);
    CHECK(on->enabled);
    CHECK(f.count("SELECT enabled FROM targets WHERE id = 'a'") == 1);
    auto listed = listTargets(f.db);
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    CHECK(listed->front().enabled);
}

TEST_CASE("storage: removing a target removes its deliveries, their attempts, and events left without deliveries")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b", {"shared"});
    const auto shared = f.send("shared");     // to a and b
    const auto onlyA = f.send("only.a");      // to a
    const auto onlyB = f.send("x", {"b"});    // to b
    REQUIRE(shared.deliveryIds.size() == 2);
    REQUIRE(onlyA.deliveryIds.size() == 1);
    // An event that never had a delivery is not an orphan of this removal.
    f.raw.exec("INSERT INTO events (uid, type, payload, created_at) VALUES ('msg_KEEP', 't', '{}', 0)");
    f.deadLetter(onlyA.deliveryIds[0], "HTTP 410", 2);
    REQUIRE(f.rows("attempts") == 2);

    auto removed = removeTarget(f.db, "a");
    REQUIRE(removed);
    CHECK(*removed == 2);
    CHECK(f.count("SELECT count(*) FROM targets WHERE id = 'a'") == 0);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a'") == 0);
    CHECK(f.rows("attempts") == 0);
    CHECK(f.rows("dead_letters") == 0);
    CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(shared.eventId)) == 1);
    CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(onlyB.eventId)) == 1);
    CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(onlyA.eventId)) == 0);
    CHECK(f.count("SELECT count(*) FROM events WHERE uid = 'msg_KEEP'") == 1);
    CHECK(f.rows("deliveries") == 2);
    CHECK(f.rows("targets") == 1);
}

TEST_CASE("storage: a rotated secret signs beside the old one until the window ends")
{
    Fixture f;
    const Target before = f.addTarget("a");
    const int64_t hour = 3'600'000;
    auto secret = rotateSecret(f.db, "a", std::nullopt, hour, f.clock);
    REQUIRE(secret);
    CHECK(secret->rfind("whsec_", 0) == 0);
    CHECK(*secret != before.secret);
    auto t = getTarget(f.db, "a");
    REQUIRE(t);
    CHECK(t->secret == *secret);
    CHECK(signingSecrets(*t, f.clock.nowMs()) == std::vector<std::string>{*secret, before.secret});
    f.clock.advance(hour - 1);
    CHECK(signingSecrets(*t, f.clock.nowMs()).size() == 2);
    f.clock.advance(1);
    CHECK(signingSecrets(*t, f.clock.nowMs()) == std::vector<std::string>{*secret});

    SUBCASE("without an overlap the old secret stops at once")
    {
        auto next = rotateSecret(f.db, "a", std::string("raw-next"), 0, f.clock);
        REQUIRE(next);
        CHECK(*next == "raw-next");
        CHECK(signingSecrets(*getTarget(f.db, "a"), f.clock.nowMs()) == std::vector<std::string>{"raw-next"});
    }
    SUBCASE("a bad or unchanged secret is refused")
    {
        CHECK(rotateSecret(f.db, "a", std::string("whsec_!!"), hour, f.clock).error().is(Error::Kind::Invalid));
        CHECK(rotateSecret(f.db, "a", *secret, hour, f.clock).error().is(Error::Kind::Invalid));
        CHECK(getTarget(f.db, "a")->secret == *secret);
    }
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: an event fans out to the enabled targets whose filters match")
{
    Fixture f;
    f.addTarget("all");
    f.addTarget("costs", {"cost.*"});
    f.addTarget("other", {"optimization.*"});
    f.addTarget("off", {}, false);
    f.addTarget("exact", {"cost.alert"});
    auto r = f.send("cost.alert", {}, 7);
    std::vector<std::string> targets = r.targetIds;
    std::sort(targets.begin(), targets.end());
    CHECK(targets == std::vector<std::string>{"all", "costs", "exact"});
    CHECK(r.deliveryIds.size() == 3);
    CHECK_FALSE(r.duplicate);
    CHECK(r.uid.rfind("msg_", 0) == 0);
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 3);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'pending' AND priority = 7"
                  " AND next_attempt_at = " + std::to_string(f.clock.nowMs())) == 3);
    CHECK(f.text("SELECT payload FROM events") == R"({"n": 1})");
    CHECK(f.text("SELECT uid FROM events") == r.uid);
}

TEST_CASE("storage: explicit targets override the filters")
{
    Fixture f;
    f.addTarget("a", {"other.*"});
    f.addTarget("b");
    auto r = f.send("cost.alert", {"a"});
    CHECK(r.targetIds == std::vector<std::string>{"a"});
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'a'") == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE target_id = 'b'") == 0);
    SUBCASE("an unknown explicit target is NotFound and nothing is written")
    {
        EventInput e;
        e.type = "cost.alert";
        e.targets = {"b", "nope"};
        auto bad = sendEvent(f.db, e, f.clock);
        REQUIRE_FALSE(bad);
        CHECK(bad.error().is(Error::Kind::NotFound));
        CHECK(bad.error().message().find("nope") != std::string::npos);
        CHECK(f.rows("events") == 1);
        CHECK(f.rows("deliveries") == 1);
    }
}

TEST_CASE("storage: an event matching no target is stored with no deliveries")
{
    Fixture f;
    f.addTarget("a", {"cost.*"});
    auto r = f.send("optimization.done");
    CHECK(r.deliveryIds.empty());
    CHECK(r.eventId > 0);
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 0);
}

TEST_CASE("storage: a repeated idempotency key returns the original event")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b");
    EventInput e;
    e.type = "cost.alert";
    e.idempotencyKey = "order-42";
    auto first = sendEvent(f.db, e, f.clock);
    REQUIRE(first);
    CHECK_FALSE(first->duplicate);
    f.clock.advance(1000);
    e.payload = R"({"different": true})";
    auto second = sendEvent(f.db, e, f.clock);
    REQUIRE(second);
    CHECK(second->duplicate);
    CHECK(second->eventId == first->eventId);
    CHECK(second->uid == first->uid);
    CHECK(second->deliveryIds == first->deliveryIds);
    CHECK(second->targetIds == first->targetIds);
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 2);
    CHECK(f.text("SELECT payload FROM events") == "{}");
}

TEST_CASE("storage: an invalid event is refused and nothing is written")
{
    Fixture f;
    f.addTarget("a");
    EventInput e;
    e.type = "cost.alert";
    SUBCASE("type") { e.type = "cost alert"; }
    SUBCASE("empty type") { e.type = ""; }
    SUBCASE("payload") { e.payload = "{nope"; }
    SUBCASE("priority too high") { e.priority = kMaxPriority + 1; }
    SUBCASE("priority too low") { e.priority = kMinPriority - 1; }
    SUBCASE("oversize payload")
    {
        e.payload = "\"" + std::string(100, 'x') + "\"";
        Limits limits;
        limits.maxPayloadBytes = 50;
        auto r = sendEvent(f.db, e, f.clock, limits);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(f.rows("events") == 0);
        return;
    }
    auto r = sendEvent(f.db, e, f.clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Error::Kind::Invalid));
    CHECK(f.rows("events") == 0);
    CHECK(f.rows("deliveries") == 0);
}

TEST_CASE("storage: the priority limits themselves are accepted")
{
    Fixture f;
    f.addTarget("a");
    f.send("a", {}, kMaxPriority);
    f.send("b", {}, kMinPriority);
    CHECK(f.count("SELECT max(priority) FROM deliveries") == kMaxPriority);
    CHECK(f.count("SELECT min(priority) FROM deliveries") == kMinPriority);
}

TEST_CASE("storage: a batch goes in whole or not at all")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b", {"cost.*"});
    std::vector<EventInput> batch(3);
    batch[0].type = "cost.alert";
    batch[1].type = "other";
    batch[2].type = "cost.report";
    SUBCASE("a good batch")
    {
        auto r = sendBatch(f.db, batch, f.clock);
        REQUIRE(r);
        REQUIRE(r->size() == 3);
        CHECK((*r)[0].deliveryIds.size() == 2);
        CHECK((*r)[1].deliveryIds.size() == 1);
        CHECK((*r)[2].deliveryIds.size() == 2);
        CHECK(f.rows("events") == 3);
        CHECK(f.rows("deliveries") == 5);
    }
    SUBCASE("an invalid third event")
    {
        batch[2].payload = "[1,";
        auto r = sendBatch(f.db, batch, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(r.error().message().find("event 3") != std::string::npos);
        CHECK(f.rows("events") == 0);
        CHECK(f.rows("deliveries") == 0);
    }
    SUBCASE("a third event naming an unknown target, found only while writing")
    {
        batch[2].targets = {"ghost"};
        auto r = sendBatch(f.db, batch, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::NotFound));
        CHECK(r.error().message().find("event 3") != std::string::npos);
        CHECK(f.rows("events") == 0);
        CHECK(f.rows("deliveries") == 0);
    }
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: getDelivery returns the delivery with its attempts, or NotFound")
{
    Fixture f;
    f.addTarget("a");
    auto r = f.send("cost.alert");
    REQUIRE(r.deliveryIds.size() == 1);
    const int64_t id = r.deliveryIds[0];
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type,"
               " error_message, retry_after_ms) VALUES (" + std::to_string(id) + ", 2, 20, 7, NULL, 'timeout',"
               " 'timed out', NULL), (" + std::to_string(id) + ", 1, 10, 5, 503, NULL, NULL, 30000)");
    auto d = getDelivery(f.db, id);
    REQUIRE(d);
    CHECK(d->id == id);
    CHECK(d->eventUid == r.uid);
    CHECK(d->eventId == r.eventId);
    CHECK(d->type == "cost.alert");
    CHECK(d->targetId == "a");
    CHECK(d->status == "pending");
    CHECK_FALSE(d->deadLetterReason);
    REQUIRE(d->attempts.size() == 2);
    CHECK(d->attempts[0].number == 1);
    CHECK(d->attempts[0].statusCode == 503);
    CHECK(d->attempts[0].retryAfterMs == 30000);
    CHECK(d->attempts[1].number == 2);
    CHECK_FALSE(d->attempts[1].statusCode);
    CHECK(d->attempts[1].errorType == "timeout");

    auto missing = getDelivery(f.db, id + 100);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().is(Error::Kind::NotFound));
}

TEST_CASE("storage: listDeliveries filters by status, target, type and time, newest first")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b");
    const int64_t t0 = f.clock.nowMs();
    auto e1 = f.send("cost.alert");        // a, b at t0
    f.clock.advance(1000);
    auto e2 = f.send("optimization.done"); // a, b at t0 + 1000
    f.clock.advance(1000);
    auto e3 = f.send("cost.alert", {"b"}); // b at t0 + 2000
    f.setStatus(e1.deliveryIds[0], "delivered");
    f.setStatus(e2.deliveryIds[1], "failed");

    DeliveryFilter all;
    auto everything = listDeliveries(f.db, all);
    REQUIRE(everything);
    const std::vector<int64_t> allIds{e3.deliveryIds[0], e2.deliveryIds[1], e2.deliveryIds[0], e1.deliveryIds[1],
                                      e1.deliveryIds[0]};
    CHECK(ids(*everything) == allIds);

    SUBCASE("status")
    {
        DeliveryFilter fl;
        fl.status = "delivered";
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{e1.deliveryIds[0]});
        fl.status = "pending";
        CHECK(listDeliveries(f.db, fl).value().size() == 3);
        fl.status = "dead_letter";
        CHECK(listDeliveries(f.db, fl).value().empty());
    }
    SUBCASE("target")
    {
        DeliveryFilter fl;
        fl.targetId = "a";
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{e2.deliveryIds[0], e1.deliveryIds[0]});
    }
    SUBCASE("type")
    {
        DeliveryFilter fl;
        fl.type = "optimization.done";
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{e2.deliveryIds[1], e2.deliveryIds[0]});
    }
    SUBCASE("since")
    {
        DeliveryFilter fl;
        fl.createdSince = t0 + 1000;
        CHECK(listDeliveries(f.db, fl).value().size() == 3);
        fl.createdSince = t0 + 2001;
        CHECK(listDeliveries(f.db, fl).value().empty());
    }
    SUBCASE("combined")
    {
        DeliveryFilter fl;
        fl.targetId = "b";
        fl.type = "cost.alert";
        fl.status = "pending";
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{e3.deliveryIds[0], e1.deliveryIds[1]});
    }
    SUBCASE("limit")
    {
        DeliveryFilter fl;
        fl.limit = 2;
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{allIds[0], allIds[1]});
        fl.limit = 0;
        CHECK(listDeliveries(f.db, fl).error().is(Error::Kind::Invalid));
    }
    SUBCASE("an unknown status is Invalid")
    {
        DeliveryFilter fl;
        fl.status = "done";
        auto r = listDeliveries(f.db, fl);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
    }
}

TEST_CASE("storage: a dead letter is listed with its reason and can be retried")
{
    Fixture f;
    f.addTarget("a");
    auto e1 = f.send("cost.alert");
    auto e2 = f.send("cost.alert");
    const int64_t id = e1.deliveryIds[0];
    f.deadLetter(id, "HTTP 410 Gone", 4);

    auto dead = listDeadLetters(f.db, {});
    REQUIRE(dead);
    REQUIRE(dead->size() == 1);
    CHECK(dead->front().id == id);
    CHECK(dead->front().deadLetterReason == "HTTP 410 Gone");
    CHECK(getDelivery(f.db, id)->deadLetterReason == "HTTP 410 Gone");

    f.clock.advance(60'000);
    auto moved = retryDeadLetters(f.db, {id}, f.clock);
    REQUIRE(moved);
    CHECK(*moved == 1);
    CHECK(f.status(id) == "pending");
    CHECK(f.count("SELECT retry_base FROM deliveries WHERE id = " + std::to_string(id)) == 4);
    CHECK(f.count("SELECT attempt_count FROM deliveries WHERE id = " + std::to_string(id)) == 4);
    CHECK(f.count("SELECT next_attempt_at FROM deliveries WHERE id = " + std::to_string(id)) == f.clock.nowMs());
    CHECK(f.count("SELECT completed_at IS NULL FROM deliveries WHERE id = " + std::to_string(id)) == 1);
    CHECK(f.count("SELECT retried_at FROM dead_letters WHERE delivery_id = " + std::to_string(id)) ==
          f.clock.nowMs());
    CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id = " + std::to_string(id)) == 4);
    CHECK(listDeadLetters(f.db, {}).value().empty());

    SUBCASE("a retried delivery no longer shows a dead-letter reason")
    {
        CHECK_FALSE(getDelivery(f.db, id)->deadLetterReason);
        auto listed = listDeliveries(f.db, {});
        REQUIRE(listed);
        for (const auto& d : *listed) {
            CAPTURE(d.id);
            CHECK_FALSE(d.deadLetterReason);
        }
    }
    SUBCASE("retrying it again is Invalid: it is no longer a dead letter")
    {
        auto again = retryDeadLetters(f.db, {id}, f.clock);
        REQUIRE_FALSE(again);
        CHECK(again.error().is(Error::Kind::Invalid));
    }
    (void)e2;
}

TEST_CASE("storage: retrying dead letters is all or nothing")
{
    Fixture f;
    f.addTarget("a");
    auto e1 = f.send("cost.alert");
    auto e2 = f.send("cost.alert");
    const int64_t dead = e1.deliveryIds[0];
    const int64_t alive = e2.deliveryIds[0];
    f.deadLetter(dead, "HTTP 404");
    f.clock.advance(1000);
    SUBCASE("a delivery that is not a dead letter")
    {
        auto r = retryDeadLetters(f.db, {dead, alive}, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(r.error().message().find(std::to_string(alive)) != std::string::npos);
    }
    SUBCASE("an unknown delivery")
    {
        auto r = retryDeadLetters(f.db, {dead, 999}, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::NotFound));
    }
    SUBCASE("no ids")
    {
        CHECK(retryDeadLetters(f.db, {}, f.clock).error().is(Error::Kind::Invalid));
    }
    CHECK(f.status(dead) == "dead_letter");
    CHECK(f.status(alive) == "pending");
    CHECK(f.count("SELECT retry_base FROM deliveries WHERE id = " + std::to_string(dead)) == 0);
    CHECK(f.count("SELECT retried_at IS NULL FROM dead_letters") == 1);
    CHECK(listDeadLetters(f.db, {}).value().size() == 1);
}

TEST_CASE("storage: retrying every dead letter of one target leaves the others")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b");
    auto e = f.send("cost.alert");
    f.deadLetter(e.deliveryIds[0], "HTTP 400");
    f.deadLetter(e.deliveryIds[1], "HTTP 400");
    auto moved = retryAllDeadLetters(f.db, std::string(e.targetIds[0]), f.clock);
    REQUIRE(moved);
    CHECK(*moved == 1);
    CHECK(f.status(e.deliveryIds[0]) == "pending");
    CHECK(f.status(e.deliveryIds[1]) == "dead_letter");
    CHECK(retryAllDeadLetters(f.db, std::string("ghost"), f.clock).error().is(Error::Kind::NotFound));
    CHECK(retryAllDeadLetters(f.db, std::nullopt, f.clock).value() == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'dead_letter'") == 0);
}

TEST_CASE("storage: purging dead letters removes those moved before the cutoff")
{
    Fixture f;
    f.addTarget("a");
    auto old = f.send("old");
    auto recent = f.send("recent");
    auto alive = f.send("alive");
    const int64_t t0 = f.clock.nowMs();
    f.deadLetter(old.deliveryIds[0], "HTTP 404", 2);
    f.clock.advance(10'000);
    f.deadLetter(recent.deliveryIds[0], "HTTP 404", 2);

    auto purged = purgeDeadLetters(f.db, t0 + 5000);
    REQUIRE(purged);
    CHECK(*purged == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE id = " + std::to_string(old.deliveryIds[0])) == 0);
    CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(old.eventId)) == 0);
    CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id = " + std::to_string(old.deliveryIds[0])) == 0);
    CHECK(f.count("SELECT count(*) FROM attempts") == 2);
    CHECK(ids(listDeadLetters(f.db, {}).value()) == std::vector<int64_t>{recent.deliveryIds[0]});
    CHECK(f.status(alive.deliveryIds[0]) == "pending");
    CHECK(purgeDeadLetters(f.db, t0 + 5000).value() == 0);
    CHECK(purgeDeadLetters(f.db, f.clock.nowMs() + 1).value() == 1);
    CHECK(f.rows("events") == 1);
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: statistics count deliveries by status, type and target")
{
    Fixture f;
    f.addTarget("a");
    f.addTarget("b", {"cost.*"});
    auto e1 = f.send("cost.alert");        // a, b
    auto e2 = f.send("cost.alert");        // a, b
    auto e3 = f.send("optimization.done"); // a
    auto e4 = f.send("optimization.done"); // a
    f.setStatus(e1.deliveryIds[0], "delivered");
    f.setStatus(e1.deliveryIds[1], "delivered");
    f.setStatus(e2.deliveryIds[0], "delivered");
    f.setStatus(e2.deliveryIds[1], "failed");
    f.setStatus(e3.deliveryIds[0], "rate_limited");
    f.deadLetter(e4.deliveryIds[0], "HTTP 404", 1); // one attempt of 10 ms with a 500
    const std::string d1 = std::to_string(e1.deliveryIds[0]);
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES"
               " (" + d1 + ", 1, 0, 110, 200), (" + d1 + ", 2, 0, 60, 503)");
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type)"
               " VALUES (" + std::to_string(e2.deliveryIds[1]) + ", 1, 0, 30000, NULL, 'timeout')");

    auto s = statistics(f.db, std::nullopt);
    REQUIRE(s);
    CHECK(s->all.total == 6);
    CHECK(s->all.delivered == 3);
    CHECK(s->all.failed == 1);
    CHECK(s->all.deadLetter == 1);
    CHECK(s->all.pending == 1);
    CHECK(s->successRate == doctest::Approx(0.75));
    CHECK(s->averageResponseTimeMs == doctest::Approx((110.0 + 60.0 + 10.0) / 3.0));
    REQUIRE(s->byEventType.size() == 2);
    CHECK(s->byEventType.at("cost.alert").total == 4);
    CHECK(s->byEventType.at("cost.alert").delivered == 3);
    CHECK(s->byEventType.at("cost.alert").failed == 1);
    CHECK(s->byEventType.at("optimization.done").deadLetter == 1);
    CHECK(s->byEventType.at("optimization.done").pending == 1);
    REQUIRE(s->byTarget.size() == 2);
    CHECK(s->byTarget.at("a").total == 4);
    CHECK(s->byTarget.at("a").delivered == 2);
    CHECK(s->byTarget.at("b").total == 2);
    CHECK(s->byTarget.at("b").failed == 1);
}

TEST_CASE("storage: statistics of an empty window are zero, and since limits the window")
{
    Fixture f;
    f.addTarget("a");
    auto empty = statistics(f.db, std::nullopt);
    REQUIRE(empty);
    CHECK(empty->all.total == 0);
    CHECK(empty->successRate == 0.0);
    CHECK(empty->averageResponseTimeMs == 0.0);

    auto old = f.send("old");
    f.setStatus(old.deliveryIds[0], "delivered");
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
               std::to_string(old.deliveryIds[0]) + ", 1, 0, 500, 200)");
    f.clock.advance(60'000);
    const int64_t since = f.clock.nowMs();
    auto fresh = f.send("fresh");
    f.deadLetter(fresh.deliveryIds[0], "HTTP 410", 1); // 10 ms

    auto s = statistics(f.db, since);
    REQUIRE(s);
    CHECK(s->all.total == 1);
    CHECK(s->all.deadLetter == 1);
    CHECK(s->all.delivered == 0);
    CHECK(s->successRate == 0.0);
    CHECK(s->averageResponseTimeMs == doctest::Approx(10.0));
    CHECK(s->byEventType.count("old") == 0);
    auto all = statistics(f.db, std::nullopt);
    REQUIRE(all);
    CHECK(all->all.total == 2);
    CHECK(all->successRate == doctest::Approx(0.5));
    CHECK(all->averageResponseTimeMs == doctest::Approx(255.0));
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: sendInTransaction commits and rolls back with the caller's own writes")
{
    Fixture f;
    f.addTarget("a");
    SQLite::Database app(f.path, SQLite::OPEN_READWRITE, 5000);
    app.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER NOT NULL)");
    EventInput e;
    e.type = "order.created";
    e.payload = R"({"order": 1})";

    SUBCASE("rollback leaves neither")
    {
        {
            SQLite::Transaction tx(app);
            app.exec("INSERT INTO orders (total) VALUES (100)");
            auto r = sendInTransaction(app, e, f.clock);
            REQUIRE(r);
            CHECK(r->deliveryIds.size() == 1);
            // Leaving the scope without commit() rolls back (SQLiteCpp has no rollback() here).
        }
        CHECK(f.rows("orders") == 0);
        CHECK(f.rows("events") == 0);
        CHECK(f.rows("deliveries") == 0);
    }
    SUBCASE("commit keeps both")
    {
        SQLite::Transaction tx(app);
        app.exec("INSERT INTO orders (total) VALUES (100)");
        auto r = sendInTransaction(app, e, f.clock);
        REQUIRE(r);
        tx.commit();
        CHECK(f.rows("orders") == 1);
        CHECK(f.rows("events") == 1);
        CHECK(f.text("SELECT uid FROM events") == r->uid);
        CHECK(f.rows("deliveries") == 1);
        CHECK(getDelivery(f.db, r->deliveryIds[0])->targetId == "a");
    }
    SUBCASE("a failed send leaves the caller's transaction usable")
    {
        SQLite::Transaction tx(app);
        app.exec("INSERT INTO orders (total) VALUES (100)");
        e.targets = {"ghost"};
        auto r = sendInTransaction(app, e, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::NotFound));
        tx.commit();
        CHECK(f.rows("orders") == 1);
        CHECK(f.rows("events") == 0);
    }
    SUBCASE("without an open transaction it is Invalid")
    {
        auto r = sendInTransaction(app, e, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(f.rows("events") == 0);
    }
}

TEST_CASE("storage: sendInTransaction refuses a file webhookd did not create")
{
    test::TempDir dir;
    FakeClock clock;
    SQLite::Database app(dir.file("app.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    app.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY)");
    SQLite::Transaction tx(app);
    EventInput e;
    e.type = "order.created";
    auto r = sendInTransaction(app, e, clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Error::Kind::Invalid));
}

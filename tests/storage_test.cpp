#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "api/problem.h"
#include "core/clock.h"
#include "model/target_rules.h"
#include "records/json.h"
#include "storage/api_keys.h"
#include "storage/database.h"
#include "storage/deliveries.h"
#include "storage/events.h"
#include "storage/postgres/driver.h"
#include "storage/postgres/statements.h"
#include "storage/queue.h"
#include "storage/redrive.h"
#include "storage/retention.h"
#include "storage/settings.h"
#include "storage/sql/bind.h"
#include "storage/sql/connection.h"
#include "storage/sqlite/driver.h"
#include "storage/sqlite/outbox.h"
#include "storage/sqlite/statements.h"
#include "storage/stats.h"
#include "storage/targets.h"
#include "support/filter_table.h"
#include "support/postgres.h"
#include "support/print.h"
#include "support/store_fixture.h"
#include "support/temp_dir.h"

using namespace webhookd;
using test::filteredBy;
using test::openNew;
using test::sqliteOnly;
using test::StoreFixture;

namespace {

// What `dlq purge` does: dead letters moved (completed) before the cutoff.
Result<PurgeResult> purgeDeadLetters(Database& db, int64_t cutoff)
{
    PurgeOptions o;
    o.completedBeforeMs = cutoff;
    o.statuses = PurgeStatuses::DeadLetter;
    return purgeTerminal(db, o);
}

DeadLetterSelection ofTarget(const std::string& target)
{
    DeadLetterSelection sel;
    sel.targetId = target;
    return sel;
}

StatsFilter createdSince(int64_t ms)
{
    StatsFilter f;
    f.createdSince = ms;
    return f;
}

std::vector<int64_t> ids(const std::vector<Delivery>& ds)
{
    std::vector<int64_t> out;
    for (const auto& d : ds)
        out.push_back(d.id);
    return out;
}

// n events with one delivery each to target, all with the given status,
// created now and completed at completedAt (NULL when unset), each with one
// attempt carrying payloadBytes of response excerpt (and as much payload), and
// a dead_letters row for dead letters. One transaction of INSERT … SELECT, so
// large histories are quick to make; the store numbers the rows (a
// PostgreSQL identity does not move past ids given to it). Returns the
// delivery ids, ascending.
std::vector<int64_t> bulk(StoreFixture& f, int n, const std::string& target, const std::string& status,
                          std::optional<int64_t> completedAt, int payloadBytes = 8)
{
    auto& raw = f.raw;
    const std::string eventBase = std::to_string(f.count("SELECT coalesce(max(id), 0) FROM events"));
    const std::string deliveryBase = std::to_string(f.count("SELECT coalesce(max(id), 0) FROM deliveries"));
    const std::string now = std::to_string(f.clock.nowMs());
    const std::string done = completedAt ? std::to_string(*completedAt) : "NULL";
    const std::string pad(static_cast<size_t>(payloadBytes / 2 * 2), '0');
    raw.exec("BEGIN");
    raw.exec("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " + std::to_string(n) +
             ") INSERT INTO events (uid, type, payload, created_at) SELECT 'msg_bulk' || (" + eventBase +
             " + i), 'bulk.event', '{\"pad\":\"" + pad + "\"}', " + now + " FROM c ORDER BY i");
    raw.exec("INSERT INTO deliveries (event_id, target_id, status, attempt_count, next_attempt_at, created_at,"
             " updated_at, completed_at) SELECT id, " +
             test::quoted(target) + ", " + test::quoted(status) + ", 1, " + now + ", " + now + ", " + now + ", " +
             done + " FROM events WHERE id > " + eventBase + " ORDER BY id");
    raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_excerpt)"
             " SELECT id, 1, " +
             now + ", 5, 200, '" + pad + "' FROM deliveries WHERE id > " + deliveryBase + " ORDER BY id");
    if (status == "dead_letter")
        raw.exec("INSERT INTO dead_letters (delivery_id, reason, moved_at) SELECT id, 'HTTP 410', " +
                 (completedAt ? done : now) + " FROM deliveries WHERE id > " + deliveryBase);
    raw.exec("COMMIT");
    std::vector<int64_t> ids;
    for (const auto& row : raw.rows("SELECT id FROM deliveries WHERE id > " + deliveryBase + " ORDER BY id"))
        ids.push_back(std::stoll(row[0]));
    REQUIRE(ids.size() == static_cast<size_t>(n));
    return ids;
}

// Marks a delivery delivered at completedAt after `attempts` attempts.
void markDelivered(StoreFixture& f, int64_t id, int64_t completedAt, int attempts = 1)
{
    const std::string sid = std::to_string(id);
    f.raw.exec("UPDATE deliveries SET status = 'delivered', attempt_count = " + std::to_string(attempts) +
               ", completed_at = " + std::to_string(completedAt) + " WHERE id = " + sid);
    for (int n = 1; n <= attempts; ++n)
        f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" + sid +
                   ", " + std::to_string(n) + ", " + std::to_string(completedAt) + ", 20, " +
                   (n == attempts ? "200" : "503") + ")");
}

std::string column(StoreFixture& f, const std::string& col, int64_t deliveryId)
{
    return f.text("SELECT coalesce(CAST(" + col +
                  " AS TEXT), 'NULL') FROM deliveries WHERE id = " + std::to_string(deliveryId));
}

// Every delivery's id, status, completion and update time: equal snapshots
// mean no delivery changed.
std::vector<std::vector<std::string>> deliveryStates(StoreFixture& f)
{
    return f.raw.rows("SELECT id, status, completed_at, updated_at FROM deliveries ORDER BY id");
}

} // namespace

// ---------------------------------------------------------------------------

// The cases below marked sqliteOnly() check a file (its mode, its PRAGMAs,
// what it holds): a PostgreSQL database is made by its administrator, and
// webhookd only creates its tables in it.
TEST_CASE("storage: opening a missing file without create is NotFound and creates nothing" * sqliteOnly())
{
    test::TempDir dir;
    const std::string path = dir.file("missing.db");
    auto db = Database::open(path);
    REQUIRE_FALSE(db);
    CHECK(db.error().is(Error::Kind::NotFound));
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("storage: create makes a private WAL database with foreign keys on" * sqliteOnly())
{
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    Database db = openNew(path);
    struct stat st { };
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(sqlite::handle(db).execAndGet("PRAGMA journal_mode").getString() == "wal");
    CHECK(sqlite::handle(db).execAndGet("PRAGMA foreign_keys").getInt() == 1);
    CHECK(db.schemaVersion() == Database::latestSchemaVersion());
    CHECK(Database::latestSchemaVersion() >= 1);
    CHECK_FALSE(db.readOnly());
    CHECK(db.path() == path);
}

TEST_CASE("storage: a new database is created with incremental auto-vacuum, and an old one keeps its mode" *
          sqliteOnly())
{
    test::TempDir dir;
    const std::string path = dir.file("webhooks.db");
    {
        Database db = openNew(path);
        CHECK(sqlite::handle(db).execAndGet("PRAGMA auto_vacuum").getInt() == 2); // INCREMENTAL
    }
    {
        // What a database made before auto-vacuum looks like.
        SQLite::Database raw(path, SQLite::OPEN_READWRITE);
        raw.exec("PRAGMA auto_vacuum = NONE");
        raw.exec("VACUUM");
        REQUIRE(raw.execAndGet("PRAGMA auto_vacuum").getInt() == 0);
    }
    auto again = Database::open(path);
    REQUIRE(again);
    CHECK(sqlite::handle(*again).execAndGet("PRAGMA auto_vacuum").getInt() == 0);
    CHECK(again->schemaVersion() == Database::latestSchemaVersion());
}

TEST_CASE("storage: re-opening a database is fine and migrating again applies nothing")
{
    test::TempDir dir;
    const std::string path = test::newLocator(dir);
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
        const std::string fresh = test::newLocator(dir, "fresh.db");
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

TEST_CASE("storage: a file that is not a webhookd database is Invalid" * sqliteOnly())
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
    SUBCASE("a folder")
    {
        auto db = Database::open(dir.path().string());
        REQUIRE_FALSE(db);
        CHECK(db.error().is(Error::Kind::Invalid));
    }
}

TEST_CASE("storage: another application's database is Invalid, and left alone")
{
    test::TempDir dir;
    const std::string locator = test::newLocator(dir, "other.db");
    if (!test::postgresBackend()) // a file for RawSql to open
        SQLite::Database created(locator, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    test::RawSql(locator).exec("CREATE TABLE things (x INTEGER)");
    auto db = Database::open(locator);
    REQUIRE_FALSE(db);
    CHECK(db.error().is(Error::Kind::Invalid));
    CHECK(test::RawSql(locator).rows("SELECT count(*) FROM things") == std::vector<std::vector<std::string>>{{"0"}});
}

TEST_CASE("storage: a database from a newer webhookd is Invalid")
{
    test::TempDir dir;
    const std::string path = test::newLocator(dir);
    {
        Database db = openNew(path);
        const std::string future = std::to_string(Database::latestSchemaVersion() + 1);
        if (Database::isServerLocator(path))
            test::RawSql(path).exec("INSERT INTO webhookd_migrations (version, name, applied_at) VALUES (" + future +
                                    ", 'future', 0)");
        else
            sqlite::handle(db).exec("PRAGMA user_version = " + future);
    }
    auto db = Database::open(path);
    REQUIRE_FALSE(db);
    CHECK(db.error().is(Error::Kind::Invalid));
    CHECK(db.error().message().find("newer") != std::string::npos);
}

// Root may write any file whatever its mode, so as root this case cannot
// make a file unwritable: it is reported as skipped (tests/e2e/cli_test.cpp
// covers a read-only store as root by running webhookctl as nobody). On
// PostgreSQL the database is made read-only instead
// (default_transaction_read_only), which root's tests can do.
TEST_CASE("storage: a store the process may not write opens read-only" *
          doctest::skip(::geteuid() == 0 && !test::postgresBackend()))
{
    test::TempDir dir;
    const std::string path = test::newLocator(dir);
    {
        Database db = openNew(path);
    }
    if (test::postgresBackend()) {
        test::RawSql admin(path);
        admin.exec("ALTER DATABASE " + admin.text("SELECT current_database()") +
                   " SET default_transaction_read_only = on");
    } else {
        REQUIRE(::chmod(path.c_str(), 0400) == 0);
    }
    auto db = Database::open(path);
    REQUIRE(db);
    CHECK(db->readOnly());
    FakeClock clock;
    CHECK(listTargets(*db));
    TargetSpec spec;
    spec.url = "http://x/";
    auto t = addTarget(*db, "a", spec, clock);
    REQUIRE_FALSE(t);
    CHECK_MESSAGE(t.error().is(Error::Kind::ReadOnly), t.error().toString());
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: the store-wide default retry policy is what new targets start from")
{
    StoreFixture f;
    auto initial = getDefaultRetry(f.db);
    REQUIRE(initial);
    CHECK(retryScheduleName(initial->schedule) == "standard-webhooks");
    TargetSpec spec;
    spec.url = "https://example.com/hook";
    REQUIRE(addTarget(f.db, "before", spec, f.clock));

    TargetSpec svix;
    svix.retrySchedule = parseRetrySchedule("svix").value();
    auto set = setDefaultRetry(f.db, svix, f.clock);
    REQUIRE(set);
    CHECK(set->maxAttempts == 8);
    CHECK(getDefaultRetry(f.db)->schedule == set->schedule);

    auto after = addTarget(f.db, "after", spec, f.clock);
    REQUIRE(after);
    CHECK(retryScheduleName(after->retry.schedule) == "svix");
    CHECK(after->retry.maxAttempts == 8);
    // The target's own fields change the default it starts from.
    TargetSpec three = spec;
    three.maxAttempts = 3;
    auto own = addTarget(f.db, "own", three, f.clock);
    REQUIRE(own);
    CHECK(retryScheduleName(own->retry.schedule) == "svix");
    CHECK(own->retry.maxAttempts == 3);
    // Existing targets keep theirs.
    CHECK(retryScheduleName(getTarget(f.db, "before")->retry.schedule) == "standard-webhooks");

    TargetSpec bad;
    bad.maxAttempts = 0;
    auto refused = setDefaultRetry(f.db, bad, f.clock);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().is(Error::Kind::Invalid));
    CHECK(refused.error().message() == "max attempts must be between 1 and 1000");
    CHECK(getDefaultRetry(f.db)->maxAttempts == 8);

    TargetSpec formula;
    formula.retrySchedule = std::vector<int64_t>{};
    auto back = setDefaultRetry(f.db, formula, f.clock);
    REQUIRE(back);
    CHECK(back->schedule.empty());
    CHECK(back->maxAttempts == 5);
    CHECK(retryWindowMs(*getDefaultRetry(f.db)) == 15'000);
}

TEST_CASE("storage: adding a target stores it with a generated whsec_ secret")
{
    StoreFixture f;
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
    CHECK(stored->retry.maxAttempts == 10);
    CHECK(stored->retry.schedule == defaultRetryPolicy().schedule);
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
    StoreFixture f;
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
    StoreFixture f;
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
    StoreFixture f;
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
    CHECK(stored->retry.schedule.empty()); // the formula's own setting chose the formula
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
    StoreFixture f;
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
    StoreFixture f;
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
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b", filteredBy({"shared"}));
    const auto shared = f.send("shared");  // to a and b
    const auto onlyA = f.send("only.a");   // to a
    const auto onlyB = f.send("x", {"b"}); // to b
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
    StoreFixture f;
    const Target before = f.addTarget("a");
    const int64_t hour = 3'600'000;
    auto rotation = rotateSecret(f.db, "a", std::nullopt, hour, f.clock);
    REQUIRE(rotation);
    CHECK(rotation->previousExpiresAt == f.clock.nowMs() + hour);
    const std::optional<std::string> secret = rotation->secret;
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
        CHECK(next->secret == "raw-next");
        CHECK_FALSE(next->previousExpiresAt);
        CHECK(signingSecrets(*getTarget(f.db, "a"), f.clock.nowMs()) == std::vector<std::string>{"raw-next"});
    }
    SUBCASE("a bad or unchanged secret is refused")
    {
        CHECK(rotateSecret(f.db, "a", std::string("whsec_!!"), hour, f.clock).error().is(Error::Kind::Invalid));
        CHECK(rotateSecret(f.db, "a", *secret, hour, f.clock).error().is(Error::Kind::Invalid));
        CHECK(getTarget(f.db, "a")->secret == *secret);
    }
}

TEST_CASE("storage: rotations within each other's windows keep every previous secret signing, up to 10")
{
    StoreFixture f;
    f.addTarget("a", [] {
        TargetSpec s;
        s.secret = "first";
        return s;
    }());
    const int64_t hour = 3'600'000;
    REQUIRE(rotateSecret(f.db, "a", std::string("second"), hour, f.clock));
    f.clock.advance(1000);
    REQUIRE(rotateSecret(f.db, "a", std::string("third"), hour, f.clock));
    auto t = getTarget(f.db, "a");
    REQUIRE(t);
    // Two rotations in a row: the original still signs in its own window.
    CHECK(signingSecrets(*t, f.clock.nowMs()) == std::vector<std::string>{"third", "second", "first"});
    CHECK(*t->previousSecret == "second");
    REQUIRE(t->olderSecrets.size() == 1);
    // "first" was given an hour at the first rotation, not at the second.
    CHECK(t->olderSecrets[0].expiresAt == f.clock.nowMs() - 1000 + hour);
    f.clock.advance(hour - 1000);
    CHECK(signingSecrets(*getTarget(f.db, "a"), f.clock.nowMs()) == std::vector<std::string>{"third", "second"});

    for (int i = 0; i < 12; ++i)
        REQUIRE(rotateSecret(f.db, "a", "s" + std::to_string(i), hour, f.clock));
    t = getTarget(f.db, "a");
    const auto signing = signingSecrets(*t, f.clock.nowMs());
    CHECK(signing.size() == 1 + kMaxPreviousSecrets);
    CHECK(signing.front() == "s11");
    CHECK(signing.back() == "s1");
    // Listings never show them.
    CHECK(targetJson(*t, false).dump().find("s10") == std::string::npos);
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: an event fans out to the enabled targets whose filters match")
{
    StoreFixture f;
    f.addTarget("all");
    f.addTarget("costs", filteredBy({"cost.*"}));
    f.addTarget("other", filteredBy({"optimization.*"}));
    f.addTarget("off", filteredBy({}, false));
    f.addTarget("exact", filteredBy({"cost.alert"}));
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
                  " AND next_attempt_at = " +
                  std::to_string(f.clock.nowMs())) == 3);
    CHECK(f.text("SELECT payload FROM events") == R"({"n": 1})");
    CHECK(f.text("SELECT uid FROM events") == r.uid);
}

TEST_CASE("storage: payload filters decide fan-out as DESIGN's table says, on both backends")
{
    StoreFixture f;
    const auto& table = test::filterTable();
    // One target per row, all of one kind of event; a row's payload goes
    // out as its own event, and only targets whose filter holds get a row.
    for (size_t i = 0; i < table.size(); ++i) {
        TargetSpec spec;
        spec.payloadFilter = table[i].filter;
        f.addTarget("f" + std::to_string(i), spec);
    }
    f.addTarget("typed", [] {
        TargetSpec s = filteredBy({"other.*"});
        s.payloadFilter = R"({"all":[]})";
        return s;
    }());
    for (size_t i = 0; i < table.size(); ++i) {
        CAPTURE(table[i].filter);
        CAPTURE(table[i].payload);
        EventInput e;
        e.type = "thing.happened";
        e.payload = table[i].payload;
        auto r = sendEvent(f.db, e, f.clock);
        REQUIRE(r);
        const std::string id = "f" + std::to_string(i);
        const bool got = std::find(r->targetIds.begin(), r->targetIds.end(), id) != r->targetIds.end();
        CHECK(got == table[i].matches);
        // The filter and --events must both hold.
        CHECK(std::find(r->targetIds.begin(), r->targetIds.end(), "typed") == r->targetIds.end());
        CHECK(f.count("SELECT count(*) FROM deliveries WHERE event_id = " + std::to_string(r->eventId) +
                      " AND target_id = '" + id + "'") == (table[i].matches ? 1 : 0));
    }
    SUBCASE("a filter edited by hand into something unreadable stops that target's fan-out, not the send")
    {
        f.raw.exec(R"(UPDATE targets SET payload_filter = '{"path":"x","op":"eq","value":1}' WHERE id = 'f0')");
        auto r = f.send("thing.happened");
        CHECK(std::find(r.targetIds.begin(), r.targetIds.end(), "f0") == r.targetIds.end());
        auto t = getTarget(f.db, "f0");
        REQUIRE(t);
        REQUIRE(t->rowError);
        CHECK(t->rowError->find("payload_filter") != std::string::npos);
    }
}

TEST_CASE("storage: explicit targets override the filters")
{
    StoreFixture f;
    f.addTarget("a", filteredBy({"other.*"}));
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
    StoreFixture f;
    f.addTarget("a", filteredBy({"cost.*"}));
    auto r = f.send("optimization.done");
    CHECK(r.deliveryIds.empty());
    CHECK(r.eventId > 0);
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 0);
}

TEST_CASE("storage: a repeated idempotency key returns the original event")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    EventInput e;
    e.type = "cost.alert";
    e.idempotencyKey = "order-42";
    auto first = sendEvent(f.db, e, f.clock);
    REQUIRE(first);
    CHECK_FALSE(first->duplicate);
    f.clock.advance(1000);
    auto second = sendEvent(f.db, e, f.clock);
    REQUIRE(second);
    CHECK(second->duplicate);
    CHECK(second->eventId == first->eventId);
    CHECK(second->uid == first->uid);
    CHECK(second->deliveryIds == first->deliveryIds);
    CHECK(second->targetIds == first->targetIds);

    SUBCASE("the same key with a different event is refused, and nothing is written")
    {
        for (auto change : {0, 1, 2, 3}) {
            EventInput other = e;
            if (change == 0)
                other.payload = R"({"different": true})";
            if (change == 1)
                other.type = "cost.other";
            if (change == 2)
                other.targets = {"a"};
            if (change == 3)
                other.priority = 5;
            auto third = sendEvent(f.db, other, f.clock);
            REQUIRE_FALSE(third);
            CHECK(third.error().is(Error::Kind::Conflict));
            CHECK(third.error().message() == "the idempotency key 'order-42' was first used with a different event");
        }
    }
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 2);
    CHECK(f.text("SELECT payload FROM events") == "{}");
}

TEST_CASE("storage: a reused idempotency key is told by its code, alone and in a batch")
{
    StoreFixture f;
    f.addTarget("a");
    EventInput e;
    e.type = "cost.alert";
    e.idempotencyKey = "order-43";
    REQUIRE(sendEvent(f.db, e, f.clock));
    EventInput other = e;
    other.type = "cost.other";
    auto alone = sendEvent(f.db, other, f.clock);
    REQUIRE_FALSE(alone);
    CHECK(alone.error().is(Error::Code::IdempotencyKeyReused));
    EventInput fresh;
    fresh.type = "cost.alert";
    auto batch = sendBatch(f.db, {fresh, other}, f.clock);
    REQUIRE_FALSE(batch);
    CHECK(batch.error().is(Error::Kind::Conflict));
    CHECK(batch.error().is(Error::Code::IdempotencyKeyReused));
    CHECK(batch.error().message().rfind("event 2: ", 0) == 0);
    EventInput misdirected;
    misdirected.type = "cost.alert";
    misdirected.targets = {"ghost"};
    auto missing = sendEvent(f.db, misdirected, f.clock);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().is(Error::Code::None));
}

TEST_CASE("storage: an application's event goes to its targets only; sendEach keeps each event's outcome")
{
    StoreFixture f;
    TargetSpec acme;
    acme.appId = "acme";
    f.addTarget("acme-hook", acme);
    f.addTarget("global");
    EventInput tenant;
    tenant.type = "order.paid";
    tenant.appId = "acme";
    auto r = sendEvent(f.db, tenant, f.clock);
    REQUIRE(r);
    CHECK(r->targetIds == std::vector<std::string>{"acme-hook"});
    EventInput plain;
    plain.type = "order.paid";
    r = sendEvent(f.db, plain, f.clock);
    REQUIRE(r);
    CHECK(r->targetIds == std::vector<std::string>{"global"});
    EventInput wrong = tenant;
    wrong.targets = {"global"};
    CHECK_FALSE(sendEvent(f.db, wrong, f.clock));

    EventInput bad = plain;
    bad.targets = {"missing"};
    EventInput invalid = plain;
    invalid.type = "";
    auto each = sendEach(f.db, {plain, bad, invalid, tenant}, f.clock);
    REQUIRE(each);
    REQUIRE(each->size() == 4);
    CHECK((*each)[0]);
    CHECK((*each)[1].error().is(Error::Kind::NotFound));
    CHECK((*each)[2].error().is(Error::Kind::Invalid));
    CHECK((*each)[3]->targetIds == std::vector<std::string>{"acme-hook"});
    CHECK(f.rows("events") == 4); // two before, two of the four
    CHECK(f.count("SELECT count(*) FROM events WHERE app_id = 'acme'") == 2);
}

TEST_CASE("storage: explicit targets must belong to the event's application, none to none; nothing is written")
{
    StoreFixture f;
    TargetSpec acme;
    acme.appId = "acme";
    f.addTarget("acme-hook", acme);
    f.addTarget("global");
    EventInput plain;
    plain.type = "order.paid";
    plain.targets = {"global", "acme-hook"};
    auto r = sendEvent(f.db, plain, f.clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Error::Kind::Invalid));
    CHECK(
        r.error().message() ==
        "the target 'acme-hook' belongs to an application, and an event without app_id may name only targets of none");
    EventInput tenant = plain;
    tenant.appId = "acme";
    tenant.targets = {"acme-hook", "global"};
    r = sendEvent(f.db, tenant, f.clock);
    REQUIRE_FALSE(r);
    // Inside an application another's target is as unknown as a missing one.
    CHECK(r.error().is(Error::Kind::NotFound));
    CHECK(r.error().message() == "there is no target 'global' in the application 'acme'");
    tenant.targets = {"nowhere"};
    r = sendEvent(f.db, tenant, f.clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "there is no target 'nowhere' in the application 'acme'");
    tenant.targets = {"acme-hook", "global"};
    CHECK_FALSE(sendBatch(f.db, {tenant}, f.clock));
    CHECK(f.rows("events") == 0);
    CHECK(f.rows("deliveries") == 0);
    plain.targets = {"global"};
    tenant.targets = {"acme-hook"};
    CHECK(sendEvent(f.db, plain, f.clock));
    CHECK(sendEvent(f.db, tenant, f.clock));
}

namespace {

// acme-hook of application acme, globex-hook of globex, plain of none.
void addTenantTargets(StoreFixture& f)
{
    TargetSpec acme, globex;
    acme.appId = "acme";
    globex.appId = "globex";
    f.addTarget("acme-hook", acme);
    f.addTarget("globex-hook", globex);
    f.addTarget("plain");
}

} // namespace

TEST_CASE("storage: idempotency keys are per application")
{
    StoreFixture f;
    addTenantTargets(f);
    EventInput a;
    a.type = "order.paid";
    a.appId = "acme";
    a.idempotencyKey = "order-42";
    EventInput g = a;
    g.appId = "globex";
    g.payload = R"({"other":true})";
    EventInput none = a;
    none.appId.reset();
    auto first = sendEvent(f.db, a, f.clock);
    REQUIRE(first);
    // The same key in another application, or in none, is another event.
    auto second = sendEvent(f.db, g, f.clock);
    REQUIRE(second);
    CHECK_FALSE(second->duplicate);
    auto third = sendEvent(f.db, none, f.clock);
    REQUIRE(third);
    CHECK_FALSE(third->duplicate);
    CHECK(f.rows("events") == 3);
    // Within one application it still replays, and refuses another request.
    auto again = sendEvent(f.db, a, f.clock);
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->uid == first->uid);
    EventInput changed = g;
    changed.payload = R"({"changed":true})";
    auto reused = sendEvent(f.db, changed, f.clock);
    REQUIRE_FALSE(reused);
    CHECK(reused.error().code() == Error::Code::IdempotencyKeyReused);
    CHECK(f.rows("events") == 3);
}

TEST_CASE("storage: every listing and bulk action keeps to one application when given one")
{
    StoreFixture f;
    addTenantTargets(f);
    auto sendFor = [&](const std::optional<std::string>& app) {
        EventInput e;
        e.type = "order.paid";
        e.appId = app;
        auto r = sendEvent(f.db, e, f.clock);
        REQUIRE(r);
        REQUIRE(r->deliveryIds.size() == 1);
        return r->deliveryIds[0];
    };
    const int64_t a1 = sendFor("acme"), a2 = sendFor("acme"), g1 = sendFor("globex"), p1 = sendFor(std::nullopt);
    f.deadLetter(a2, "gave up");
    f.deadLetter(g1, "gave up");
    f.clock.advance(1000);

    EventFilter ef;
    ef.limit = 100;
    ef.appId = "acme";
    auto events = listEvents(f.db, ef);
    REQUIRE(events);
    CHECK(events->size() == 2);
    for (const auto& e : *events)
        CHECK(e.appId == std::optional<std::string>("acme"));

    DeliveryFilter df;
    df.appId = "globex";
    auto deliveries = listDeliveries(f.db, df);
    REQUIRE(deliveries);
    REQUIRE(deliveries->size() == 1);
    CHECK(deliveries->at(0).id == g1);
    CHECK(*countDeliveries(f.db, df) == 1);
    df.targetId = "acme-hook"; // another application's target: nothing
    CHECK(listDeliveries(f.db, df)->empty());
    df.targetId.reset();
    df.appId = "acme";
    auto dead = listDeadLetters(f.db, df);
    REQUIRE(dead);
    REQUIRE(dead->size() == 1);
    CHECK(dead->at(0).id == a2);

    StatsFilter sf;
    sf.appId = "acme";
    auto st = statistics(f.db, sf, f.clock);
    REQUIRE(st);
    CHECK(st->all.deadLetter == 1);
    CHECK(st->byTarget.size() == 1);
    CHECK(st->byTarget.count("acme-hook") == 1);

    CHECK(*firstOutsideApp(f.db, {a1, a2}, "acme") == std::nullopt);
    CHECK(*firstOutsideApp(f.db, {a1, g1, p1}, "acme") == std::optional<int64_t>(g1));
    CHECK(*firstOutsideApp(f.db, {a1, 999'999}, "acme") == std::optional<int64_t>(999'999));

    // Retry all and purge of one application leave the other's dead letter.
    DeadLetterSelection sel;
    sel.appId = "acme";
    auto retried = retryAllDeadLetters(f.db, sel, f.clock);
    REQUIRE(retried);
    REQUIRE(retried->size() == 1);
    CHECK(retried->at(0).id == a2);
    CHECK(f.status(g1) == "dead_letter");
    f.deadLetter(a1, "gave up");
    f.clock.advance(1000);
    PurgeOptions po;
    po.completedBeforeMs = f.clock.nowMs();
    po.statuses = PurgeStatuses::DeadLetter;
    po.appId = "globex";
    auto purged = purgeTerminal(f.db, po);
    REQUIRE(purged);
    CHECK(purged->deliveries == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE id = " + std::to_string(g1)) == 0);
    CHECK(f.status(a1) == "dead_letter");
}

TEST_CASE("storage: portal sessions are bound keys that expire, and one call ends them all")
{
    StoreFixture f;
    auto s1 = createPortalSession(f.db, "acme", 60'000, f.clock);
    auto s2 = createPortalSession(f.db, "acme", 60'000, f.clock);
    auto other = createPortalSession(f.db, "globex", 60'000, f.clock);
    auto key = createApiKey(f.db, "acme producer", {"events:write"}, std::nullopt, f.clock, std::string("acme"));
    REQUIRE(s1);
    REQUIRE(s2);
    REQUIRE(other);
    REQUIRE(key);
    auto k = authenticateApiKey(f.db, s1->token, f.clock);
    REQUIRE(k);
    CHECK(k->portal);
    CHECK(k->appId == std::optional<std::string>("acme"));
    CHECK(k->expiresAt == std::optional<int64_t>(f.clock.nowMs() + 60'000));
    auto bound = authenticateApiKey(f.db, key->token, f.clock);
    REQUIRE(bound);
    CHECK_FALSE(bound->portal);
    CHECK(bound->appId == std::optional<std::string>("acme"));

    CHECK(*revokePortalSessions(f.db, "acme", f.clock) == 2);
    CHECK_FALSE(authenticateApiKey(f.db, s1->token, f.clock));
    CHECK_FALSE(authenticateApiKey(f.db, s2->token, f.clock));
    CHECK(authenticateApiKey(f.db, key->token, f.clock)); // a key of the application stays
    CHECK(authenticateApiKey(f.db, other->token, f.clock));
    f.clock.advance(60'000);
    auto expired = authenticateApiKey(f.db, other->token, f.clock);
    REQUIRE_FALSE(expired);
    CHECK(expired.error().message() == "the API key has expired");

    CHECK_FALSE(createPortalSession(f.db, "acme", 7 * 86'400'000 + 1, f.clock));
    CHECK_FALSE(createPortalSession(f.db, "acme", 0, f.clock));
    CHECK_FALSE(createPortalSession(f.db, "not valid", 60'000, f.clock));
    CHECK_FALSE(createApiKey(f.db, "x", {"read"}, std::nullopt, f.clock, std::string("bad app!")));
}

TEST_CASE("storage: an invalid event is refused and nothing is written")
{
    StoreFixture f;
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
    StoreFixture f;
    f.addTarget("a");
    f.send("a", {}, kMaxPriority);
    f.send("b", {}, kMinPriority);
    CHECK(f.count("SELECT max(priority) FROM deliveries") == kMaxPriority);
    CHECK(f.count("SELECT min(priority) FROM deliveries") == kMinPriority);
}

TEST_CASE("storage: a batch goes in whole or not at all")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b", filteredBy({"cost.*"}));
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
    StoreFixture f;
    f.addTarget("a");
    auto r = f.send("cost.alert");
    REQUIRE(r.deliveryIds.size() == 1);
    const int64_t id = r.deliveryIds[0];
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type,"
               " error_message, retry_after_ms) VALUES (" +
               std::to_string(id) +
               ", 2, 20, 7, NULL, 'timeout',"
               " 'timed out', NULL), (" +
               std::to_string(id) + ", 1, 10, 5, 503, NULL, NULL, 30000)");
    auto d = getDelivery(f.db, id);
    REQUIRE(d);
    CHECK(d->id == id);
    CHECK(d->eventUid == r.uid);
    CHECK(d->eventId == r.eventId);
    CHECK(d->type == "cost.alert");
    CHECK(d->targetId == "a");
    CHECK(d->status == DeliveryStatus::Pending);
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
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    const int64_t t0 = f.clock.nowMs();
    auto e1 = f.send("cost.alert"); // a, b at t0
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
        fl.status = DeliveryStatus::Delivered;
        CHECK(ids(listDeliveries(f.db, fl).value()) == std::vector<int64_t>{e1.deliveryIds[0]});
        fl.status = DeliveryStatus::Pending;
        CHECK(listDeliveries(f.db, fl).value().size() == 3);
        fl.status = DeliveryStatus::DeadLetter;
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
        fl.status = DeliveryStatus::Pending;
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
    SUBCASE("a status is one of the enum's names, nothing else")
    {
        CHECK(parseDeliveryStatus("dead_letter") == DeliveryStatus::DeadLetter);
        CHECK_FALSE(parseDeliveryStatus("done"));
        CHECK_FALSE(parseDeliveryStatus("Pending"));
    }
}

TEST_CASE("storage: a dead letter is listed with its reason and can be retried")
{
    StoreFixture f;
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
    REQUIRE(moved->size() == 1);
    CHECK(moved->front().id == id);
    CHECK(moved->front().previousStatus == DeliveryStatus::DeadLetter);
    CHECK(f.status(id) == "pending");
    CHECK(f.count("SELECT retry_base FROM deliveries WHERE id = " + std::to_string(id)) == 4);
    CHECK(f.count("SELECT attempt_count FROM deliveries WHERE id = " + std::to_string(id)) == 4);
    CHECK(f.count("SELECT next_attempt_at FROM deliveries WHERE id = " + std::to_string(id)) == f.clock.nowMs());
    CHECK(f.count("SELECT completed_at IS NULL FROM deliveries WHERE id = " + std::to_string(id)) == 1);
    CHECK(f.count("SELECT retried_at FROM dead_letters WHERE delivery_id = " + std::to_string(id)) == f.clock.nowMs());
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
    StoreFixture f;
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
    SUBCASE("no ids") { CHECK(retryDeadLetters(f.db, {}, f.clock).error().is(Error::Kind::Invalid)); }
    CHECK(f.status(dead) == "dead_letter");
    CHECK(f.status(alive) == "pending");
    CHECK(f.count("SELECT retry_base FROM deliveries WHERE id = " + std::to_string(dead)) == 0);
    CHECK(f.count("SELECT retried_at IS NULL FROM dead_letters") == 1);
    CHECK(listDeadLetters(f.db, {}).value().size() == 1);
}

TEST_CASE("storage: retrying every dead letter of one target leaves the others")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    auto e = f.send("cost.alert");
    f.deadLetter(e.deliveryIds[0], "HTTP 400");
    f.deadLetter(e.deliveryIds[1], "HTTP 400");
    auto moved = retryAllDeadLetters(f.db, ofTarget(e.targetIds[0]), f.clock);
    REQUIRE(moved);
    CHECK(moved->size() == 1);
    CHECK(f.status(e.deliveryIds[0]) == "pending");
    CHECK(f.status(e.deliveryIds[1]) == "dead_letter");
    CHECK(retryAllDeadLetters(f.db, ofTarget("ghost"), f.clock).error().is(Error::Kind::NotFound));
    CHECK(retryAllDeadLetters(f.db, {}, f.clock).value().size() == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'dead_letter'") == 0);
}

TEST_CASE("storage: purging dead letters removes those moved before the cutoff")
{
    StoreFixture f;
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
    CHECK(purged->deliveries == 1);
    CHECK(purged->attempts == 2);
    CHECK(purged->events == 1);
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE id = " + std::to_string(old.deliveryIds[0])) == 0);
    CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(old.eventId)) == 0);
    CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id = " + std::to_string(old.deliveryIds[0])) == 0);
    CHECK(f.count("SELECT count(*) FROM attempts") == 2);
    CHECK(ids(listDeadLetters(f.db, {}).value()) == std::vector<int64_t>{recent.deliveryIds[0]});
    CHECK(f.status(alive.deliveryIds[0]) == "pending");
    CHECK(purgeDeadLetters(f.db, t0 + 5000).value().deliveries == 0);
    CHECK(purgeDeadLetters(f.db, f.clock.nowMs() + 1).value().deliveries == 1);
    CHECK(f.rows("events") == 1);
}

// ---------------------------------------------------------------------------

TEST_CASE("redrive: resending finished deliveries starts a new attempt series with a fresh budget")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t done = f.send("order.paid").deliveryIds[0];
    const int64_t dead = f.send("order.paid").deliveryIds[0];
    markDelivered(f, done, f.clock.nowMs(), 2);
    f.deadLetter(dead, "HTTP 422", 3);
    f.clock.advance(3'600'000);

    auto r = resendDeliveries(f.db, {done, dead}, f.clock);
    REQUIRE_MESSAGE(r, r.error().toString());
    REQUIRE(r->size() == 2);
    CHECK(r->at(0).id == done);
    CHECK(r->at(0).previousStatus == DeliveryStatus::Delivered);
    CHECK(r->at(1).id == dead);
    CHECK(r->at(1).previousStatus == DeliveryStatus::DeadLetter);
    for (int64_t id : {done, dead}) {
        CAPTURE(id);
        CHECK(f.status(id) == "pending");
        CHECK(column(f, "next_attempt_at", id) == std::to_string(f.clock.nowMs()));
        CHECK(column(f, "updated_at", id) == std::to_string(f.clock.nowMs()));
        CHECK(column(f, "retry_base", id) == column(f, "attempt_count", id));
        CHECK(column(f, "completed_at", id) == "NULL");
    }
    CHECK(column(f, "attempt_count", done) == "2");
    CHECK(column(f, "attempt_count", dead) == "3");
    CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id = " + std::to_string(done)) == 2);
    CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id = " + std::to_string(dead)) == 3);
    CHECK(f.count("SELECT retried_at FROM dead_letters WHERE delivery_id = " + std::to_string(dead)) ==
          f.clock.nowMs());
    CHECK(listDeadLetters(f.db, {}).value().empty());

    // The worker sees attempt numbers continue and none of the new budget spent.
    Queue queue(f.db, "w1");
    auto claimed = queue.claim(f.clock.nowMs(), 60'000, 30'000, 10);
    REQUIRE_MESSAGE(claimed, claimed.error().toString());
    REQUIRE(claimed->claimed.size() == 2);
    for (const auto& c : claimed->claimed) {
        CAPTURE(c.id);
        CHECK(c.attemptNumber == (c.id == done ? 3 : 4));
        CHECK(c.attemptsUsed == 0);
    }
}

TEST_CASE("redrive: resend refuses unfinished and unknown deliveries and changes nothing")
{
    StoreFixture f;
    f.addTarget("a");
    const int64_t done = f.send("x").deliveryIds[0];
    markDelivered(f, done, f.clock.nowMs());
    const int64_t other = f.send("x").deliveryIds[0];
    f.clock.advance(1000);
    const auto before = deliveryStates(f);
    for (const char* status : {"pending", "failed", "rate_limited", "in_progress"}) {
        CAPTURE(status);
        f.setStatus(other, status);
        auto r = resendDeliveries(f.db, {done, other}, f.clock);
        REQUIRE_FALSE(r);
        CHECK(r.error().is(Error::Kind::Invalid));
        CHECK(r.error().message().find(std::to_string(other)) != std::string::npos);
        CHECK(r.error().message().find(status) != std::string::npos);
        CHECK(f.status(done) == "delivered");
    }
    f.setStatus(other, "pending");
    auto unknown = resendDeliveries(f.db, {done, 999}, f.clock);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().is(Error::Kind::NotFound));
    CHECK(unknown.error().message().find("999") != std::string::npos);
    CHECK(resendDeliveries(f.db, {}, f.clock).error().is(Error::Kind::Invalid));
    CHECK(deliveryStates(f) == before);
}

TEST_CASE("redrive: many ids go in batches of their own transactions, with progress, each id once")
{
    StoreFixture f;
    f.addTarget("a");
    const auto dead = bulk(f, 25, "a", "dead_letter", f.clock.nowMs());
    std::vector<int64_t> ids = dead;
    ids.push_back(dead[3]); // a repeat counts once
    std::vector<std::pair<int64_t, int64_t>> calls;
    RedriveOptions o;
    o.batchSize = 10;
    o.progress = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };

    SUBCASE("dlq retry")
    {
        auto r = retryDeadLetters(f.db, ids, f.clock, o);
        REQUIRE_MESSAGE(r, r.error().toString());
        CHECK(r->size() == 25);
    }
    SUBCASE("resend")
    {
        auto r = resendDeliveries(f.db, ids, f.clock, o);
        REQUIRE_MESSAGE(r, r.error().toString());
        CHECK(r->size() == 25);
    }
    CHECK(calls == std::vector<std::pair<int64_t, int64_t>>{{10, 25}, {20, 25}, {25, 25}});
    CHECK(f.count("SELECT count(*) FROM deliveries WHERE status = 'pending'") == 25);
    CHECK(f.count("SELECT count(*) FROM dead_letters WHERE retried_at IS NULL") == 0);
    CHECK(f.count("SELECT count(*) FROM attempts") == 25);
}

TEST_CASE("redrive: retrying all dead letters selects by type, target and when they moved")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b");
    const int64_t t0 = f.clock.nowMs();
    const int64_t xOld = f.send("x", {"a"}).deliveryIds[0];
    const int64_t yOld = f.send("y", {"a"}).deliveryIds[0];
    f.deadLetter(xOld, "HTTP 404");
    f.deadLetter(yOld, "HTTP 404");
    f.clock.advance(3'600'000);
    const int64_t xNew = f.send("x", {"a"}).deliveryIds[0];
    const int64_t xNewB = f.send("x", {"b"}).deliveryIds[0];
    f.deadLetter(xNew, "HTTP 404");
    f.deadLetter(xNewB, "HTTP 404");
    std::vector<std::pair<int64_t, int64_t>> calls;
    RedriveOptions o;
    o.batchSize = 1;
    o.progress = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };

    DeadLetterSelection sel;
    sel.type = "x";
    sel.movedSince = t0 + 1'800'000;
    auto r = retryAllDeadLetters(f.db, sel, f.clock, o);
    REQUIRE_MESSAGE(r, r.error().toString());
    REQUIRE(r->size() == 2);
    CHECK(r->at(0).id == xNew);
    CHECK(r->at(1).id == xNewB);
    CHECK(calls == std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 2}});
    CHECK(f.status(xOld) == "dead_letter");
    CHECK(f.status(yOld) == "dead_letter");
    CHECK(f.status(xNew) == "pending");
    CHECK(f.status(xNewB) == "pending");

    DeadLetterSelection y;
    y.type = "y";
    y.targetId = "b";
    CHECK(retryAllDeadLetters(f.db, y, f.clock).value().empty());
    y.targetId = "a";
    auto ry = retryAllDeadLetters(f.db, y, f.clock);
    REQUIRE(ry);
    REQUIRE(ry->size() == 1);
    CHECK(ry->front().id == yOld);
    CHECK(f.status(xOld) == "dead_letter");
}

// ---------------------------------------------------------------------------

TEST_CASE("retention: purge deletes finished deliveries completed before the cutoff, their attempts, dead letters "
          "and orphaned events")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b", filteredBy({"shared.*"}));
    const int64_t cutoff = f.clock.nowMs();
    auto shared = f.send("shared.thing"); // a and b
    auto oldDone = f.send("done.old", {"a"});
    auto oldDead = f.send("dead.old", {"a"});
    auto atCutoff = f.send("done.cutoff", {"a"});
    auto recent = f.send("done.recent", {"a"});
    auto retrying = f.send("retrying", {"a"});
    auto resent = f.send("resent", {"a"});
    f.raw.exec("INSERT INTO events (uid, type, payload, created_at) VALUES ('msg_lonely', 'lonely', '{}', 0)");
    const size_t sharedA = shared.targetIds[0] == "a" ? 0 : 1;
    markDelivered(f, shared.deliveryIds[sharedA], cutoff - 1, 2); // its event is still b's
    markDelivered(f, oldDone.deliveryIds[0], cutoff - 1000, 3);
    f.clock.advance(-5000);
    f.deadLetter(oldDead.deliveryIds[0], "HTTP 410", 2);
    f.clock.advance(5000);
    markDelivered(f, atCutoff.deliveryIds[0], cutoff);
    markDelivered(f, recent.deliveryIds[0], cutoff + 1000);
    f.setStatus(retrying.deliveryIds[0], "failed");
    markDelivered(f, resent.deliveryIds[0], cutoff - 1000);
    REQUIRE(resendDeliveries(f.db, {resent.deliveryIds[0]}, f.clock));

    PurgeOptions o;
    o.completedBeforeMs = cutoff;
    SUBCASE("both statuses")
    {
        auto r = purgeTerminal(f.db, o);
        REQUIRE_MESSAGE(r, r.error().toString());
        CHECK(r->deliveries == 3);
        CHECK(r->attempts == 2 + 3 + 2);
        CHECK(r->events == 2);
        CHECK(r->finished);
        CHECK(f.count("SELECT count(*) FROM deliveries WHERE id IN (" + std::to_string(shared.deliveryIds[sharedA]) +
                      ", " + std::to_string(oldDone.deliveryIds[0]) + ", " + std::to_string(oldDead.deliveryIds[0]) +
                      ")") == 0);
        CHECK(f.rows("deliveries") == 5);
        CHECK(f.rows("dead_letters") == 0);
        CHECK(f.count("SELECT count(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)") == 0);
        CHECK(f.rows("attempts") == 3); // atCutoff, recent, resent: one each
        CHECK(f.count("SELECT count(*) FROM events WHERE id IN (" + std::to_string(oldDone.eventId) + ", " +
                      std::to_string(oldDead.eventId) + ")") == 0);
        CHECK(f.count("SELECT count(*) FROM events WHERE id = " + std::to_string(shared.eventId)) == 1);
        CHECK(f.count("SELECT count(*) FROM events WHERE uid = 'msg_lonely'") == 1);
        CHECK(f.rows("events") == 6);
        CHECK(f.status(shared.deliveryIds[1 - sharedA]) == "pending");
        CHECK(f.status(resent.deliveryIds[0]) == "pending");
        if (!f.postgres()) // PostgreSQL enforces foreign keys on every connection
            CHECK(f.count("SELECT count(*) FROM pragma_foreign_key_check") == 0);
        auto again = purgeTerminal(f.db, o);
        REQUIRE(again);
        CHECK(again->deliveries == 0);
    }
    SUBCASE("delivered only")
    {
        o.statuses = PurgeStatuses::Delivered;
        auto r = purgeTerminal(f.db, o);
        REQUIRE(r);
        CHECK(r->deliveries == 2);
        CHECK(f.status(oldDead.deliveryIds[0]) == "dead_letter");
        CHECK(f.rows("dead_letters") == 1);
    }
    SUBCASE("dead letters only")
    {
        o.statuses = PurgeStatuses::DeadLetter;
        auto r = purgeTerminal(f.db, o);
        REQUIRE(r);
        CHECK(r->deliveries == 1);
        CHECK(r->attempts == 2);
        CHECK(r->events == 1);
        CHECK(f.status(oldDone.deliveryIds[0]) == "delivered");
    }
}

TEST_CASE("retention: purge works in batches, returns when told to stop or after maxBatches, and resumes")
{
    StoreFixture f;
    f.addTarget("a");
    const auto ids = bulk(f, 25, "a", "delivered", f.clock.nowMs() - 1000);
    PurgeOptions o;
    o.completedBeforeMs = f.clock.nowMs();
    o.batchSize = 10;
    o.incrementalVacuum = false; // only the batches report progress
    std::vector<int64_t> seen;
    auto progress = [&](const PurgeResult& r) { seen.push_back(r.deliveries); };

    SUBCASE("maxBatches, then resume from lastId")
    {
        o.maxBatches = 2;
        auto first = purgeTerminal(f.db, o, progress);
        REQUIRE(first);
        CHECK(first->deliveries == 20);
        CHECK(first->attempts == 20);
        CHECK(first->events == 20);
        CHECK(first->batches == 2);
        CHECK_FALSE(first->finished);
        CHECK(first->lastId == ids[19]);
        CHECK(f.rows("deliveries") == 5);
        o.maxBatches = 0;
        o.startAfterId = first->lastId;
        auto rest = purgeTerminal(f.db, o, progress);
        REQUIRE(rest);
        CHECK(rest->deliveries == 5);
        CHECK(rest->finished);
        CHECK(seen == std::vector<int64_t>{10, 20, 5});
    }
    SUBCASE("a stop flag set between batches")
    {
        std::atomic<bool> stop{false};
        o.stop = &stop;
        auto r = purgeTerminal(f.db, o, [&](const PurgeResult&) { stop = true; });
        REQUIRE(r);
        CHECK(r->deliveries == 10);
        CHECK_FALSE(r->finished);
        CHECK(f.rows("deliveries") == 15);
    }
    SUBCASE("a batch size below 1 is Invalid")
    {
        o.batchSize = 0;
        CHECK(purgeTerminal(f.db, o).error().is(Error::Kind::Invalid));
        CHECK(f.rows("deliveries") == 25);
    }
}

// SQLite's pages and auto-vacuum (PostgreSQL's space is VACUUM's, in the server).
TEST_CASE("retention: a purge gives the space back on an incrementally vacuumed database" * sqliteOnly())
{
    StoreFixture f;
    f.addTarget("a");
    REQUIRE(f.count("PRAGMA auto_vacuum") == 2);
    bulk(f, 3000, "a", "delivered", f.clock.nowMs() - 1000, 2000);
    bulk(f, 100, "a", "pending", std::nullopt, 2000);
    f.raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const int64_t pagesBefore = f.count("PRAGMA page_count");
    const auto sizeBefore = std::filesystem::file_size(f.locator);

    PurgeOptions o;
    o.completedBeforeMs = f.clock.nowMs();
    auto r = purgeTerminal(f.db, o);
    REQUIRE_MESSAGE(r, r.error().toString());
    CHECK(r->deliveries == 3000);
    CHECK(r->incremental);
    const int64_t pagesAfter = f.count("PRAGMA page_count");
    CHECK(f.count("PRAGMA freelist_count") == 0);
    CHECK(r->pagesFreed == pagesBefore - pagesAfter);
    CHECK(pagesAfter * 10 < pagesBefore);
    f.raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(std::filesystem::file_size(f.locator) * 10 < sizeBefore);
    CHECK(f.rows("deliveries") == 100);
    CHECK(f.text("PRAGMA integrity_check") == "ok");
}

TEST_CASE("retention: an old database without auto-vacuum keeps its size until vacuumDatabase switches it" *
          sqliteOnly())
{
    StoreFixture f;
    f.raw.exec("PRAGMA auto_vacuum = NONE");
    f.raw.exec("VACUUM");
    REQUIRE(f.count("PRAGMA auto_vacuum") == 0);
    f.addTarget("a");
    bulk(f, 2000, "a", "dead_letter", f.clock.nowMs() - 1000, 2000);
    const int64_t pagesBefore = f.count("PRAGMA page_count");

    PurgeOptions o;
    o.completedBeforeMs = f.clock.nowMs();
    auto r = purgeTerminal(f.db, o);
    REQUIRE(r);
    CHECK(r->deliveries == 2000);
    CHECK_FALSE(r->incremental);
    CHECK(r->pagesFreed == 0);
    CHECK(f.count("PRAGMA page_count") == pagesBefore);
    CHECK(f.count("PRAGMA freelist_count") * 2 > pagesBefore);

    auto v = vacuumDatabase(f.db);
    REQUIRE_MESSAGE(v, v.error().toString());
    CHECK(v->switchedToIncremental);
    CHECK(v->pagesBefore == pagesBefore);
    CHECK(v->pagesAfter * 10 < pagesBefore);
    f.count("SELECT count(*) FROM sqlite_schema"); // PRAGMA auto_vacuum answers from the header as last read
    CHECK(f.count("PRAGMA auto_vacuum") == 2);
    CHECK(f.count("PRAGMA freelist_count") == 0);
    CHECK(f.count("PRAGMA page_count") == v->pagesAfter);
    auto again = vacuumDatabase(f.db);
    REQUIRE(again);
    CHECK_FALSE(again->switchedToIncremental);
}

// ---------------------------------------------------------------------------

TEST_CASE("storage: statistics count deliveries by status, type and target")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b", filteredBy({"cost.*"}));
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
               " (" +
               d1 + ", 1, 0, 110, 200), (" + d1 + ", 2, 0, 60, 503)");
    f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error_type)"
               " VALUES (" +
               std::to_string(e2.deliveryIds[1]) + ", 1, 0, 30000, NULL, 'timeout')");

    auto s = statistics(f.db, {}, f.clock);
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
    StoreFixture f;
    f.addTarget("a");
    auto empty = statistics(f.db, {}, f.clock);
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

    auto s = statistics(f.db, createdSince(since), f.clock);
    REQUIRE(s);
    CHECK(s->all.total == 1);
    CHECK(s->all.deadLetter == 1);
    CHECK(s->all.delivered == 0);
    CHECK(s->successRate == 0.0);
    CHECK(s->averageResponseTimeMs == doctest::Approx(10.0));
    CHECK(s->byEventType.count("old") == 0);
    auto all = statistics(f.db, {}, f.clock);
    REQUIRE(all);
    CHECK(all->all.total == 2);
    CHECK(all->successRate == doctest::Approx(0.5));
    CHECK(all->averageResponseTimeMs == doctest::Approx(255.0));
}

TEST_CASE("statistics: latency percentiles are nearest-rank over every attempt, times to deliver over delivered ones")
{
    StoreFixture f;
    f.addTarget("a");
    std::vector<int64_t> ids;
    for (int i = 0; i < 20; ++i)
        ids.push_back(f.send("x").deliveryIds[0]);
    // Durations 10, 20, … 200 ms, inserted out of order; the 200 ms one got no response.
    for (int k : {7, 3, 19, 1, 12, 20, 5, 9, 14, 2, 18, 11, 4, 16, 6, 13, 8, 17, 10, 15})
        f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
                   std::to_string(ids[static_cast<size_t>(k - 1)]) + ", 1, 0, " + std::to_string(k * 10) + ", " +
                   (k == 20 ? "NULL" : "200") + ")");
    const int64_t created = f.clock.nowMs();
    for (int k = 1; k <= 10; ++k) // times to deliver 1 s … 10 s
        f.raw.exec("UPDATE deliveries SET status = 'delivered', completed_at = " + std::to_string(created + k * 1000) +
                   " WHERE id = " + std::to_string(ids[static_cast<size_t>(k - 1)]));
    // A dead letter and a delivered row without completed_at count for neither.
    f.raw.exec("UPDATE deliveries SET status = 'dead_letter', completed_at = " + std::to_string(created + 999'000) +
               " WHERE id = " + std::to_string(ids[10]));
    f.raw.exec("UPDATE deliveries SET status = 'delivered' WHERE id = " + std::to_string(ids[11]));

    auto s = statistics(f.db, {}, f.clock);
    REQUIRE_MESSAGE(s, s.error().toString());
    // n = 20: ranks ceil(0.5 n) = 10, ceil(0.95 n) = 19, ceil(0.99 n) = 20.
    CHECK(s->attemptLatencyMs.p50 == 100);
    CHECK(s->attemptLatencyMs.p95 == 190);
    CHECK(s->attemptLatencyMs.p99 == 200);
    // The same ranks read with ORDER BY … LIMIT 1 OFFSET rank - 1.
    for (auto [rank, value] :
         {std::pair{10, s->attemptLatencyMs.p50}, {19, s->attemptLatencyMs.p95}, {20, s->attemptLatencyMs.p99}})
        CHECK(f.count("SELECT duration_ms FROM attempts ORDER BY duration_ms LIMIT 1 OFFSET " +
                      std::to_string(rank - 1)) == value);
    CHECK(s->averageResponseTimeMs == doctest::Approx(100.0)); // 10 … 190 ms: the timeout is not a response
    // n = 10: ranks 5 and 10.
    CHECK(s->timeToDeliverMs.p50 == 5000);
    CHECK(s->timeToDeliverMs.p95 == 10'000);

    SUBCASE("nothing to rank is null, not zero")
    {
        f.raw.exec("DELETE FROM attempts; UPDATE deliveries SET status = 'pending', completed_at = NULL");
        auto none = statistics(f.db, {}, f.clock);
        REQUIRE(none);
        CHECK_FALSE(none->attemptLatencyMs.p50);
        CHECK_FALSE(none->attemptLatencyMs.p99);
        CHECK_FALSE(none->timeToDeliverMs.p50);
        CHECK_FALSE(none->timeToDeliverMs.p95);
    }
    SUBCASE("one value is every percentile")
    {
        f.raw.exec("DELETE FROM attempts WHERE duration_ms <> 70");
        auto one = statistics(f.db, {}, f.clock);
        REQUIRE(one);
        CHECK(one->attemptLatencyMs.p50 == 70);
        CHECK(one->attemptLatencyMs.p99 == 70);
    }
}

TEST_CASE("statistics: queue depth names all seven statuses, and the oldest due age counts only due claimable rows "
          "of enabled targets")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("off");
    const int64_t now = f.clock.nowMs();
    auto at = [&](const std::string& status, int64_t nextAttemptAt, const std::string& target = "a") {
        const int64_t id = f.send("x", {target}).deliveryIds[0];
        f.raw.exec("UPDATE deliveries SET status = '" + status +
                   "', next_attempt_at = " + std::to_string(nextAttemptAt) + " WHERE id = " + std::to_string(id));
        return id;
    };
    at("pending", now - 5000);
    const int64_t failed = at("failed", now - 8000);
    at("rate_limited", now + 10'000); // not due yet
    at("in_progress", now - 50'000);  // not claimable
    at("delivered", now - 60'000);
    at("dead_letter", now - 70'000);
    at("pending", now - 90'000, "off");
    REQUIRE(setTargetEnabled(f.db, "off", false, f.clock));

    auto s = statistics(f.db, {}, f.clock);
    REQUIRE_MESSAGE(s, s.error().toString());
    CHECK(s->queueDepth ==
          std::map<DeliveryStatus, int64_t>{{DeliveryStatus::Pending, 2},
                                            {DeliveryStatus::InProgress, 1},
                                            {DeliveryStatus::Failed, 1},
                                            {DeliveryStatus::RateLimited, 1},
                                            {DeliveryStatus::Delivered, 1},
                                            {DeliveryStatus::DeadLetter, 1},
                                            {DeliveryStatus::Waiting, 0}});
    CHECK(s->oldestDueAgeMs == 8000);
    f.clock.advance(1000);
    CHECK(statistics(f.db, {}, f.clock)->oldestDueAgeMs == 9000);

    SUBCASE("nothing due is null")
    {
        f.raw.exec("UPDATE deliveries SET next_attempt_at = " + std::to_string(now + 60'000));
        CHECK_FALSE(statistics(f.db, {}, f.clock)->oldestDueAgeMs);
    }
    SUBCASE("an empty database still names every status")
    {
        f.raw.exec("DELETE FROM deliveries");
        auto empty = statistics(f.db, {}, f.clock);
        REQUIRE(empty);
        CHECK(empty->queueDepth.size() == 7);
        for (const auto& [status, n] : empty->queueDepth) {
            CAPTURE(status);
            CHECK(n == 0);
        }
        CHECK_FALSE(empty->oldestDueAgeMs);
    }
    SUBCASE("the filters apply to the oldest due one too")
    {
        f.raw.exec("UPDATE deliveries SET created_at = created_at - 100000 WHERE id = " + std::to_string(failed));
        auto recent = statistics(f.db, createdSince(now - 1), f.clock);
        REQUIRE(recent);
        CHECK(recent->oldestDueAgeMs == 6000);
        CHECK(recent->queueDepth.at(DeliveryStatus::Failed) == 0);
    }
}

TEST_CASE("statistics: the target, type and since filters narrow every figure, and an unknown target is NotFound")
{
    StoreFixture f;
    f.addTarget("a");
    f.addTarget("b", filteredBy({"order.*"}));
    auto attempt = [&](int64_t id, int ms) {
        f.raw.exec("INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code) VALUES (" +
                   std::to_string(id) + ", 1, 0, " + std::to_string(ms) + ", 200)");
        f.raw.exec("UPDATE deliveries SET status = 'delivered', completed_at = created_at + " +
                   std::to_string(ms * 10) + " WHERE id = " + std::to_string(id));
    };
    auto order = f.send("order.paid");  // a, b
    auto user = f.send("user.created"); // a
    f.clock.advance(60'000);
    auto late = f.send("order.paid"); // a, b
    for (size_t i = 0; i < 2; ++i) {
        attempt(order.deliveryIds[i], order.targetIds[i] == "a" ? 10 : 20);
        attempt(late.deliveryIds[i], late.targetIds[i] == "a" ? 30 : 40);
    }
    attempt(user.deliveryIds[0], 50);

    StatsFilter target;
    target.targetId = "b";
    auto b = statistics(f.db, target, f.clock);
    REQUIRE_MESSAGE(b, b.error().toString());
    CHECK(b->all.total == 2);
    CHECK(b->byTarget.size() == 1);
    CHECK(b->attemptLatencyMs.p50 == 20);
    CHECK(b->attemptLatencyMs.p99 == 40);
    CHECK(b->timeToDeliverMs.p95 == 400);
    CHECK(b->averageResponseTimeMs == doctest::Approx(30.0));

    StatsFilter type;
    type.type = "user.created";
    auto u = statistics(f.db, type, f.clock);
    REQUIRE(u);
    CHECK(u->all.total == 1);
    CHECK(u->byEventType.count("user.created") == 1);
    CHECK(u->attemptLatencyMs.p50 == 50);
    CHECK(u->queueDepth.at(DeliveryStatus::Delivered) == 1);

    StatsFilter all3;
    all3.targetId = "a";
    all3.type = "order.paid";
    all3.createdSince = f.clock.nowMs();
    auto one = statistics(f.db, all3, f.clock);
    REQUIRE(one);
    CHECK(one->all.total == 1);
    CHECK(one->attemptLatencyMs.p50 == 30);
    CHECK(one->timeToDeliverMs.p50 == 300);

    StatsFilter ghost;
    ghost.targetId = "ghost";
    auto missing = statistics(f.db, ghost, f.clock);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().is(Error::Kind::NotFound));
    CHECK(missing.error().message().find("ghost") != std::string::npos);
}

// ---------------------------------------------------------------------------

// The transactional outbox takes an application's own SQLite connection
// (storage/sqlite/outbox.h); there is none for PostgreSQL.
TEST_CASE("storage: sendInTransaction commits and rolls back with the caller's own writes" * sqliteOnly())
{
    StoreFixture f;
    f.addTarget("a");
    SQLite::Database app(f.locator, SQLite::OPEN_READWRITE, 5000);
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

TEST_CASE("storage: sendInTransaction refuses a file webhookd did not create" * sqliteOnly())
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

// ---------------------------------------------------------------------------
// Faults from the driver (support/faulty_connection.h): what the storage
// promises when a statement or a commit fails, on both backends.

namespace {

using Fault = test::FaultyConnection::Fault;
using SqlKind = sql::Error::Kind;

} // namespace

TEST_CASE("storage: a full disk during a send writes nothing and is a Storage error that says so")
{
    StoreFixture f({.faults = true});
    f.addTarget("a");
    f.addTarget("b");
    EventInput e;
    e.type = "order.paid";
    SUBCASE("at the second delivery's insert")
    {
        f.faults->inject(Fault::statement(SqlKind::Full, "INSERT INTO deliveries", 1));
    }
    SUBCASE("at the commit") { f.faults->inject(Fault::commit(SqlKind::Full)); }
    auto r = sendEvent(f.db, e, f.clock);
    REQUIRE_FALSE(r);
    CHECK(f.faults->counts().faults == 1);
    CHECK(r.error().is(Error::Kind::Storage));
    CHECK(r.error().message() == "the disk is full, so could not record the event");
    CHECK(f.rows("events") == 0);
    CHECK(f.rows("deliveries") == 0);
    // Nothing is left half-done on the connection: the next send goes in whole.
    auto next = sendEvent(f.db, e, f.clock);
    REQUIRE_MESSAGE(next, next.error().toString());
    CHECK(next->deliveryIds.size() == 2);
    CHECK(f.rows("events") == 1);
    CHECK(f.rows("deliveries") == 2);
}

TEST_CASE("storage: sendEach keeps a full disk to the event it struck; a full disk at its commit keeps every one out")
{
    StoreFixture f({.faults = true});
    f.addTarget("a");
    std::vector<EventInput> events(3);
    events[0].type = "one";
    events[1].type = "two";
    events[2].type = "three";
    SUBCASE("the second event's delivery")
    {
        f.faults->inject(Fault::statement(SqlKind::Full, "INSERT INTO deliveries", 1));
        auto each = sendEach(f.db, events, f.clock);
        REQUIRE_MESSAGE(each, each.error().toString());
        REQUIRE(each->size() == 3);
        CHECK((*each)[0]);
        CHECK((*each)[2]);
        REQUIRE_FALSE((*each)[1]);
        CHECK((*each)[1].error().is(Error::Kind::Storage));
        CHECK((*each)[1].error().message() == "the disk is full, so could not record the event");
        CHECK(f.rows("events") == 2);
        CHECK(f.rows("deliveries") == 2);
        CHECK(f.count("SELECT count(*) FROM events WHERE type = 'two'") == 0);
    }
    SUBCASE("the commit")
    {
        f.faults->inject(Fault::commit(SqlKind::Full));
        auto each = sendEach(f.db, events, f.clock);
        REQUIRE_FALSE(each);
        CHECK(each.error().is(Error::Kind::Storage));
        CHECK(f.rows("events") == 0);
        CHECK(f.rows("deliveries") == 0);
    }
}

TEST_CASE("storage: a lost connection is Unavailable (the API's 503 store_unavailable) and writes nothing")
{
    StoreFixture f({.faults = true});
    f.addTarget("a");
    SUBCASE("mid-transaction")
    {
        f.faults->inject(Fault::statement(SqlKind::Connection, "INSERT INTO deliveries"));
        EventInput e;
        e.type = "order.paid";
        auto sent = sendEvent(f.db, e, f.clock);
        REQUIRE_FALSE(sent);
        CHECK(sent.error().is(Error::Kind::Unavailable));
        CHECK(f.rows("events") == 0);
        const api::Problem problem = api::fromError(sent.error());
        CHECK(problem.status == 503);
        CHECK(problem.code == "store_unavailable");
    }
    SUBCASE("at a commit")
    {
        f.faults->inject(Fault::commit(SqlKind::Connection));
        TargetSpec spec;
        spec.url = "http://127.0.0.1:9/b";
        auto t = addTarget(f.db, "b", spec, f.clock);
        REQUIRE_FALSE(t);
        CHECK(t.error().is(Error::Kind::Unavailable));
        CHECK(f.rows("targets") == 1);
    }
    SUBCASE("a read")
    {
        f.faults->inject(Fault::statement(SqlKind::Connection));
        auto listed = listTargets(f.db);
        REQUIRE_FALSE(listed);
        CHECK(listed.error().is(Error::Kind::Unavailable));
    }
    // The next call, with the connection back, works.
    CHECK(listTargets(f.db).value().size() == 1);
}

TEST_CASE("storage: a deferred write is seen by the transaction's next statement; one that fails loses the "
          "transaction, and the connection goes on")
{
    // PostgreSQL sends deferred writes in pipeline mode, with the next
    // statement that returns something or the commit; SQLite runs them at
    // once. Either way an error surfaces by the commit, and nothing of the
    // transaction stays.
    StoreFixture f;
    f.addTarget("a");
    const int64_t id = f.sendTo("a");
    auto& c = detail::sql(f.db);
    sql::Statement good(c, "UPDATE deliveries SET retry_base = 7 WHERE id = " + std::to_string(id));
    sql::Statement read(c, "SELECT retry_base FROM deliveries WHERE id = " + std::to_string(id));
    const std::string written = "SELECT count(*) FROM deliveries WHERE retry_base = 7";
    SUBCASE("read back, then committed")
    {
        sql::Transaction tx(c, true);
        good.execDeferred();
        REQUIRE(read.executeStep());
        CHECK(read.getColumn(0).getInt64() == 7);
        read.reset();
        tx.commit();
        CHECK(f.count(written) == 1);
    }
    SUBCASE("refused: at the next read or at the commit, and nothing stays")
    {
        for (const bool readAfter : {true, false}) {
            CAPTURE(readAfter);
            std::optional<sql::Error::Kind> failed;
            try {
                sql::Transaction tx(c, true);
                good.reset();
                good.execDeferred();
                sql::Statement(c, "UPDATE deliveries SET attempt_count = -1 WHERE id = " + std::to_string(id))
                    .execDeferred(); // SQLite: refused here
                if (readAfter)
                    read.executeStep(); // PostgreSQL: here
                read.reset();
                tx.commit(); // or here
            } catch (const sql::Error& e) {
                failed = e.kind();
            }
            REQUIRE(failed.has_value());
            CHECK(static_cast<int>(*failed) == static_cast<int>(sql::Error::Kind::Constraint));
            CHECK(f.count(written) == 0);
        }
    }
    // The connection goes on.
    {
        sql::Transaction tx(c, true);
        good.reset();
        good.execDeferred();
        tx.commit();
    }
    CHECK(f.count(written) == 1);
}

TEST_CASE("storage: a statement whose run failed is ready again after a reset, with no error of the old run")
{
    // The queue's statements live as long as it does: a claim that failed
    // (a busy store, a refused row) must not fail the next one as well.
    StoreFixture f;
    f.addTarget("a");
    const int64_t id = f.sendTo("a");
    auto& c = detail::sql(f.db);
    sql::Statement q(c,
                     "UPDATE deliveries SET attempt_count = " + c.placeholder(1) + " WHERE id = " + std::to_string(id));
    CHECK_THROWS_AS(detail::execWith(q, -1), sql::Error);
    CHECK_NOTHROW(q.reset());
    CHECK(detail::execWith(q, 3) == 1);
    CHECK(f.count("SELECT attempt_count FROM deliveries WHERE id = " + std::to_string(id)) == 3);
}

TEST_CASE("storage: a transaction's first statement, sent with its BEGIN, goes again on a new connection when the "
          "server had closed the old one" *
          test::postgresOnly())
{
    StoreFixture f;
    f.addTarget("a");
    f.sendTo("a");
    Queue q(f.db, "w");
    // The server ends the idle connection (a restart, an idle timeout).
    auto cut = [&] {
        CHECK(f.count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                      "current_database() AND application_name = 'webhookd'") >= 1);
    };
    const std::string leased = "SELECT count(*) FROM deliveries WHERE status = 'in_progress' AND lease_owner = 'w'";
    cut();
    auto claimed = q.claim(f.clock.nowMs(), 60'000, 30'000, 10); // its first statement reads
    REQUIRE(claimed);
    REQUIRE(claimed->claimed.size() == 1);
    CHECK(f.count(leased) == 1);
    cut();
    CHECK(q.release({claimed->claimed[0].id}, f.clock.nowMs())); // its first statement writes
    CHECK(f.count(leased) == 0);
}

TEST_CASE("storage: every statement of SQLite's catalog prepares against a migrated file" * sqliteOnly())
{
    // SQLite prepares a statement when it is built: each must name tables
    // and columns that exist.
    StoreFixture f;
    auto& lite = detail::sql(f.db);
    for (size_t i = 0; i < sql::kStatementCount; ++i) {
        const auto q = static_cast<sql::Q>(i);
        CAPTURE(sql::statementName(q));
        CHECK(lite.text(q) == sqlite::statement(q));
        CHECK_NOTHROW(sql::Statement(lite, q));
    }
}

TEST_CASE("storage: every statement of PostgreSQL's catalog prepares on a real server" * test::postgresOnly())
{
    // The server parses, analyses and types each one (no parameter left
    // untyped, no SQLite spelling).
    StoreFixture f;
    auto& server = static_cast<postgres::Connection&>(detail::sql(f.db));
    for (size_t i = 0; i < sql::kStatementCount; ++i) {
        const auto q = static_cast<sql::Q>(i);
        CAPTURE(sql::statementName(q));
        CHECK(server.text(q) == postgres::statement(q));
        CHECK(server.text(q).find('?') == std::string::npos);
        CHECK_NOTHROW(server.prepareOnly(server.text(q)));
    }
}

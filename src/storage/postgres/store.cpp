// The PostgreSQL backend: one database shared by workers on many hosts
// (storage/sql/connection.h). webhookd's tables live in the connection's
// current schema (search_path), beside webhookd_migrations, which records
// the schema version.

#include <chrono>

#include "core/validate.h"
#include "storage/postgres/driver.h"
#include "storage/sql/connection.h"
#include "storage/sql/migrations.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace {

// pg_advisory_lock's key for applying migrations: "WHKD", as SQLite's application_id.
constexpr int64_t kMigrationLock = 0x57484B44;

int64_t nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class Store final : public Database::Impl {
public:
    postgres::Connection& pg() { return static_cast<postgres::Connection&>(*conn); }

    int schemaVersion() override
    {
        if (sql::queryInt64(*conn, "SELECT CAST(to_regclass('webhookd_migrations') IS NOT NULL AS int)") == 0)
            return 0;
        return static_cast<int>(sql::queryInt64(*conn, "SELECT coalesce(max(version), 0) FROM webhookd_migrations"));
    }

    Result<int> migrate() override
    {
        // Every webhookd that starts at once on a fresh database waits here;
        // the first applies the migrations, the others find them done.
        conn->exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");
        struct Unlock {
            sql::Connection& c;
            ~Unlock()
            {
                try {
                    c.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
                } catch (...) { }
            }
        } unlock{*conn};
        conn->exec("CREATE TABLE IF NOT EXISTS webhookd_migrations (version bigint PRIMARY KEY, name text NOT NULL,"
                   " applied_at bigint NOT NULL)");
        int applied = 0;
        for (const auto& m : detail::postgresMigrations()) {
            if (schemaVersion() >= m.version)
                continue;
            sql::Transaction tx(*conn, true);
            conn->exec(std::string(m.sql));
            sql::Statement record(*conn,
                                  "INSERT INTO webhookd_migrations (version, name, applied_at) VALUES ($1, $2, $3)");
            record.bind(1, m.version);
            record.bind(2, std::string(m.name));
            record.bind(3, nowMs());
            record.exec();
            tx.commit();
            ++applied;
        }
        return applied;
    }

    Status checkIdentity() const override { return {}; }
    void setDurability(Durability durability) override { pg().setSynchronousCommit(durability == Durability::Full); }
    // A connection that does not listen cannot tell: every call says "changed".
    int64_t changeVersion() override
    {
        return pg().listening() ? static_cast<int64_t>(pg().changes()) : static_cast<int64_t>(++unheard);
    }
    int64_t targetsVersion() override
    {
        return pg().listening() ? static_cast<int64_t>(pg().targetChanges()) : static_cast<int64_t>(++unheard);
    }
    std::optional<int64_t> clockOffsetMs() override { return lastClockOffsetMs = pg().clockOffsetMs(); }

    // PostgreSQL has no free-list to give back (its autovacuum reuses space
    // in place): its size is reported in 8 KiB pages and the rest as nothing.
    bool concurrentWriters() const override { return true; }
    int64_t pageCount() override
    {
        return sql::queryInt64(*conn, "SELECT pg_database_size(current_database()) / 8192");
    }
    bool givesBackPages() override { return false; }
    int64_t freePages() override { return 0; }
    void giveBackPages(int) override { }
    void checkpoint() override { } // the server checkpoints on its own schedule
    bool reusesSpaceInPlace() const override { return true; }
    VacuumResult vacuum() override
    {
        VacuumResult r;
        r.pagesBefore = pageCount();
        conn->exec("VACUUM (ANALYZE)");
        r.pagesAfter = pageCount();
        return r;
    }
    // Rows copied in with their ids leave the sequences behind them.
    void idsCopied() override
    {
        for (const char* t : {"events", "deliveries", "attempts"})
            conn->exec(std::string("SELECT setval(pg_get_serial_sequence('") + t +
                       "', 'id'), coalesce(max(id), 0) + 1, false) FROM " + t);
    }

    ~Store() override { cache = {}; }

    uint64_t unheard = 0;
};

} // namespace

namespace detail {

Result<std::unique_ptr<Database::Impl>> openPostgres(const std::string& url, const OpenOptions& options)
{
    const std::string shown = redactLocator(url);
    auto store = std::make_unique<Store>();
    store->path = shown;
    try {
        postgres::Settings settings;
        settings.synchronousCommit = options.durability == Durability::Full;
        settings.lockTimeoutMs = options.busyTimeoutMs;
        settings.listen = options.notifications;
        store->conn = std::make_unique<postgres::Connection>(url, settings);
    } catch (const sql::Error& e) {
        const std::string message = std::string(e.what()) + " (" + shown + ")";
        return fail(e.kind() == sql::Error::Kind::Connection ? Error::unavailable(message) : Error::storage(message));
    }
    return guarded("open the database", [&]() -> Result<std::unique_ptr<Database::Impl>> {
        auto& c = *store->conn;
        if (store->pg().serverVersion() < 120000)
            return fail(Error::invalid("webhookd needs PostgreSQL 12 or newer; " + shown + " runs " +
                                       std::to_string(store->pg().serverVersion() / 10000)));
        store->readOnly =
            sql::queryInt64(c, "SELECT CAST(current_setting('transaction_read_only') = 'on' AS int)") != 0;
        if (store->schemaVersion() == 0 &&
            sql::queryInt64(c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()") > 0)
            return fail(Error::invalid(shown +
                                       " holds tables but not webhookd's; give webhookd a database (or a"
                                       " schema, with search_path) of its own"));
        return std::unique_ptr<Database::Impl>(std::move(store));
    });
}

uint64_t postgresOutages() { return postgres::outages(); }

} // namespace detail

} // namespace webhookd

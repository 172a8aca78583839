// The SQLite backend: a file on this host (storage/sql/connection.h).

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include "core/log.h"
#include "core/validate.h"
#include "storage/sql/connection.h"
#include "storage/sql/migrations.h"
#include "storage/sql/sql_error.h"
#include "storage/sqlite/driver.h"

namespace webhookd {

namespace {

constexpr int64_t kApplicationId = 0x57484B44; // "WHKD"

Status createPrivateFile(const std::string& path)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return {};
        return fail(Error::storage("could not create the database file " + path + ": " + std::strerror(errno)));
    }
    ::close(fd);
    return {};
}

// A database holds signing secrets: one that group or others may read (made
// by hand, or before webhookd made them private) is made private when it is
// opened for writing, with its -wal and -shm files.
void keepPrivate(const std::string& path)
{
    for (const std::string& f : {path, path + "-wal", path + "-shm"}) {
        struct stat st { };
        if (::stat(f.c_str(), &st) != 0 || (st.st_mode & 077) == 0 || st.st_uid != ::geteuid())
            continue;
        if (::chmod(f.c_str(), st.st_mode & 0700) == 0)
            Log::warn("made the database file private (mode 0600): it holds signing secrets", {{"file", f}});
    }
}

// SQLite's WAL needs shared memory on one host; over NFS or SMB two hosts
// would each think they hold the lock.
void warnOnNetworkFileSystem(const std::string& path)
{
    struct statfs fs { };
    if (::statfs(path.c_str(), &fs) != 0)
        return;
    const auto type = static_cast<unsigned long>(fs.f_type);
    const char* name = type == 0x6969 ? "NFS" : type == 0xFF534D42 ? "CIFS" : type == 0xFE534D42 ? "SMB" : nullptr;
    if (name)
        Log::warn(std::string("the database is on a network file system (") + name +
                      "): SQLite's WAL works on one host only; keep every webhookd and webhookctl on the host that "
                      "holds the file, or use PostgreSQL",
                  {{"file", path}});
}

bool canReadImmutable(const std::string& path)
{
    struct stat st { };
    return ::stat((path + "-wal").c_str(), &st) != 0 || st.st_size == 0;
}

std::string immutableUri(const std::string& path)
{
    std::string uri = "file:";
    for (unsigned char c : path) {
        if (c == '%' || c == '?' || c == '#' || c < 0x20) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            uri += buf;
        } else {
            uri += static_cast<char>(c);
        }
    }
    return uri + "?immutable=1";
}

class Store final : public Database::Impl {
public:
    SQLite::Database& db() { return static_cast<sqlite::Connection&>(*conn).handle(); }

    int schemaVersion() override { return static_cast<int>(sql::queryInt64(*conn, "PRAGMA user_version")); }

    Result<int> migrate() override
    {
        int applied = 0;
        for (const auto& m : detail::migrations()) {
            // Each migration and its version bump commit together, so a crash
            // leaves the file at a whole version; re-running skips what is done.
            sql::Transaction tx(*conn, true);
            if (schemaVersion() >= m.version)
                continue;
            conn->exec(std::string(m.sql));
            conn->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
            conn->exec("PRAGMA user_version = " + std::to_string(m.version));
            tx.commit();
            ++applied;
        }
        return applied;
    }

    Status checkIdentity() const override
    {
        struct stat now { };
        if (::stat(path.c_str(), &now) != 0)
            return fail(Error::storage("the database file " + path + " was removed while it was open"));
        if (static_cast<uint64_t>(now.st_dev) != device || static_cast<uint64_t>(now.st_ino) != inode)
            return fail(Error::storage("the database file " + path +
                                       " was replaced while it was open (restored from a backup?); restart to use "
                                       "the new one"));
        return {};
    }

    void setDurability(Durability durability) override
    {
        conn->exec(durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    }

    // SQLite's data_version: changes when another connection commits. Cheap.
    int64_t changeVersion() override
    {
        if (!dataVersion)
            dataVersion = std::make_unique<sql::Statement>(*conn, "PRAGMA data_version");
        dataVersion->reset();
        dataVersion->executeStep();
        const int64_t v = dataVersion->getColumn(0).getInt64();
        dataVersion->reset(); // no statement may stay mid-result (see storage/sql/queue.cpp)
        return v;
    }
    int64_t targetsVersion() override { return changeVersion(); }

    bool concurrentWriters() const override { return false; }
    int64_t pageCount() override { return sql::queryInt64(*conn, "PRAGMA page_count"); }
    // PRAGMA auto_vacuum answers from the file header as this connection last
    // read it; a read first brings that up to date (another connection may
    // have vacuumed the file since). 2 is INCREMENTAL.
    bool givesBackPages() override
    {
        sql::queryInt64(*conn, "SELECT count(*) FROM sqlite_schema");
        return sql::queryInt64(*conn, "PRAGMA auto_vacuum") == 2;
    }
    int64_t freePages() override { return sql::queryInt64(*conn, "PRAGMA freelist_count"); }
    void giveBackPages(int n) override
    {
        sql::Transaction tx(*conn, true);
        conn->exec("PRAGMA incremental_vacuum(" + std::to_string(n) + ")");
        tx.commit();
    }
    void checkpoint() override { conn->exec("PRAGMA wal_checkpoint(PASSIVE)"); }
    bool reusesSpaceInPlace() const override { return false; }
    VacuumResult vacuum() override
    {
        VacuumResult r;
        r.pagesBefore = pageCount();
        sql::queryInt64(*conn, "SELECT count(*) FROM sqlite_schema");
        if (sql::queryInt64(*conn, "PRAGMA auto_vacuum") == 0) { // NONE
            // Takes effect with the VACUUM that follows (it works in WAL mode too).
            conn->exec("PRAGMA auto_vacuum = INCREMENTAL");
            r.switchedToIncremental = true;
        }
        conn->exec("VACUUM");
        checkpoint();
        r.pagesAfter = pageCount();
        return r;
    }
    void idsCopied() override { } // INTEGER PRIMARY KEY continues past the largest id by itself

    ~Store() override
    {
        cache = {}; // statements go before the connection they belong to
        dataVersion.reset();
    }

    std::unique_ptr<sql::Statement> dataVersion; // prepared once: it runs on every claim and send
    // The file as opened, to notice it being replaced (checkIdentity).
    uint64_t device = 0;
    uint64_t inode = 0;
};

} // namespace

SQLite::Database& sqlite::handle(Database& db)
{
    return static_cast<sqlite::Connection&>(*detailImpl(db).conn).handle();
}

namespace detail {

Result<std::unique_ptr<Database::Impl>> openSqlite(const std::string& path, const OpenOptions& options)
{
    if (path.empty())
        return fail(Error::invalid("the database locator names no file"));
    struct stat st { };
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (!exists) {
        if (!options.create)
            return fail(Error::notFound("the database " + path + " does not exist; create it with 'webhookctl init'"));
        // SQLite would create the file with the umask's mode; a database holds
        // signing secrets, so it is made private first. SQLite gives the -wal
        // and -shm files the same mode as the database.
        if (auto s = createPrivateFile(path); !s)
            return fail(s.error());
    } else if (S_ISDIR(st.st_mode)) {
        return fail(Error::invalid(path + " is a folder, not a database file"));
    }
    const bool writable = ::access(path.c_str(), W_OK) == 0;

    return guarded("open the database", [&]() -> Result<std::unique_ptr<Database::Impl>> {
        std::unique_ptr<SQLite::Database> db;
        int64_t appId = 0;
        try {
            const int flags = writable ? SQLite::OPEN_READWRITE : SQLite::OPEN_READONLY;
            db = std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX, options.busyTimeoutMs);
            // A file that is not SQLite at all fails here with SQLITE_NOTADB.
            try {
                appId = db->execAndGet("PRAGMA application_id").getInt64();
            } catch (const SQLite::Exception& e) {
                if (e.getErrorCode() == SQLITE_NOTADB)
                    return fail(Error::invalid(path + " is not a SQLite database"));
                if (writable || !canReadImmutable(path))
                    throw;
                // A read-only WAL database in a folder we cannot write: SQLite
                // cannot create the -shm file it wants. With no -wal file left
                // the database file holds everything, so read it as immutable.
                db = std::make_unique<SQLite::Database>(immutableUri(path),
                                                        SQLite::OPEN_READONLY | SQLite::OPEN_URI | SQLite::OPEN_NOMUTEX,
                                                        options.busyTimeoutMs);
                appId = db->execAndGet("PRAGMA application_id").getInt64();
            }
        } catch (const SQLite::Exception& e) {
            throw sqlite::translate(e);
        }
        auto store = std::make_unique<Store>();
        store->conn = std::make_unique<sqlite::Connection>(std::move(db));
        store->path = path;
        store->readOnly = !writable;
        struct stat opened { };
        if (::stat(path.c_str(), &opened) == 0) {
            store->device = opened.st_dev;
            store->inode = opened.st_ino;
        }
        auto& sql = *store->conn;
        const int version = store->schemaVersion();
        const bool empty = sql::queryInt64(sql, "SELECT count(*) FROM sqlite_schema") == 0;
        if (!empty && appId != kApplicationId)
            return fail(Error::invalid(path + " is a SQLite database but not a webhookd one"));
        if (writable) {
            keepPrivate(path);
            warnOnNetworkFileSystem(path);
            // Only possible before the first table exists (and before WAL mode
            // writes the header): later, only a VACUUM can switch it. Lets a
            // purge give freed pages back to the file system in small steps.
            if (empty && version == 0)
                sql.exec("PRAGMA auto_vacuum = INCREMENTAL");
            sql.exec("PRAGMA journal_mode = WAL");
            sql.exec("PRAGMA foreign_keys = ON");
            sql.exec("PRAGMA temp_store = MEMORY");
            sql.exec("PRAGMA cache_size = -16000"); // 16 MB
        } else {
            sql.exec("PRAGMA query_only = ON");
        }
        return std::unique_ptr<Database::Impl>(std::move(store));
    });
}

} // namespace detail

} // namespace webhookd

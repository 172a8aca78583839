#include "storage/database.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include "storage/migrations.h"
#include "storage/sql_error.h"

namespace webhookd {

namespace detail {

Error mapSqlError(const SQLite::Exception& e, std::string_view what)
{
    const std::string op(what);
    switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return Error::busy("the database stayed locked by another process while trying to " + op);
    case SQLITE_READONLY:
        return Error::readOnly("the database is read-only, so could not " + op);
    case SQLITE_FULL:
        return Error::storage("the disk is full, so could not " + op);
    case SQLITE_CONSTRAINT:
        return Error::invalid("could not " + op + ": " + e.what());
    case SQLITE_CANTOPEN:
        return Error::storage("could not open the database to " + op + ": " + e.what());
    default:
        return Error::storage("could not " + op + ": " + e.what());
    }
}

} // namespace detail

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

bool canReadImmutable(const std::string& path)
{
    struct stat st {};
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

} // namespace

Database::Database(std::unique_ptr<SQLite::Database> db, std::string path, bool readOnly)
    : db_(std::move(db)), path_(std::move(path)), readOnly_(readOnly)
{
}

Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&& other) noexcept
{
    if (this != &other) {
        cache_ = {}; // statements of the old connection go before it does
        dataVersion_.reset();
        db_ = std::move(other.db_);
        dataVersion_ = std::move(other.dataVersion_);
        cache_ = std::move(other.cache_);
        targetsGeneration_ = other.targetsGeneration_;
        path_ = std::move(other.path_);
        readOnly_ = other.readOnly_;
    }
    return *this;
}
Database::~Database() = default;

int Database::latestSchemaVersion() { return static_cast<int>(detail::migrations().size()); }

Result<Database> Database::open(const std::string& path, const OpenOptions& options)
{
    struct stat st {};
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

    return detail::guarded("open the database", [&]() -> Result<Database> {
        const int flags = writable ? SQLite::OPEN_READWRITE : SQLite::OPEN_READONLY;
        auto db = std::make_unique<SQLite::Database>(path, flags | SQLite::OPEN_NOMUTEX, options.busyTimeoutMs);

        // A file that is not SQLite at all fails here with SQLITE_NOTADB.
        int64_t appId = 0;
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
        Database out(std::move(db), path, !writable);
        auto& sql = *out.db_;
        const int version = out.schemaVersion();
        const bool empty = sql.execAndGet("SELECT count(*) FROM sqlite_schema").getInt() == 0;
        if (!empty && appId != kApplicationId)
            return fail(Error::invalid(path + " is a SQLite database but not a webhookd one"));
        if (version > latestSchemaVersion())
            return fail(Error::invalid("the database " + path + " has schema version " + std::to_string(version) +
                                       ", newer than this webhookd understands (" +
                                       std::to_string(latestSchemaVersion()) + "); upgrade webhookd"));

        if (writable) {
            // Only possible before the first table exists (and before WAL mode
            // writes the header): later, only a VACUUM can switch it. Lets a
            // purge give freed pages back to the file system in small steps.
            if (empty && version == 0)
                sql.exec("PRAGMA auto_vacuum = INCREMENTAL");
            sql.exec("PRAGMA journal_mode = WAL");
            sql.exec("PRAGMA foreign_keys = ON");
            sql.exec("PRAGMA temp_store = MEMORY");
            sql.exec("PRAGMA cache_size = -16000"); // 16 MB
            if (auto s = out.setDurability(options.durability); !s)
                return fail(s.error());
            if (options.migrate && version < latestSchemaVersion()) {
                auto applied = out.migrate();
                if (!applied)
                    return fail(applied.error());
            }
        } else {
            sql.exec("PRAGMA query_only = ON");
        }
        if (out.schemaVersion() == 0 && !options.create)
            return fail(Error::invalid("the database " + path + " is empty; run 'webhookctl init'"));
        return out;
    });
}

int Database::schemaVersion() const { return db_->execAndGet("PRAGMA user_version").getInt(); }

Result<int> Database::migrate()
{
    return detail::guarded("migrate the database", [&]() -> Result<int> {
        int applied = 0;
        for (const auto& m : detail::migrations()) {
            // Each migration and its version bump commit together, so a crash
            // leaves the file at a whole version; re-running skips what is done.
            SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
            if (schemaVersion() >= m.version)
                continue;
            db_->exec(std::string(m.sql));
            db_->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
            db_->exec("PRAGMA user_version = " + std::to_string(m.version));
            tx.commit();
            ++applied;
        }
        return applied;
    });
}

Status Database::setDurability(Durability durability)
{
    return detail::guarded("set the synchronous level", [&]() -> Status {
        db_->exec(durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        return {};
    });
}

int64_t Database::dataVersion()
{
    if (!dataVersion_)
        dataVersion_ = std::make_unique<SQLite::Statement>(*db_, "PRAGMA data_version");
    dataVersion_->reset();
    dataVersion_->executeStep();
    const int64_t v = dataVersion_->getColumn(0).getInt64();
    dataVersion_->reset(); // no statement may stay mid-result (see storage/queue.cpp)
    return v;
}

} // namespace webhookd

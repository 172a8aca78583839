#include "storage/sqlite/connection.h"

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
#include "storage/sqlite/connection.h"
#include "storage/sqlite/migrations.h"
#include "storage/sqlite/sql_error.h"

namespace webhookd {

namespace detail {

Error mapSqlError(const SQLite::Exception& e, std::string_view what)
{
    const std::string op(what);
    switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Error::busy("the database stayed locked by another process while trying to " + op);
    case SQLITE_READONLY: return Error::readOnly("the database is read-only, so could not " + op);
    case SQLITE_FULL: return Error::storage("the disk is full, so could not " + op);
    case SQLITE_CONSTRAINT: return Error::invalid("could not " + op + ": " + e.what());
    case SQLITE_CANTOPEN: return Error::storage("could not open the database to " + op + ": " + e.what());
    default: return Error::storage("could not " + op + ": " + e.what());
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

} // namespace

Database::Impl::~Impl()
{
    cache = {}; // statements go before the connection they belong to
    dataVersion.reset();
}

Database::Impl& detailImpl(Database& db) { return *db.impl_; }

Database::Database(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

const std::string& Database::path() const { return impl_->path; }
bool Database::readOnly() const { return impl_->readOnly; }

int Database::latestSchemaVersion() { return static_cast<int>(detail::migrations().size()); }

Result<Database> Database::open(const std::string& locator, const OpenOptions& options)
{
    if (locator.rfind("postgres://", 0) == 0 || locator.rfind("postgresql://", 0) == 0)
        return fail(Error::invalid("this webhookd was built without PostgreSQL support, so it cannot open " +
                                   redactUrl(locator)));
    if (options.busyTimeoutMs < 0 || options.busyTimeoutMs > kMaxBusyTimeoutMs)
        return fail(Error::invalid("the busy timeout must be between 0ms and 24h"));
    const std::string path = locator.rfind("sqlite:", 0) == 0 ? locator.substr(7) : locator;
    if (path.empty())
        return fail(Error::invalid("the database locator '" + locator + "' names no file"));
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
        auto impl = std::make_unique<Impl>();
        impl->db = std::move(db);
        impl->path = path;
        impl->readOnly = !writable;
        struct stat opened { };
        if (::stat(path.c_str(), &opened) == 0) {
            impl->device = opened.st_dev;
            impl->inode = opened.st_ino;
        }
        Database out(std::move(impl));
        auto& sql = *out.impl_->db;
        const int version = out.schemaVersion();
        const bool empty = sql.execAndGet("SELECT count(*) FROM sqlite_schema").getInt() == 0;
        if (!empty && appId != kApplicationId)
            return fail(Error::invalid(path + " is a SQLite database but not a webhookd one"));
        if (version > latestSchemaVersion())
            return fail(Error::invalid("the database " + path + " has schema version " + std::to_string(version) +
                                       ", newer than this webhookd understands (" +
                                       std::to_string(latestSchemaVersion()) + "); upgrade webhookd"));

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

int Database::schemaVersion() const { return impl_->db->execAndGet("PRAGMA user_version").getInt(); }

Result<int> Database::migrate()
{
    return detail::guarded("migrate the database", [&]() -> Result<int> {
        int applied = 0;
        for (const auto& m : detail::migrations()) {
            // Each migration and its version bump commit together, so a crash
            // leaves the file at a whole version; re-running skips what is done.
            auto& sql = *impl_->db;
            SQLite::Transaction tx(sql, SQLite::TransactionBehavior::IMMEDIATE);
            if (schemaVersion() >= m.version)
                continue;
            sql.exec(std::string(m.sql));
            sql.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
            sql.exec("PRAGMA user_version = " + std::to_string(m.version));
            tx.commit();
            ++applied;
        }
        return applied;
    });
}

Status Database::checkIdentity() const
{
    struct stat now { };
    if (::stat(impl_->path.c_str(), &now) != 0)
        return fail(Error::storage("the database file " + impl_->path + " was removed while it was open"));
    if (static_cast<uint64_t>(now.st_dev) != impl_->device || static_cast<uint64_t>(now.st_ino) != impl_->inode)
        return fail(
            Error::storage("the database file " + impl_->path +
                           " was replaced while it was open (restored from a backup?); restart to use the new one"));
    return {};
}

Status Database::setDurability(Durability durability)
{
    return detail::guarded("set the synchronous level", [&]() -> Status {
        impl_->db->exec(durability == Durability::Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        return {};
    });
}

namespace detail {

int64_t dataVersion(Database& db)
{
    auto& impl = detailImpl(db);
    if (!impl.dataVersion)
        impl.dataVersion = std::make_unique<SQLite::Statement>(*impl.db, "PRAGMA data_version");
    impl.dataVersion->reset();
    impl.dataVersion->executeStep();
    const int64_t v = impl.dataVersion->getColumn(0).getInt64();
    impl.dataVersion->reset(); // no statement may stay mid-result (see storage/sqlite/queue.cpp)
    return v;
}

} // namespace detail

} // namespace webhookd

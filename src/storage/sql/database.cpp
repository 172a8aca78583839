#include "storage/database.h"

#include "core/validate.h"
#include "storage/sql/connection.h"
#include "storage/sql/migrations.h"
#include "storage/sql/sql_error.h"

namespace webhookd {

namespace detail {

Error mapSqlError(const sql::Error& e, std::string_view what)
{
    const std::string op(what);
    using K = sql::Error::Kind;
    switch (e.kind()) {
    case K::Busy: return Error::busy("the database stayed locked by another process while trying to " + op);
    case K::ReadOnly: return Error::readOnly("the database is read-only, so could not " + op);
    case K::Denied:
        return Error::storage("the database role may not " + op + " (" + e.what() +
                              "): give it the database (CREATE DATABASE … OWNER role) or GRANT what it lacks");
    case K::Full: return Error::storage("the disk is full, so could not " + op);
    case K::Constraint: return Error::invalid("could not " + op + ": " + e.what());
    case K::CantOpen: return Error::storage("could not open the database to " + op + ": " + e.what());
    case K::Connection: return Error::unavailable("the store cannot be reached, so could not " + op + ": " + e.what());
    default: return Error::storage("could not " + op + ": " + e.what());
    }
}

// The backends' openers (storage/sqlite/store.cpp, storage/postgres/store.cpp).
Result<std::unique_ptr<Database::Impl>> openSqlite(const std::string& path, const OpenOptions& options);
Result<std::unique_ptr<Database::Impl>> openPostgres(const std::string& url, const OpenOptions& options);
uint64_t postgresOutages();

} // namespace detail

Database::Impl::~Impl() = default;

Database::Impl& detailImpl(Database& db) { return *db.impl_; }

Database::Database(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

const std::string& Database::path() const { return impl_->path; }
bool Database::readOnly() const { return impl_->readOnly; }

uint64_t Database::outages() { return detail::postgresOutages(); }

int Database::latestSchemaVersion() { return static_cast<int>(detail::migrations().size()); }

bool Database::isServerLocator(const std::string& locator)
{
    return locator.rfind("postgres://", 0) == 0 || locator.rfind("postgresql://", 0) == 0;
}

Result<Database> Database::open(const std::string& locator, const OpenOptions& options)
{
    if (options.busyTimeoutMs < 0 || options.busyTimeoutMs > kMaxBusyTimeoutMs)
        return fail(Error::invalid("the busy timeout must be between 0ms and 24h"));
    const bool pg = isServerLocator(locator);
    const std::string file = locator.rfind("sqlite:", 0) == 0 ? locator.substr(7) : locator;
    if (!pg && file.empty())
        return fail(Error::invalid("the database locator '" + locator + "' names no file"));
    auto impl = pg ? detail::openPostgres(locator, options) : detail::openSqlite(file, options);
    if (!impl)
        return fail(impl.error());
    Database out(std::move(*impl));
    const std::string& where = out.path();
    const int version = out.schemaVersion();
    if (version > latestSchemaVersion())
        return fail(Error::invalid("the database " + where + " has schema version " + std::to_string(version) +
                                   ", newer than this webhookd understands (" + std::to_string(latestSchemaVersion()) +
                                   "); upgrade webhookd"));
    if (!out.readOnly()) {
        if (auto s = out.setDurability(options.durability); !s)
            return fail(s.error());
        if (options.migrate && version < latestSchemaVersion()) {
            auto applied = out.migrate();
            if (!applied)
                return fail(applied.error());
        }
    }
    if (out.schemaVersion() == 0 && !options.create)
        return fail(Error::invalid("the database " + where + " is empty; run 'webhookctl init'"));
    if (options.wrapConnection)
        out.impl_->front = options.wrapConnection(*out.impl_->conn);
    return out;
}

int Database::schemaVersion() const
{
    try {
        return impl_->schemaVersion();
    } catch (const sql::Error&) {
        return 0;
    }
}

Result<int> Database::migrate()
{
    return detail::guarded("migrate the database", [&]() -> Result<int> { return impl_->migrate(); });
}

Status Database::checkIdentity() const { return impl_->checkIdentity(); }

Status Database::setDurability(Durability durability)
{
    return detail::guarded("set the synchronous level", [&]() -> Status {
        impl_->setDurability(durability);
        return {};
    });
}

std::optional<int64_t> Database::storeClockOffsetMs()
{
    try {
        return impl_->clockOffsetMs();
    } catch (const sql::Error&) {
        return impl_->lastClockOffsetMs; // the server cannot be asked now: the last measurement holds
    }
}

} // namespace webhookd

#include "storage/sqlite/driver.h"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include "storage/sqlite/statements.h"

namespace webhookd::sqlite {

sql::Error translate(const SQLite::Exception& e)
{
    using K = sql::Error::Kind;
    K kind = K::Other;
    switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: kind = K::Busy; break;
    case SQLITE_READONLY: kind = K::ReadOnly; break;
    case SQLITE_FULL: kind = K::Full; break;
    case SQLITE_CONSTRAINT: kind = K::Constraint; break;
    case SQLITE_CANTOPEN: kind = K::CantOpen; break;
    case SQLITE_NOTADB: kind = K::NotADatabase; break;
    default: break;
    }
    return sql::Error(kind, e.what(), e.getErrorCode());
}

namespace {

template <typename F>
auto translated(F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const SQLite::Exception& e) {
        throw translate(e);
    }
}

class Statement final : public sql::StatementImpl {
public:
    Statement(SQLite::Database& db, const std::string& sql)
        : q_(translated([&] { return SQLite::Statement(db, sql); }))
    { }
    void bindNull(int i) override { q_.bind(i); }
    void bindInt64(int i, int64_t v) override { q_.bind(i, static_cast<int64_t>(v)); }
    void bindDouble(int i, double v) override { q_.bind(i, v); }
    void bindText(int i, std::string_view v) override
    {
        translated([&] { q_.bind(i, std::string(v)); });
    }
    void bindBlob(int i, const void* data, size_t size) override
    {
        translated([&] { q_.bind(i, data, static_cast<int>(size)); });
    }
    void clearBindings() override { q_.clearBindings(); }
    bool step() override
    {
        return translated([&] { return q_.executeStep(); });
    }
    int64_t exec() override
    {
        return translated([&] { return static_cast<int64_t>(q_.exec()); });
    }
    // sqlite3_reset repeats the error of the run that failed, which its
    // step already reported: the statement is ready again all the same, as
    // the seam promises (and as PostgreSQL's is).
    void reset() override { q_.tryReset(); }
    int columnCount() const override { return q_.getColumnCount(); }
    std::string columnName(int c) const override { return q_.getColumnName(c); }
    char columnKind(int c) const override
    {
        switch (q_.getColumn(c).getType()) {
        case SQLITE_INTEGER: return 'i';
        case SQLITE_FLOAT: return 'r';
        case SQLITE_BLOB: return 'b';
        case SQLITE_NULL: return 'n';
        default: return 't';
        }
    }
    bool isNull(int c) const override { return q_.isColumnNull(c); }
    int64_t int64(int c) const override { return q_.getColumn(c).getInt64(); }
    double real(int c) const override { return q_.getColumn(c).getDouble(); }
    std::string_view text(int c) const override
    {
        auto col = q_.getColumn(c);
        const char* p = col.getText();
        return {p, static_cast<size_t>(col.getBytes())};
    }
    std::string blob(int c) const override
    {
        auto col = q_.getColumn(c);
        return std::string(static_cast<const char*>(col.getBlob()), static_cast<size_t>(col.getBytes()));
    }

private:
    mutable SQLite::Statement q_;
};

} // namespace

Connection::Connection(std::unique_ptr<SQLite::Database> db)
    : owned_(std::move(db)),
      db_(*owned_)
{ }

Connection::Connection(SQLite::Database& db)
    : db_(db)
{ }

const std::string& Connection::text(sql::Q statement) const { return sqlite::statement(statement); }

std::string Connection::placeholder(int n) const { return parameter(n); }

std::unique_ptr<sql::StatementImpl> Connection::prepare(const std::string& sql)
{
    return std::make_unique<Statement>(db_, sql);
}

void Connection::exec(const std::string& sql)
{
    translated([&] { db_.exec(sql); });
}

void Connection::begin(bool immediate)
{
    translated([&] { db_.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN"); });
}

void Connection::commit()
{
    translated([&] { db_.exec("COMMIT"); });
}

void Connection::rollback()
{
    translated([&] { db_.exec("ROLLBACK"); });
}

bool Connection::inTransaction() const { return sqlite3_get_autocommit(db_.getHandle()) == 0; }

} // namespace webhookd::sqlite

#include "support/raw_sql.h"

#include <cstdlib>
#include <optional>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <libpq-fe.h>

#include "storage/database.h"

namespace webhookd::test {

namespace {

constexpr Oid kBoolOid = 16; // pg_type.oid of boolean (catalog/pg_type.dat)

// Integer text as SQLiteCpp's getInt64 reads a value: a real is truncated.
int64_t toInt64(const std::string& text)
{
    if (text.empty())
        return 0;
    char* end = nullptr;
    const long long n = std::strtoll(text.c_str(), &end, 10);
    if (*end == '\0')
        return n;
    return static_cast<int64_t>(std::strtod(text.c_str(), nullptr));
}

} // namespace

struct RawSql::Impl {
    std::optional<SQLite::Database> lite;
    PGconn* pg = nullptr;

    ~Impl()
    {
        if (pg)
            PQfinish(pg);
    }

    // A result of statements that must have succeeded; the caller clears it.
    PGresult* run(const std::string& sql)
    {
        PGresult* r = PQexec(pg, sql.c_str());
        const auto status = PQresultStatus(r);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            std::string message = PQerrorMessage(pg);
            PQclear(r);
            throw SqlError(sql + ": " + message);
        }
        return r;
    }
};

RawSql::RawSql(const std::string& locator, int busyTimeoutMs)
    : impl_(std::make_unique<Impl>())
{
    if (!Database::isServerLocator(locator)) {
        try {
            impl_->lite.emplace(locator, SQLite::OPEN_READWRITE, busyTimeoutMs);
        } catch (const SQLite::Exception& e) {
            throw SqlError("cannot open " + locator + ": " + e.what());
        }
        return;
    }
    impl_->pg = PQconnectdb(locator.c_str());
    if (PQstatus(impl_->pg) != CONNECTION_OK)
        throw SqlError("cannot connect to " + locator + ": " + PQerrorMessage(impl_->pg));
    PQclear(impl_->run("SET lock_timeout = " + std::to_string(busyTimeoutMs)));
}

RawSql::~RawSql() = default;

bool RawSql::postgres() const { return impl_->pg != nullptr; }

void RawSql::exec(const std::string& statements)
{
    if (impl_->pg) {
        PQclear(impl_->run(statements));
        return;
    }
    try {
        impl_->lite->exec(statements);
    } catch (const SQLite::Exception& e) {
        throw SqlError(statements + ": " + e.what());
    }
}

int64_t RawSql::int64(const std::string& query)
{
    if (impl_->pg) {
        PGresult* r = impl_->run(query);
        if (PQntuples(r) == 0 || PQnfields(r) == 0) {
            PQclear(r);
            throw SqlError(query + ": no row");
        }
        const std::string value = PQgetisnull(r, 0, 0) ? std::string() : PQgetvalue(r, 0, 0);
        const bool boolean = PQftype(r, 0) == kBoolOid;
        PQclear(r);
        if (boolean)
            return value == "t" ? 1 : 0;
        return toInt64(value);
    }
    try {
        return impl_->lite->execAndGet(query).getInt64();
    } catch (const SQLite::Exception& e) {
        throw SqlError(query + ": " + e.what());
    }
}

std::string RawSql::text(const std::string& query)
{
    auto all = rows(query);
    if (all.empty() || all[0].empty())
        throw SqlError(query + ": no row");
    return all[0][0];
}

std::vector<std::vector<std::string>> RawSql::rows(const std::string& query)
{
    std::vector<std::vector<std::string>> out;
    if (impl_->pg) {
        PGresult* r = impl_->run(query);
        for (int i = 0; i < PQntuples(r); ++i) {
            auto& row = out.emplace_back();
            for (int c = 0; c < PQnfields(r); ++c)
                row.emplace_back(PQgetisnull(r, i, c) ? "" : PQgetvalue(r, i, c));
        }
        PQclear(r);
        return out;
    }
    try {
        SQLite::Statement q(*impl_->lite, query);
        while (q.executeStep()) {
            auto& row = out.emplace_back();
            for (int c = 0; c < q.getColumnCount(); ++c)
                row.push_back(q.getColumn(c).isNull() ? std::string() : q.getColumn(c).getString());
        }
    } catch (const SQLite::Exception& e) {
        throw SqlError(query + ": " + e.what());
    }
    return out;
}

} // namespace webhookd::test

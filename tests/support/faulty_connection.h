#pragma once

// A driver-level fault injector for the in-process tests, as leveldb's
// SpecialEnv (db/db_test.cc) stands in front of the real Env: a
// sql::Connection that forwards every call to the store's real connection
// and, when told, fails the next BEGIN, statement or COMMIT with the error
// kind a driver reports (Busy, Full, Connection, …), without passing it on.
// It counts every call, so a test can also tell what the storage tried
// (whether it retried, whether it rolled back).
//
// Installed with OpenOptions::wrapConnection once the store is open and
// migrated (StoreOptions::faults does it for the fixture); the Database owns
// it and keeps the real connection alive longer. One thread, as the
// Database.
//
// An injected failure never reaches the database: a failed statement did
// not run, a failed COMMIT did not commit (the storage's Transaction then
// rolls back through this wrapper). A Connection failure is one the driver
// could not hide: PostgreSQL's driver already sends a statement outside a
// transaction once more on a new connection, below this wrapper.
//
// Every virtual member of sql::Connection and sql::StatementImpl is
// forwarded explicitly (final classes), so a member added to the driver's
// interface fails to compile here until it is forwarded too.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "storage/sql/driver.h"

namespace webhookd::test {

class FaultyConnection final : public sql::Connection {
public:
    // real must outlive this.
    explicit FaultyConnection(sql::Connection& real);

    enum class Point { Begin, Statement, Commit };
    struct Fault {
        Point point = Point::Statement;
        sql::Error::Kind kind = sql::Error::Kind::Busy;
        // Statement only: just statements whose SQL (as the storage wrote
        // it) holds this text; empty: any statement.
        std::string sqlContains;
        int skip = 0;  // let this many matching calls through first
        int times = 1; // then fail this many (kForever: until cleared)

        // The next COMMIT, or BEGIN, fails with kind.
        static Fault commit(sql::Error::Kind kind) { return {Point::Commit, kind, {}, 0, 1}; }
        static Fault begin(sql::Error::Kind kind) { return {Point::Begin, kind, {}, 0, 1}; }
        // The next statement holding sqlContains (any, when empty), after
        // skip of them, fails with kind.
        static Fault statement(sql::Error::Kind kind, std::string sqlContains = {}, int skip = 0)
        {
            return {Point::Statement, kind, std::move(sqlContains), skip, 1};
        }
    };
    static constexpr int kForever = -1;

    // Arms a fault; one per point, replacing the one armed there before.
    void inject(Fault fault);
    // Disarms every fault.
    void clear();

    // Calls seen since this was installed (or reset), failed ones included.
    struct Counts {
        int64_t prepares = 0;
        int64_t statements = 0; // statements run: a first step, an exec, a script
        int64_t begins = 0;
        int64_t commits = 0;
        int64_t rollbacks = 0;
        int64_t faults = 0; // calls failed on purpose
    };
    const Counts& counts() const { return counts_; }
    void resetCounts() { counts_ = {}; }

    // sql::Connection, forwarded to the real connection.
    const std::string& text(sql::Q statement) const override;
    std::string placeholder(int n) const override;
    std::unique_ptr<sql::StatementImpl> prepare(const std::string& sql) override;
    void exec(const std::string& sql) override;
    void begin(bool immediate) override;
    void commit() override;
    void rollback() override;
    bool inTransaction() const override;

    // Throws the armed fault at point if it strikes this call (sql is the
    // statement's text); counts the call first. For the statements.
    void strike(Point point, const std::string& sql = {});

private:
    sql::Connection& real_;
    std::array<std::optional<Fault>, 3> armed_;
    Counts counts_;
};

} // namespace webhookd::test

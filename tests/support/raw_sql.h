#pragma once

// A plain connection to a store, beside the library's own, for the
// in-process tests to look at rows and tamper with them behind the
// library's back: SQLiteCpp for a file, libpq directly for a PostgreSQL URL,
// so what the tests see does not pass through the code under test. It runs
// statements with literals only (no parameters), written in the subset both
// backends read. Not thread-safe; one per test.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace webhookd::test {

// A statement the database refused (a constraint, a syntax error, a lock).
class SqlError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class RawSql {
public:
    // A SQLite file (which must exist) or a "postgres://"/"postgresql://" URL.
    // A held lock is waited for up to busyTimeoutMs (SQLite's busy timeout,
    // PostgreSQL's lock_timeout). Throws SqlError when it cannot connect.
    explicit RawSql(const std::string& locator, int busyTimeoutMs = 5000);
    ~RawSql();
    RawSql(const RawSql&) = delete;
    RawSql& operator=(const RawSql&) = delete;

    bool postgres() const;

    // Runs one or more statements separated by ';'. Throws SqlError.
    void exec(const std::string& statements);
    // The first column of the first row as an integer: NULL is 0, a
    // PostgreSQL boolean 0 or 1, a numeric (PostgreSQL's sum) its integer
    // value. Throws SqlError when there is no row.
    int64_t int64(const std::string& query);
    // The first column of the first row as text ("" for NULL). Throws
    // SqlError when there is no row.
    std::string text(const std::string& query);
    // Every row, each column as text ("" for NULL).
    std::vector<std::vector<std::string>> rows(const std::string& query);

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace webhookd::test

#pragma once

// storage/ internals: the SQLite side of storage/sql/driver.h, over SQLiteCpp.

#include <memory>

#include <SQLiteCpp/Database.h>

#include "storage/database.h"
#include "storage/sql/driver.h"

namespace webhookd::sqlite {

class Connection final : public sql::Connection {
public:
    // Owns the connection.
    explicit Connection(std::unique_ptr<SQLite::Database> db);
    // Borrows an application's connection (the outbox); it must outlive this.
    explicit Connection(SQLite::Database& db);

    const std::string& text(sql::Q statement) const override;
    std::string placeholder(int n) const override;
    std::unique_ptr<sql::StatementImpl> prepare(const std::string& sql) override;
    void exec(const std::string& sql) override;
    void begin(bool immediate) override;
    void commit() override;
    void rollback() override;
    bool inTransaction() const override;

    SQLite::Database& handle() { return db_; }

private:
    std::unique_ptr<SQLite::Database> owned_;
    SQLite::Database& db_;
};

// SQLiteCpp's exception as the driver's.
sql::Error translate(const SQLite::Exception& e);

// The SQLiteCpp connection of a SQLite store (tests, SQLite's own pragmas).
SQLite::Database& handle(webhookd::Database& db);

} // namespace webhookd::sqlite

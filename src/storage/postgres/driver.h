#pragma once

// storage/ internals: the PostgreSQL side of storage/sql/driver.h, over libpq.
// Statements are prepared once per connection and SQL text (the server keeps
// them), so the many short-lived sql::Statement objects of the storage code
// cost one round trip each after the first. A connection that breaks is
// re-established before the next transaction or statement outside one. A
// statement outside a transaction that meets a broken connection (a server
// restarted while this one sat idle in a pool) is sent once more on a new
// one; inside a transaction the break is the error of the call that met it
// (Kind::Connection), and the transaction is gone.

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/sql/driver.h"

namespace webhookd::postgres {

struct Settings {
    bool synchronousCommit = true; // synchronous_commit on (off: a crash may lose the last commits, never corrupts)
    int lockTimeoutMs = 5000;      // lock_timeout: how long a row lock is waited for
    bool listen = false;           // LISTEN webhookd: only a connection that calls changes() may
};

// Process-wide: outages of the server seen so far (Database::outages).
uint64_t outages();

class Connection final : public sql::Connection {
public:
    // Connects (libpq's URL or key=value string). Throws sql::Error (CantOpen).
    Connection(const std::string& conninfo, Settings settings);
    ~Connection() override;

    const std::string& text(sql::Q statement) const override;
    std::string placeholder(int n) const override;
    std::unique_ptr<sql::StatementImpl> prepare(const std::string& sql) override;
    void exec(const std::string& sql) override;
    void begin(bool immediate) override;
    void commit() override;
    void rollback() override;
    bool inTransaction() const override { return inTransaction_; }
    bool listening() const { return settings_.listen; }

    void setSynchronousCommit(bool on);

    // Has the server parse, analyse and type sql without running it (the
    // unnamed statement, replaced by the next); throws sql::Error when it
    // refuses. For the test that checks every statement of the catalog.
    void prepareOnly(const std::string& sql);

    // Notifications on the "webhookd" channel from other sessions, counted:
    // any at all, and those that say targets changed (payload "targets").
    // Reads what the socket holds without waiting. Only with Settings::listen;
    // 0 forever otherwise.
    uint64_t changes();
    uint64_t targetChanges();

    // The server's clock minus this host's steady clock, in ms, measured
    // again at most every 10 s when asked (outside a transaction).
    int64_t clockOffsetMs();

    // The server's version number (150004), for messages.
    int serverVersion() const;

    // internals of the statements
    struct Prepared {
        std::string name; // empty: not prepared on this connection yet
        uint64_t generation = 0;
        int parameters = 0; // as the server counted them when it prepared the statement
        std::vector<Oid> types;
    };
    PGconn* handle(); // reconnects first when the connection broke (outside a transaction)
    Prepared& cached(const std::string& sql, const std::vector<Oid>& types);
    [[noreturn]] void raise(PGresult* result); // clears result
    // Runs once, and once more after a broken connection outside a
    // transaction, or before anything but its BEGIN reached the server.
    void retried(const std::function<void()>& once);
    // Pipeline mode (sql::StatementImpl::execDeferred, and every BEGIN):
    // statements sent whose results are not read yet. The next statement
    // that returns something, or the commit, goes with them: one round trip.
    bool pipelining() const { return pending_ > 0; }
    // The pipeline holds the open transaction's BEGIN and nothing else: the
    // statement sent next can go again on a new connection if need be.
    bool firstOfTransaction() const { return inTransaction_ && onlyBegin_ && pending_ == 1; }
    // Enters pipeline mode if need be; call before sending.
    void enterPipeline();
    // One more statement sent in pipeline mode.
    void sent()
    {
        ++pending_;
        onlyBegin_ = false;
    }
    // Sends a sync and reads the pending statements' results, then, with
    // own, that of the statement sent last: returned (nullptr without own).
    // Leaves pipeline mode. Raises the first error met (a statement after it
    // did not run; the transaction is aborted and waits for its ROLLBACK).
    PGresult* syncPipeline(bool own);
    // Reads what the pipeline holds, raising its first error.
    void settle()
    {
        if (pipelining())
            syncPipeline(false);
    }
    uint64_t generation() const { return generation_; }

private:
    void connect();
    void configure();
    // PQreset (which leaves pipeline mode too), then configure(); false when
    // the server cannot be reached.
    bool reconnect();
    void drainNotifications();

    std::string conninfo_;
    Settings settings_;
    PGconn* conn_ = nullptr;
    bool inTransaction_ = false;
    int pending_ = 0;          // statements in the pipeline whose results are not read yet
    bool onlyBegin_ = false;   // the pipeline holds the transaction's BEGIN and nothing else
    uint64_t generation_ = 0; // bumped by each (re)connection: prepared statements are gone
    uint64_t nextName_ = 0;
    std::map<std::pair<std::string, std::vector<Oid>>, Prepared> prepared_;
    uint64_t changes_ = 0, targetChanges_ = 0;
    int64_t clockOffsetMs_ = 0;
    int64_t clockMeasuredAtMs_ = -1;
};

} // namespace webhookd::postgres

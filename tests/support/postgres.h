#pragma once

// The tests' PostgreSQL: a real PostgreSQL 15 server (Debian's
// postgresql-15) that the tests start themselves with pg_server.sh, in a
// folder of its own, and a fresh database for each fixture.
//
// WEBHOOKD_TEST_BACKEND=postgres runs the end-to-end tests on PostgreSQL
// (tests/e2e/meson.build defines a "-pg" twin of each); their fixtures then
// get a database of their own on the process's server. WEBHOOKD_TEST_PG_URL
// names a running server to use instead (an admin URL whose role may create
// databases).

#include <string>

namespace webhookd::test {

// Whether this run's end-to-end tests use PostgreSQL.
bool postgresBackend();

// A PostgreSQL server of the tests' own, stopped when it goes.
class PgServer {
public:
    // Starts a new server on a free loopback port (initdb into a new folder).
    PgServer();
    ~PgServer();
    PgServer(const PgServer&) = delete;
    PgServer& operator=(const PgServer&) = delete;

    // postgresql://webhookd@127.0.0.1:PORT/postgres
    const std::string& adminUrl() const { return adminUrl_; }
    // A new, empty database on this server; returns its URL.
    std::string createDatabase() const;

    // A fast shutdown (every connection is cut), and a start on the same port.
    void stop();
    void start();

private:
    std::string dir_;
    int port_ = 0;
    std::string adminUrl_;
    bool running_ = false;
};

// A new database on the process's shared server (started on first use, or
// WEBHOOKD_TEST_PG_URL's); returns its URL.
std::string freshPostgresDatabase();

} // namespace webhookd::test

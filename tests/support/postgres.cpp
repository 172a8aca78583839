#include "support/postgres.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <libpq-fe.h>

#include "support/helpers.h"
#include "support/process.h"

namespace webhookd::test {

namespace {

std::string script()
{
    const char* root = std::getenv("WEBHOOKD_SOURCE_ROOT");
    return std::string(root ? root : ".") + "/tests/support/pg_server.sh";
}

std::string runScript(const std::vector<std::string>& args)
{
    std::vector<std::string> argv = {"/bin/sh", script()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    if (r.exitCode != 0)
        throw std::runtime_error("pg_server.sh " + args[0] + " failed: " + r.err);
    return r.out;
}

void execOn(const std::string& url, const std::string& statement)
{
    PGconn* c = PQconnectdb(url.c_str());
    if (PQstatus(c) != CONNECTION_OK) {
        std::string m = PQerrorMessage(c);
        PQfinish(c);
        throw std::runtime_error("cannot connect to " + url + ": " + m);
    }
    PGresult* r = PQexec(c, statement.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string m = PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok)
        throw std::runtime_error(statement + ": " + m);
}

std::string withDatabase(const std::string& adminUrl, const std::string& database)
{
    const auto slash = adminUrl.rfind('/');
    return adminUrl.substr(0, slash + 1) + database;
}

std::string newDatabaseOn(const std::string& adminUrl)
{
    static std::atomic<int> counter{0};
    const std::string name = "wt_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    execOn(adminUrl, "CREATE DATABASE " + name);
    return withDatabase(adminUrl, name);
}

} // namespace

bool postgresBackend()
{
    const char* b = std::getenv("WEBHOOKD_TEST_BACKEND");
    return b && std::string(b) == "postgres";
}

PgServer::PgServer()
{
    char tmpl[] = "/tmp/webhookd-pg-XXXXXX"; // under /tmp: the server's user must reach it
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    port_ = unusedPort();
    start();
}

PgServer::~PgServer()
{
    try {
        stop();
    } catch (...) { }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void PgServer::start()
{
    auto out = lines(runScript({"start", dir_, std::to_string(port_)}));
    adminUrl_ = out.empty() ? "" : out.back();
    running_ = true;
}

void PgServer::stop()
{
    if (!running_)
        return;
    runScript({"stop", dir_});
    running_ = false;
}

std::string PgServer::createDatabase() const { return newDatabaseOn(adminUrl_); }

std::string freshPostgresDatabase()
{
    static std::mutex m;
    static std::unique_ptr<PgServer> server;
    std::lock_guard<std::mutex> lock(m);
    if (const char* url = std::getenv("WEBHOOKD_TEST_PG_URL"); url && *url)
        return newDatabaseOn(url);
    if (!server) {
        server = std::make_unique<PgServer>();
        std::atexit([] { server.reset(); });
    }
    return server->createDatabase();
}

} // namespace webhookd::test

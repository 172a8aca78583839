#include "support/fixture.h"

#include <signal.h>

#include <algorithm>

#include <SQLiteCpp/Statement.h>
#include <doctest/doctest.h>

#include "storage/sql/connection.h"
#include "support/postgres.h"

namespace webhookd::test {

namespace {

bool gives(const std::vector<std::string>& flags, const std::string& flag)
{
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

} // namespace

Fixture::Fixture(FixtureOptions options)
    : options_(std::move(options)),
      db_(options_.dbPath         ? *options_.dbPath
              : postgresBackend() ? freshPostgresDatabase()
                                  : dir_.file("webhooks.db"))
{
    if (options_.init)
        ctlOk({"init"});
    if (options_.init && options_.exponentialRetries)
        ctlOk({"defaults", "set", "--retry-schedule", "exponential"});
}

RunResult Fixture::ctl(std::vector<std::string> args, std::optional<std::string> stdinText) const
{
    std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKCTL"), "--db", db_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, std::move(stdinText));
}

std::string Fixture::ctlOk(std::vector<std::string> args, std::optional<std::string> stdinText) const
{
    auto r = ctl(args, std::move(stdinText));
    REQUIRE_MESSAGE(r.exitCode == 0, describe(args, r));
    return r.out;
}

nlohmann::json Fixture::ctlJson(std::vector<std::string> args, std::optional<std::string> stdinText) const
{
    args.push_back("--json");
    auto r = ctl(args, std::move(stdinText));
    REQUIRE_MESSAGE(r.exitCode == 0, describe(args, r));
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), describe(args, r));
    return j;
}

void Fixture::addTarget(const std::string& id, const std::string& url, std::vector<std::string> extra) const
{
    std::vector<std::string> args = {"target", "add", id, "--url", url};
    args.insert(args.end(), options_.targetDefaults.begin(), options_.targetDefaults.end());
    args.insert(args.end(), extra.begin(), extra.end());
    ctlOk(args);
}

int64_t Fixture::send(const std::string& target, const std::string& type, const std::string& data,
                      std::vector<std::string> extra) const
{
    std::vector<std::string> args = {"send", type, "--target", target, "--data", data};
    args.insert(args.end(), extra.begin(), extra.end());
    auto out = lines(ctlOk(args));
    REQUIRE(out.size() == 1);
    return std::stoll(out[0]);
}

std::vector<int64_t> Fixture::sendIds(std::vector<std::string> args, std::optional<std::string> stdinText) const
{
    args.insert(args.begin(), "send");
    auto r = ctl(args, std::move(stdinText));
    REQUIRE_MESSAGE(r.exitCode == 0, describe(args, r));
    std::vector<int64_t> ids;
    for (const auto& l : allLines(r.out)) {
        REQUIRE_MESSAGE((!l.empty() && l.find_first_not_of("0123456789") == std::string::npos),
                        "not a delivery id: '" << l << "'\n"
                                               << describe(args, r));
        ids.push_back(std::stoll(l));
    }
    return ids;
}

std::vector<int64_t> Fixture::sendBatch(const std::string& target, int count, const std::string& type) const
{
    std::string ndjson;
    for (int i = 0; i < count; ++i)
        ndjson += nlohmann::json{{"type", type}, {"data", {{"n", i}}}, {"targets", {target}}}.dump() + "\n";
    std::vector<int64_t> ids;
    for (const auto& line : lines(ctlOk({"send", "--batch", "-"}, ndjson)))
        ids.push_back(std::stoll(line));
    REQUIRE(ids.size() == static_cast<size_t>(count));
    return ids;
}

nlohmann::json Fixture::show(int64_t deliveryId) const
{
    return nlohmann::json::parse(ctlOk({"--json", "delivery", "show", std::to_string(deliveryId)}));
}

Process Fixture::startWorker(std::vector<std::string> extra) const
{
    std::vector<std::string> argv = {binary("WEBHOOKD_BIN_WEBHOOKD"), "--db", db_};
    if (options_.allowPrivateNetworks)
        argv.push_back("--allow-private-networks");
    argv.insert(argv.end(), {"--log-format", "json"});
    if (!gives(extra, "--poll-interval") && !gives(options_.workerFlags, "--poll-interval"))
        argv.insert(argv.end(), {"--poll-interval", options_.pollInterval});
    argv.insert(argv.end(), options_.workerFlags.begin(), options_.workerFlags.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Process::start(argv);
}

std::string Fixture::drain(std::vector<std::string> extra, std::optional<std::chrono::milliseconds> limit) const
{
    extra.insert(extra.begin(), "--drain");
    Process p = startWorker(extra);
    auto code = p.waitFor(limit.value_or(options_.drainLimit));
    if (!code)
        p.kill(SIGKILL);
    INFO("webhookd stderr: " << p.stderrText());
    REQUIRE_MESSAGE(code.has_value(), "webhookd --drain did not finish in time");
    REQUIRE(*code == 0);
    return p.stderrText();
}

SQLite::Database Fixture::sql() const
{
    SQLite::Database conn(db_, SQLite::OPEN_READONLY);
    conn.exec("PRAGMA busy_timeout = 5000");
    return conn;
}

namespace {

// PostgreSQL: through webhookd's own driver (storage/sql/driver.h).
Database openStore(const std::string& url)
{
    OpenOptions o;
    o.migrate = false;
    o.create = true;
    auto db = Database::open(url, o);
    REQUIRE_MESSAGE(db.has_value(), why(db));
    return std::move(*db);
}

// Every row of a statement (SQLiteCpp's or webhookd's driver), as text.
template <typename Statement>
std::vector<std::vector<std::string>> allRows(Statement& q)
{
    std::vector<std::vector<std::string>> rows;
    while (q.executeStep()) {
        std::vector<std::string> row;
        for (int i = 0; i < q.getColumnCount(); ++i)
            row.push_back(q.getColumn(i).getString());
        rows.push_back(std::move(row));
    }
    return rows;
}

} // namespace

int64_t Fixture::sqlInt(const std::string& query) const
{
    if (isPostgres()) {
        auto db = openStore(db_);
        return sql::queryInt64(detail::sql(db), query);
    }
    auto conn = sql();
    return conn.execAndGet(query).getInt64();
}

std::string Fixture::sqlText(const std::string& query) const
{
    if (isPostgres()) {
        auto rows = sqlRows(query);
        return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
    }
    auto conn = sql();
    return conn.execAndGet(query).getString();
}

std::vector<std::vector<std::string>> Fixture::sqlRows(const std::string& query) const
{
    if (isPostgres()) {
        auto db = openStore(db_);
        sql::Statement q(detail::sql(db), query);
        return allRows(q);
    }
    auto conn = sql();
    SQLite::Statement q(conn, query);
    return allRows(q);
}

void Fixture::sqlExec(const std::string& statements) const
{
    if (isPostgres()) {
        auto db = openStore(db_);
        detail::sql(db).exec(statements);
        return;
    }
    SQLite::Database conn(db_, SQLite::OPEN_READWRITE, 5000);
    conn.exec(statements);
}

int64_t Fixture::count(const std::string& from) const { return sqlInt("SELECT count(*) FROM " + from); }

int64_t Fixture::countStatus(const std::string& status) const
{
    return sqlInt("SELECT count(*) FROM deliveries WHERE status = '" + status + "'");
}

std::string Fixture::snapshot() const
{
    if (isPostgres()) {
        std::string out =
            "schema_version=" + std::to_string(sqlInt("SELECT max(version) FROM webhookd_migrations")) + "\n";
        for (const auto& t : sqlRows("SELECT table_name FROM information_schema.tables WHERE table_schema ="
                                     " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")) {
            std::vector<std::string> rows;
            for (const auto& r : sqlRows("SELECT * FROM \"" + t[0] + "\"")) {
                std::string row;
                for (const auto& c : r)
                    row += "'" + c + "'|";
                rows.push_back(row);
            }
            std::sort(rows.begin(), rows.end());
            out += "[" + t[0] + "] " + std::to_string(rows.size()) + " rows\n";
            for (const auto& r : rows)
                out += r + "\n";
        }
        return out;
    }
    auto conn = sql();
    std::string out = "user_version=" + conn.execAndGet("PRAGMA user_version").getString() + "\n";
    std::vector<std::string> tables;
    SQLite::Statement names(conn,
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                            " ORDER BY name");
    while (names.executeStep())
        tables.push_back(names.getColumn(0).getString());
    for (const auto& t : tables) {
        SQLite::Statement all(conn, "SELECT * FROM \"" + t + "\"");
        std::vector<std::string> rows;
        while (all.executeStep()) {
            std::string row;
            for (int i = 0; i < all.getColumnCount(); ++i) {
                auto c = all.getColumn(i);
                row += (c.isNull() ? std::string("NULL") : "'" + c.getString() + "'") + "|";
            }
            rows.push_back(row);
        }
        std::sort(rows.begin(), rows.end());
        out += "[" + t + "] " + std::to_string(rows.size()) + " rows\n";
        for (const auto& r : rows)
            out += r + "\n";
    }
    return out;
}

} // namespace webhookd::test

#include "storage/postgres/driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/text.h"
#include "storage/postgres/statements.h"

namespace webhookd::postgres {

namespace {

constexpr Oid kInt8 = 20;
constexpr Oid kFloat8 = 701;
constexpr Oid kBytea = 17;
constexpr Oid kBool = 16;

// Prepared statements kept per connection; SQL built from many filters
// past this runs unprepared.
constexpr size_t kMaxPrepared = 1000;

std::atomic<bool> gReachable{true};
std::atomic<uint64_t> gOutages{0};

void unreachable()
{
    if (gReachable.exchange(false))
        gOutages.fetch_add(1);
}

void reachable()
{
    if (!gReachable.load(std::memory_order_relaxed))
        gReachable.store(true);
}

int64_t steadyMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

sql::Error::Kind kindOf(const char* state)
{
    using K = sql::Error::Kind;
    if (!state)
        return K::Connection;
    const std::string_view s(state);
    if (s == "40001" || s == "40P01" || s == "55P03" || s == "57014")
        return K::Busy;
    if (s == "25006")
        return K::ReadOnly;
    if (s == "42501")
        return K::Denied;
    if (s == "53100")
        return K::Full;
    if (s.substr(0, 2) == "23")
        return K::Constraint;
    if (s.substr(0, 2) == "08" || s == "57P01" || s == "57P02" || s == "57P03")
        return K::Connection;
    return K::Other;
}

std::string firstLine(const char* message)
{
    std::string m = message ? message : "";
    if (auto nl = m.find('\n'); nl != std::string::npos)
        m.resize(nl);
    if (m.rfind("ERROR:  ", 0) == 0)
        m.erase(0, 8);
    return m.empty() ? "the connection to PostgreSQL was lost" : m;
}

int hexValue(char c) { return std::max(0, hexDigit(c)); }

// bytea's text output ("\x0a1b…") as bytes.
std::string unhex(const char* p, int n)
{
    std::string out;
    if (n >= 2 && p[0] == '\\' && p[1] == 'x') {
        out.reserve(static_cast<size_t>(n - 2) / 2);
        for (int i = 2; i + 1 < n; i += 2)
            out += static_cast<char>(hexValue(p[i]) * 16 + hexValue(p[i + 1]));
        return out;
    }
    return std::string(p, static_cast<size_t>(n));
}

constexpr int kMaxParameters = 65535; // the protocol's limit

class Statement final : public sql::StatementImpl {
public:
    Statement(Connection& c, const std::string& sql)
        : c_(c),
          sql_(sql)
    { }
    ~Statement() override { reset(); }

    void bindNull(int i) override { null_[slot(i)] = true; }
    void bindInt64(int i, int64_t v) override { set(i, std::to_string(v), kInt8, 0); }
    void bindDouble(int i, double v) override
    {
        set(i,
            std::isnan(v)       ? std::string("NaN")
                : std::isinf(v) ? std::string(v > 0 ? "Infinity" : "-Infinity")
                                : fmt::format("{}", v),
            kFloat8, 0);
    }
    void bindText(int i, std::string_view v) override
    {
        // libpq sends text parameters as C strings: a U+0000 would end the
        // value there, silently. Callers store utf8::storable text.
        if (v.find('\0') != std::string_view::npos)
            throw sql::Error(sql::Error::Kind::Other, "a text value holds U+0000, which PostgreSQL cannot store");
        set(i, std::string(v), 0, 0);
    }
    void bindBlob(int i, const void* data, size_t size) override
    {
        set(i, std::string(static_cast<const char*>(data), size), kBytea, 1);
    }
    void clearBindings() override { null_.assign(null_.size(), true); }

    bool step() override
    {
        if (!res_) {
            run();
            row_ = -1;
        }
        ++row_;
        return row_ < PQntuples(res_);
    }
    int64_t exec() override
    {
        reset();
        run();
        const char* n = PQcmdTuples(res_);
        const int64_t changed = n && *n ? std::strtoll(n, nullptr, 10) : 0;
        reset();
        return changed;
    }
    void execDeferred() override
    {
        // Outside a transaction its error would have no later statement to
        // surface at; a transaction's first statement runs now, retried on a
        // new connection if the server had closed the old one (retried()).
        if (!c_.inTransaction() || c_.firstOfTransaction()) {
            exec();
            return;
        }
        reset();
        PGconn* pc = c_.handle();
        Connection::Prepared* p = prepared(pc);
        auto values = parameterValues(p);
        c_.enterPipeline();
        send(pc, p, values);
        c_.sent();
    }
    void reset() override
    {
        if (res_)
            PQclear(res_);
        res_ = nullptr;
        row_ = -1;
        decodedRow_ = -1;
    }
    int columnCount() const override { return res_ ? PQnfields(res_) : 0; }
    std::string columnName(int c) const override { return res_ ? PQfname(res_, c) : ""; }
    char columnKind(int c) const override
    {
        if (PQgetisnull(check(c), row_, c))
            return 'n';
        switch (PQftype(res_, c)) {
        case 20: // int8
        case 21: // int2
        case 23: // int4
        case kBool: return 'i';
        case 700: // float4
        case kFloat8:
        case 1700: return 'r'; // numeric
        case kBytea: return 'b';
        default: return 't';
        }
    }
    bool isNull(int c) const override { return PQgetisnull(check(c), row_, c) != 0; }
    int64_t int64(int c) const override
    {
        const char* v = PQgetvalue(check(c), row_, c);
        if (PQftype(res_, c) == kBool)
            return *v == 't' ? 1 : 0;
        char* end = nullptr;
        const long long n = std::strtoll(v, &end, 10);
        if (end && (*end == '.' || *end == 'e' || *end == 'E'))
            return static_cast<int64_t>(std::strtod(v, nullptr));
        return n;
    }
    double real(int c) const override
    {
        const char* v = PQgetvalue(check(c), row_, c);
        if (PQftype(res_, c) == kBool)
            return *v == 't' ? 1 : 0;
        return std::strtod(v, nullptr);
    }
    std::string_view text(int c) const override
    {
        check(c);
        if (PQftype(res_, c) == kBool) // as SQLite has them: integers
            return *PQgetvalue(res_, row_, c) == 't' ? "1" : "0";
        if (PQftype(res_, c) == kBytea) {
            if (decodedRow_ != row_) {
                decoded_.assign(static_cast<size_t>(PQnfields(res_)), std::string());
                decodedDone_.assign(static_cast<size_t>(PQnfields(res_)), false);
                decodedRow_ = row_;
            }
            if (!decodedDone_[static_cast<size_t>(c)]) {
                decoded_[static_cast<size_t>(c)] = unhex(PQgetvalue(res_, row_, c), PQgetlength(res_, row_, c));
                decodedDone_[static_cast<size_t>(c)] = true;
            }
            return decoded_[static_cast<size_t>(c)];
        }
        return {PQgetvalue(res_, row_, c), static_cast<size_t>(PQgetlength(res_, row_, c))};
    }
    std::string blob(int c) const override { return std::string(text(c)); }

private:
    // Parameters are counted as they are bound; those the statement has
    // beyond the last one bound are sent as NULL (runOnce).
    size_t slot(int i)
    {
        if (i < 1 || i > kMaxParameters)
            throw sql::Error(sql::Error::Kind::Other, fmt::format("parameter {} is out of range: {}", i, sql_));
        const auto k = static_cast<size_t>(i - 1);
        if (k >= values_.size()) {
            values_.resize(k + 1);
            null_.resize(k + 1, true);
            types_.resize(k + 1, 0);
        }
        if (k >= lengths_.size()) { // may be longer already: padded for the statement's own count
            formats_.resize(k + 1, 0);
            lengths_.resize(k + 1, 0);
        }
        return k;
    }
    void set(int i, std::string v, Oid type, int format)
    {
        const size_t k = slot(i);
        values_[k] = std::move(v);
        null_[k] = false;
        types_[k] = type;
        formats_[k] = format;
        lengths_[k] = static_cast<int>(values_[k].size());
    }
    const PGresult* check(int c) const
    {
        if (!res_ || row_ < 0 || row_ >= PQntuples(res_) || c < 0 || c >= PQnfields(res_))
            throw sql::Error(sql::Error::Kind::Other, fmt::format("column {} read outside a row of: {}", c, sql_));
        return res_;
    }
    void run()
    {
        c_.retried([this] { runOnce(); });
    }
    // The statement as prepared on this connection (prepared now if need
    // be, after what the pipeline holds is read); nullptr: it runs
    // unprepared (too many kept).
    Connection::Prepared* prepared(PGconn* pc)
    {
        Connection::Prepared* p = nullptr;
        try {
            p = &c_.cached(sql_, types_);
        } catch (const std::length_error&) {
            return nullptr;
        }
        if (!p->name.empty() && p->generation == c_.generation())
            return p;
        c_.settle();
        std::string name = p->name.empty() ? fmt::format("w{}", reinterpret_cast<uintptr_t>(p)) : p->name;
        PGresult* r = PQprepare(pc, name.c_str(), sql_.c_str(), static_cast<int>(values_.size()), types_.data());
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            c_.raise(r);
        PQclear(r);
        // How many parameters the statement has, as the server counted them.
        r = PQdescribePrepared(pc, name.c_str());
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            c_.raise(r);
        p->parameters = PQnparams(r);
        PQclear(r);
        p->name = std::move(name);
        p->generation = c_.generation();
        return p;
    }
    // The values to send. Parameters not bound go as NULL, as SQLite has
    // them. Padded in place (once, not per run); types_ keeps its length: it
    // keys the prepared statement.
    std::vector<const char*> parameterValues(const Connection::Prepared* p)
    {
        std::vector<const char*> values(values_.size());
        for (size_t k = 0; k < values.size(); ++k)
            values[k] = null_[k] ? nullptr : values_[k].c_str();
        const size_t n = std::max(values.size(), p ? static_cast<size_t>(p->parameters) : 0);
        values.resize(n, nullptr);
        if (lengths_.size() < n) {
            lengths_.resize(n, 0);
            formats_.resize(n, 0);
        }
        return values;
    }
    // Pipeline mode: queued, sent with the next sync.
    void send(PGconn* pc, const Connection::Prepared* p, const std::vector<const char*>& values)
    {
        const int n = static_cast<int>(values.size());
        const int ok = p ? PQsendQueryPrepared(pc, p->name.c_str(), n, values.data(), lengths_.data(), formats_.data(), 0)
                         : PQsendQueryParams(pc, sql_.c_str(), static_cast<int>(values_.size()), types_.data(),
                                             values.data(), lengths_.data(), formats_.data(), 0);
        if (!ok)
            c_.raise(nullptr);
    }
    void runOnce()
    {
        PGconn* pc = c_.handle();
        Connection::Prepared* p = prepared(pc);
        const auto values = parameterValues(p);
        const int n = static_cast<int>(values.size());
        if (c_.pipelining()) {
            send(pc, p, values);
            res_ = c_.syncPipeline(true);
        } else if (p) {
            res_ = PQexecPrepared(pc, p->name.c_str(), n, values.data(), lengths_.data(), formats_.data(), 0);
        } else {
            res_ = PQexecParams(pc, sql_.c_str(), static_cast<int>(values_.size()), types_.data(), values.data(),
                                lengths_.data(), formats_.data(), 0);
        }
        const auto status = PQresultStatus(res_);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            PGresult* r = res_;
            res_ = nullptr;
            c_.raise(r);
        }
        reachable();
    }

    Connection& c_;
    std::string sql_;
    std::vector<std::string> values_;
    std::vector<bool> null_;
    std::vector<Oid> types_;
    std::vector<int> formats_, lengths_;
    PGresult* res_ = nullptr;
    int row_ = -1;
    mutable std::vector<std::string> decoded_;
    mutable std::vector<bool> decodedDone_;
    mutable int decodedRow_ = -1;
};

} // namespace

Connection::Connection(const std::string& conninfo, Settings settings)
    : conninfo_(conninfo),
      settings_(settings)
{
    connect();
}

Connection::~Connection()
{
    if (conn_)
        PQfinish(conn_);
}

void Connection::connect()
{
    // Defaults a URL may override: give up on a server that does not answer
    // within seconds, and notice a dead peer (a cut network) by TCP
    // keepalives and an unacknowledged-data timeout instead of hanging.
    const char* keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                          "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                          "application_name",    "dbname",           nullptr};
    const char* values[] = {"10", "1", "10", "5", "3", "20000", "webhookd", conninfo_.c_str(), nullptr};
    if (conn_)
        PQfinish(conn_);
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        const std::string message = firstLine(conn_ ? PQerrorMessage(conn_) : nullptr);
        // libpq gives no SQLSTATE for a failed connection. A server that
        // answered FATAL refused us for good (a wrong password, no such
        // database), unless it is starting or shutting down ("the database
        // system is …"); anything else (refused, timed out) may pass.
        const bool refused =
            message.find("FATAL:") != std::string::npos && message.find("the database system is") == std::string::npos;
        if (!refused)
            unreachable();
        throw sql::Error(refused ? sql::Error::Kind::CantOpen : sql::Error::Kind::Connection,
                         "could not connect to PostgreSQL: " + message);
    }
    ++generation_;
    configure();
}

void Connection::configure()
{
    // Every statement is prepared once and keeps its generic plan, the one
    // tests/plans_test.cpp checks walks an index: a custom plan would be
    // planned again on every run (the claim's page, whose LIMIT varies, spent
    // ~200 us a claim on it) for a plan no better.
    exec(fmt::format("SET synchronous_commit = {}; SET lock_timeout = {}; SET plan_cache_mode = force_generic_plan{}",
                     settings_.synchronousCommit ? "on" : "off", settings_.lockTimeoutMs,
                     settings_.listen ? "; LISTEN webhookd" : ""));
    clockMeasuredAtMs_ = -1;
}

PGconn* Connection::handle()
{
    if (PQstatus(conn_) != CONNECTION_OK) {
        if (inTransaction_)
            throw sql::Error(sql::Error::Kind::Connection, "the connection to PostgreSQL was lost");
        if (!reconnect())
            throw sql::Error(sql::Error::Kind::Connection,
                             "could not reconnect to PostgreSQL: " + firstLine(PQerrorMessage(conn_)));
    }
    return conn_;
}

bool Connection::reconnect()
{
    PQreset(conn_); // leaves pipeline mode too
    pending_ = 0;
    onlyBegin_ = false;
    ++generation_; // prepared statements are gone
    if (PQstatus(conn_) != CONNECTION_OK)
        return false;
    configure();
    return true;
}

void Connection::retried(const std::function<void()>& once)
{
    const bool first = firstOfTransaction();
    const bool alone = !inTransaction_ || first;
    try {
        try {
            once();
        } catch (const sql::Error& e) {
            // A single statement outside a transaction that found the
            // connection broken: the server closed it (a restart, an idle
            // timeout) before the statement reached it, so sending it again
            // on a new connection (handle() reconnects) is what the caller
            // wanted. So is a transaction's first statement, sent with its
            // BEGIN: nothing of it ran. A transaction further on cannot be
            // resumed: its caller hears.
            if (!alone || e.kind() != sql::Error::Kind::Connection || PQstatus(conn_) == CONNECTION_OK)
                throw;
            if (first) {
                inTransaction_ = false;
                begin(true); // on a new connection (handle())
            }
            once();
        }
    } catch (const sql::Error& e) {
        if (e.kind() == sql::Error::Kind::Connection)
            unreachable();
        throw;
    }
}

Connection::Prepared& Connection::cached(const std::string& sql, const std::vector<Oid>& types)
{
    auto key = std::make_pair(sql, types);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
        if (prepared_.size() >= kMaxPrepared)
            throw std::length_error("prepared statements");
        it = prepared_.emplace(std::move(key), Prepared{}).first;
    }
    return it->second;
}

void Connection::raise(PGresult* result)
{
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = firstLine(result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr);
    if (!result || !state)
        message = firstLine(PQerrorMessage(conn_));
    auto kind = kindOf(state); // before PQclear: state points into the result
    if (result)
        PQclear(result);
    if (PQstatus(conn_) != CONNECTION_OK) {
        kind = sql::Error::Kind::Connection;
        inTransaction_ = false; // the server has rolled it back
    }
    throw sql::Error(kind, message);
}

const std::string& Connection::text(sql::Q statement) const { return postgres::statement(statement); }

std::string Connection::placeholder(int n) const { return parameter(n); }

void Connection::prepareOnly(const std::string& sql)
{
    settle();
    PGresult* r = PQprepare(handle(), "", sql.c_str(), 0, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        raise(r);
    PQclear(r);
}

std::unique_ptr<sql::StatementImpl> Connection::prepare(const std::string& sql)
{
    return std::make_unique<Statement>(*this, sql);
}

void Connection::enterPipeline()
{
    if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && !PQenterPipelineMode(conn_))
        raise(nullptr);
}

PGresult* Connection::syncPipeline(bool own)
{
    PGresult* error = nullptr; // the first failure
    PGresult* mine = nullptr;
    const int queries = pending_ + (own ? 1 : 0);
    pending_ = 0;
    onlyBegin_ = false;
    bool broken = PQpipelineSync(conn_) != 1;
    // Each query's results end with a null; the sync's is one result.
    for (int i = 0; i < queries && !broken; ++i) {
        while (PGresult* r = PQgetResult(conn_)) {
            const auto status = PQresultStatus(r);
            const bool failed = status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK;
            if (failed && !error && status != PGRES_PIPELINE_ABORTED)
                error = r;
            else if (own && i == queries - 1 && !failed && !mine)
                mine = r;
            else
                PQclear(r);
        }
        broken = PQstatus(conn_) != CONNECTION_OK;
    }
    if (!broken) {
        PGresult* sync = PQgetResult(conn_);
        broken = !sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
        PQclear(sync);
        broken = broken || PQexitPipelineMode(conn_) != 1;
    }
    if (broken) {
        // Results lost track of: a new connection, and the transaction with
        // the old one.
        PQclear(mine);
        PQclear(error);
        inTransaction_ = false;
        if (PQstatus(conn_) == CONNECTION_OK) {
            try {
                reconnect();
            } catch (const sql::Error&) { } // handle() tries again
        }
        throw sql::Error(sql::Error::Kind::Connection, "the connection to PostgreSQL was lost");
    }
    if (error) {
        PQclear(mine);
        raise(error);
    }
    return mine;
}

void Connection::exec(const std::string& sql)
{
    retried([&] {
        settle();
        PGresult* r = PQexec(handle(), sql.c_str());
        const auto status = PQresultStatus(r);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            raise(r);
        PQclear(r);
        reachable();
    });
}

// BEGIN goes in pipeline mode, with the transaction's first statement.
void Connection::begin(bool)
{
    PGconn* pc = handle(); // reconnects when broken: outside a transaction still
    settle();
    enterPipeline();
    if (!PQsendQueryParams(pc, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0))
        raise(nullptr);
    ++pending_;
    onlyBegin_ = true;
    inTransaction_ = true;
}

void Connection::commit()
{
    retried([&] { // sent again only when nothing but its BEGIN went before
        PGresult* r = nullptr;
        if (pipelining()) {
            // After a deferred statement that failed, COMMIT did not run:
            // the transaction stays open for the caller's ROLLBACK.
            if (!PQsendQueryParams(handle(), "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0))
                raise(nullptr);
            r = syncPipeline(true);
        } else {
            r = PQexec(handle(), "COMMIT");
        }
        inTransaction_ = false;
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            raise(r);
        // COMMIT of a transaction a failed statement aborted answers ROLLBACK.
        const bool rolledBack = std::strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
        PQclear(r);
        if (rolledBack)
            throw sql::Error(sql::Error::Kind::Other, "the transaction was rolled back after an error");
    });
}

void Connection::rollback()
{
    if (!inTransaction_)
        return;
    inTransaction_ = false;
    if (pipelining()) {
        try {
            syncPipeline(false); // what failed is the caller's to know: it rolls back
        } catch (const sql::Error&) { }
    }
    if (PQstatus(conn_) == CONNECTION_OK)
        PQclear(PQexec(conn_, "ROLLBACK"));
}

void Connection::setSynchronousCommit(bool on)
{
    settings_.synchronousCommit = on;
    exec(on ? "SET synchronous_commit = on" : "SET synchronous_commit = off");
}

void Connection::drainNotifications()
{
    if (!settings_.listen || PQstatus(conn_) != CONNECTION_OK)
        return;
    PQconsumeInput(conn_);
    const int self = PQbackendPID(conn_);
    while (PGnotify* n = PQnotifies(conn_)) {
        if (n->be_pid != self) {
            ++changes_;
            if (n->extra && std::strcmp(n->extra, "targets") == 0)
                ++targetChanges_;
        }
        PQfreemem(n);
    }
}

uint64_t Connection::changes()
{
    drainNotifications();
    return changes_;
}

uint64_t Connection::targetChanges()
{
    drainNotifications();
    return targetChanges_;
}

int64_t Connection::clockOffsetMs()
{
    const int64_t before = steadyMs();
    if (!inTransaction_ && (clockMeasuredAtMs_ < 0 || before - clockMeasuredAtMs_ > 10'000)) {
        sql::Statement q(*this, "SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS bigint)");
        q.executeStep();
        const int64_t server = q.getColumn(0).getInt64();
        const int64_t after = steadyMs();
        clockOffsetMs_ = server - (before + after) / 2;
        clockMeasuredAtMs_ = after;
    }
    return clockOffsetMs_;
}

int Connection::serverVersion() const { return PQserverVersion(conn_); }

uint64_t outages() { return gOutages.load(); }

} // namespace webhookd::postgres

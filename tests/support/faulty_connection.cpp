#include "support/faulty_connection.h"

#include <utility>

namespace webhookd::test {

namespace {

std::string kindName(sql::Error::Kind kind)
{
    using K = sql::Error::Kind;
    switch (kind) {
    case K::Busy: return "busy";
    case K::ReadOnly: return "read-only";
    case K::Denied: return "permission denied";
    case K::Full: return "disk full";
    case K::Constraint: return "constraint";
    case K::CantOpen: return "cannot open";
    case K::NotADatabase: return "not a database";
    case K::Connection: return "connection lost";
    case K::Other: return "other";
    }
    return "?";
}

// A statement of the real driver behind the fault points: its first step
// (which runs it) and its exec are statements run; the rest is forwarded.
class FaultyStatement final : public sql::StatementImpl {
public:
    FaultyStatement(FaultyConnection& conn, std::unique_ptr<sql::StatementImpl> impl, std::string sql)
        : conn_(conn),
          real_(std::move(impl)),
          sql_(std::move(sql))
    { }

    void bindNull(int index) override { real_->bindNull(index); }
    void bindInt64(int index, int64_t value) override { real_->bindInt64(index, value); }
    void bindDouble(int index, double value) override { real_->bindDouble(index, value); }
    void bindText(int index, std::string_view value) override { real_->bindText(index, value); }
    void bindBlob(int index, const void* data, size_t size) override { real_->bindBlob(index, data, size); }
    void clearBindings() override { real_->clearBindings(); }
    bool step() override
    {
        if (!running_) {
            conn_.strike(FaultyConnection::Point::Statement, sql_);
            running_ = true;
        }
        return real_->step();
    }
    int64_t exec() override
    {
        conn_.strike(FaultyConnection::Point::Statement, sql_);
        return real_->exec();
    }
    void execDeferred() override
    {
        conn_.strike(FaultyConnection::Point::Statement, sql_);
        real_->execDeferred();
    }
    void reset() override
    {
        running_ = false;
        real_->reset();
    }
    int columnCount() const override { return real_->columnCount(); }
    std::string columnName(int column) const override { return real_->columnName(column); }
    char columnKind(int column) const override { return real_->columnKind(column); }
    bool isNull(int column) const override { return real_->isNull(column); }
    int64_t int64(int column) const override { return real_->int64(column); }
    double real(int column) const override { return real_->real(column); }
    std::string_view text(int column) const override { return real_->text(column); }
    std::string blob(int column) const override { return real_->blob(column); }

private:
    FaultyConnection& conn_; // owns nothing; outlives its statements (the Database drops them first)
    std::unique_ptr<sql::StatementImpl> real_;
    std::string sql_;
    bool running_ = false; // stepped since the last reset: later steps read rows of the same run
};

} // namespace

FaultyConnection::FaultyConnection(sql::Connection& real)
    : real_(real)
{ }

void FaultyConnection::inject(Fault fault) { armed_[static_cast<size_t>(fault.point)] = std::move(fault); }

void FaultyConnection::clear() { armed_ = {}; }

void FaultyConnection::strike(Point point, const std::string& sql)
{
    switch (point) {
    case Point::Begin: ++counts_.begins; break;
    case Point::Statement: ++counts_.statements; break;
    case Point::Commit: ++counts_.commits; break;
    }
    auto& armed = armed_[static_cast<size_t>(point)];
    if (!armed || (!armed->sqlContains.empty() && sql.find(armed->sqlContains) == std::string::npos))
        return;
    if (armed->skip > 0) {
        --armed->skip;
        return;
    }
    const sql::Error::Kind kind = armed->kind;
    if (armed->times != kForever && --armed->times == 0)
        armed.reset();
    ++counts_.faults;
    throw sql::Error(kind, "injected fault (" + kindName(kind) + ")" + (sql.empty() ? "" : " at: " + sql));
}

const std::string& FaultyConnection::text(sql::Q statement) const { return real_.text(statement); }

std::string FaultyConnection::placeholder(int n) const { return real_.placeholder(n); }

std::unique_ptr<sql::StatementImpl> FaultyConnection::prepare(const std::string& sql)
{
    ++counts_.prepares;
    return std::make_unique<FaultyStatement>(*this, real_.prepare(sql), sql);
}

void FaultyConnection::exec(const std::string& sql)
{
    strike(Point::Statement, sql);
    real_.exec(sql);
}

void FaultyConnection::begin(bool immediate)
{
    strike(Point::Begin);
    real_.begin(immediate);
}

void FaultyConnection::commit()
{
    strike(Point::Commit);
    real_.commit();
}

void FaultyConnection::rollback()
{
    ++counts_.rollbacks;
    real_.rollback();
}

bool FaultyConnection::inTransaction() const { return real_.inTransaction(); }

} // namespace webhookd::test

#pragma once

// storage/ internals: the one seam between webhookd's SQL and the database
// that runs it. The storage code (storage/sql/) is written once against
// these classes; storage/sqlite/ and storage/postgres/ implement them. The
// API follows SQLiteCpp's (bind by 1-based index, executeStep, getColumn),
// so statements read the same as before there were two backends.
//
// Statements are named (storage/sql/statements.h); each backend holds its
// own spelling of each. Nothing here or in a driver rewrites SQL.

#include <concepts>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "storage/sql/statements.h"

namespace webhookd::sql {

// What went wrong, as far as the storage code needs to tell.
class Error : public std::runtime_error {
public:
    enum class Kind {
        Busy,         // locked, a deadlock, a lock timeout, a serialization failure: try again
        ReadOnly,     // the store or this connection may not be written
        Denied,       // the role lacks a privilege (PostgreSQL's 42501): a GRANT or an owner, not a read-only store
        Full,         // the disk is full
        Constraint,   // a constraint refused the change
        CantOpen,     // the file or server could not be opened or reached
        NotADatabase, // the file is not a database at all
        Connection,   // the connection to the server broke
        Other,
    };
    Error(Kind kind, const std::string& message, int code = 0)
        : std::runtime_error(message),
          kind_(kind),
          code_(code)
    { }
    Kind kind() const { return kind_; }
    int code() const { return code_; } // the backend's own code (SQLite's result code), 0 when none
private:
    Kind kind_;
    int code_;
};

// A statement as a backend holds it. Indexes: bind from 1, columns from 0.
class StatementImpl {
public:
    virtual ~StatementImpl() = default;
    virtual void bindNull(int index) = 0;
    virtual void bindInt64(int index, int64_t value) = 0;
    virtual void bindDouble(int index, double value) = 0;
    virtual void bindText(int index, std::string_view value) = 0;
    virtual void bindBlob(int index, const void* data, size_t size) = 0;
    virtual void clearBindings() = 0;
    // The next row; false when there is none. The first call runs it.
    virtual bool step() = 0;
    // Runs a statement that returns no rows; the number of rows it changed.
    virtual int64_t exec() = 0;
    // Runs a statement whose outcome nobody reads but its success. Inside a
    // transaction a backend may send it now and learn how it went with the
    // next statement that returns something, or the commit: PostgreSQL's
    // pipeline mode, one round trip for all of them. An error then surfaces
    // there (the transaction is lost either way). SQLite runs it at once.
    virtual void execDeferred() { exec(); }
    // Ready to run again, with the same bindings; any result is dropped.
    virtual void reset() = 0;
    virtual int columnCount() const = 0;
    virtual std::string columnName(int column) const = 0;
    // What the value of the current row is: 'i' integer, 'r' real, 't' text,
    // 'b' blob, 'n' NULL (PostgreSQL: by the column's type).
    virtual char columnKind(int column) const = 0;
    virtual bool isNull(int column) const = 0;
    virtual int64_t int64(int column) const = 0;
    virtual double real(int column) const = 0;
    virtual std::string_view text(int column) const = 0;
    virtual std::string blob(int column) const = 0;
};

class Connection {
public:
    virtual ~Connection() = default;
    // The backend's text of a named statement.
    virtual const std::string& text(Q statement) const = 0;
    // How the backend writes parameter n (from 1) in SQL: ?n or $n.
    virtual std::string placeholder(int n) const = 0;
    virtual std::unique_ptr<StatementImpl> prepare(const std::string& sql) = 0;
    // Runs one or more statements without parameters (a migration's script).
    virtual void exec(const std::string& sql) = 0;
    // Transactions: begin(immediate) takes the write lock at once where the
    // backend has one (SQLite's BEGIN IMMEDIATE); PostgreSQL locks rows.
    virtual void begin(bool immediate) = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;
    virtual bool inTransaction() const = 0;
};

// One column of the current row.
class Column {
public:
    Column(const StatementImpl& s, int i)
        : s_(s),
          i_(i)
    { }
    bool isNull() const { return s_.isNull(i_); }
    int64_t getInt64() const { return s_.int64(i_); }
    int getInt() const { return static_cast<int>(s_.int64(i_)); }
    double getDouble() const { return s_.real(i_); }
    std::string getString() const { return std::string(s_.text(i_)); }
    std::string_view getText() const { return s_.text(i_); }
    std::string getBlob() const { return s_.blob(i_); }

private:
    const StatementImpl& s_;
    int i_;
};

class Statement {
public:
    Statement(Connection& c, Q statement)
        : impl_(c.prepare(c.text(statement)))
    { }
    // A statement composed at run time (Composer), or a backend's own SQL
    // inside storage/<backend>/.
    Statement(Connection& c, const std::string& sql)
        : impl_(c.prepare(sql))
    { }
    void bind(int i) { impl_->bindNull(i); }
    template <std::integral T>
    void bind(int i, T v)
    {
        impl_->bindInt64(i, static_cast<int64_t>(v));
    }
    void bind(int i, double v) { impl_->bindDouble(i, v); }
    void bind(int i, std::string_view v) { impl_->bindText(i, v); }
    void bind(int i, const std::string& v) { impl_->bindText(i, v); }
    void bind(int i, const char* v) { impl_->bindText(i, v); }
    void bind(int i, const void* data, size_t size) { impl_->bindBlob(i, data, size); }
    void clearBindings() { impl_->clearBindings(); }
    bool executeStep() { return impl_->step(); }
    int64_t exec() { return impl_->exec(); }
    void execDeferred() { impl_->execDeferred(); }
    void reset() { impl_->reset(); }
    int getColumnCount() const { return impl_->columnCount(); }
    std::string getColumnName(int i) const { return impl_->columnName(i); }
    char getColumnKind(int i) const { return impl_->columnKind(i); }
    Column getColumn(int i) const { return Column(*impl_, i); }

private:
    std::unique_ptr<StatementImpl> impl_;
};

// The first column of the first row of a query without parameters.
inline int64_t queryInt64(Connection& c, const std::string& sql)
{
    Statement q(c, sql);
    if (!q.executeStep() || q.getColumn(0).isNull())
        return 0;
    return q.getColumn(0).getInt64();
}

// A parameter's value in a Composer: q << " AND type = " << sql::value(type).
template <typename V>
struct Value {
    V v;
};
template <typename V>
Value<V> value(V v)
{
    return {std::move(v)};
}

// A statement put together at run time: text that reads the same in both
// dialects (a listing's optional conditions), parts from the backend's
// catalog (the head of a listing, with its planner hints), and parameters
// numbered in the order they are added and spelled as the connection
// spells them. Values given with sql::value() are bound by statement().
class Composer {
public:
    explicit Composer(Connection& c)
        : c_(c)
    { }
    Composer& operator<<(std::string_view text)
    {
        sql_ += text;
        return *this;
    }
    Composer& operator<<(Q part)
    {
        sql_ += c_.text(part);
        return *this;
    }
    // The next parameter, bound to v.v.
    template <typename V>
    Composer& operator<<(Value<V> v)
    {
        if constexpr (std::is_integral_v<V>)
            values_.emplace_back(static_cast<int64_t>(v.v));
        else
            values_.emplace_back(std::string(v.v));
        sql_ += c_.placeholder(static_cast<int>(values_.size()));
        return *this;
    }
    const std::string& sql() const { return sql_; }
    // Prepared with its values bound; after prefix, for a plan test's "EXPLAIN ".
    Statement statement(std::string_view prefix = {}) const
    {
        Statement q(c_, std::string(prefix) + sql_);
        for (size_t i = 0; i < values_.size(); ++i)
            std::visit([&](const auto& v) { q.bind(static_cast<int>(i + 1), v); }, values_[i]);
        return q;
    }

private:
    Connection& c_;
    std::string sql_;
    std::vector<std::variant<int64_t, std::string>> values_;
};

// Rolled back unless committed.
class Transaction {
public:
    explicit Transaction(Connection& c, bool immediate = true)
        : c_(c)
    {
        c_.begin(immediate);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction()
    {
        if (open_) {
            try {
                c_.rollback();
            } catch (...) { }
        }
    }
    void commit()
    {
        c_.commit();
        open_ = false;
    }

private:
    Connection& c_;
    bool open_ = true;
};

// A savepoint inside an open transaction (both backends spell it the same).
class Savepoint {
public:
    Savepoint(Connection& c, std::string name)
        : c_(c),
          name_(std::move(name))
    {
        c_.exec("SAVEPOINT " + name_);
    }
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    ~Savepoint()
    {
        if (open_) {
            try {
                rollback();
            } catch (...) { }
        }
    }
    void release()
    {
        c_.exec("RELEASE SAVEPOINT " + name_);
        open_ = false;
    }
    void rollback()
    {
        open_ = false;
        c_.exec("ROLLBACK TO SAVEPOINT " + name_);
        c_.exec("RELEASE SAVEPOINT " + name_);
    }

private:
    Connection& c_;
    std::string name_;
    bool open_ = true;
};

} // namespace webhookd::sql

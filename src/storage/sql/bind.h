#pragma once

// storage/ internals: a statement bound and run in one call, as SQLiteCpp's
// VariadicBind.h does, so an executor of a plan reads as the list of what it
// writes instead of a ladder of bind calls.

#include <cstdint>
#include <optional>

#include "storage/sql/driver.h"
#include "storage/sql/rows.h"

namespace webhookd::detail {

template <typename T>
void bindOne(sql::Statement& q, int i, const T& v)
{
    q.bind(i, v);
}

template <typename T>
void bindOne(sql::Statement& q, int i, const std::optional<T>& v)
{
    bindOptional(q, i, v);
}

// Resets the statement and binds the arguments to ?1, ?2, … (an empty
// optional as NULL). Returns the statement.
template <typename... Args>
sql::Statement& bindAll(sql::Statement& q, const Args&... args)
{
    q.reset();
    int i = 1;
    (bindOne(q, i++, args), ...);
    return q;
}

// Binds as bindAll does and runs the statement. Returns the rows it changed.
template <typename... Args>
int64_t execWith(sql::Statement& q, const Args&... args)
{
    return bindAll(q, args...).exec();
}

// Binds as bindAll does and runs the statement deferred
// (StatementImpl::execDeferred): a write whose outcome nothing reads.
template <typename... Args>
void deferWith(sql::Statement& q, const Args&... args)
{
    bindAll(q, args...).execDeferred();
}

// Binds as bindAll does, then reads the first column of the first row
// (nullopt: no row, or NULL) and resets the statement, so it keeps no read
// snapshot open.
template <typename... Args>
std::optional<int64_t> firstInt64(sql::Statement& q, const Args&... args)
{
    bindAll(q, args...);
    std::optional<int64_t> v;
    if (q.executeStep() && !q.getColumn(0).isNull())
        v = q.getColumn(0).getInt64();
    q.reset();
    return v;
}

} // namespace webhookd::detail

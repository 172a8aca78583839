#pragma once

// storage/ internals: turning the driver's exceptions into Error values.

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "storage/sql/driver.h"

namespace webhookd::detail {

// Busy stays Busy, ReadOnly ReadOnly, Full a Storage error that says the
// disk is full, Constraint Invalid, a lost or unreachable server
// (Connection) Unavailable; `what` names the operation.
Error mapSqlError(const sql::Error& e, std::string_view what);

// Runs f, which returns a Result; database exceptions become errors, and so
// does a JSON column that does not parse (a row edited by hand), which then
// fails this one call instead of the process.
template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const sql::Error& e) {
        return fail(mapSqlError(e, what));
    } catch (const nlohmann::json::exception& e) {
        return fail(Error::storage("could not " + std::string(what) + ": a stored row does not hold what it should (" +
                                   e.what() + ")"));
    }
}

} // namespace webhookd::detail

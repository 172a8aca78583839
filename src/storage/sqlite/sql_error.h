#pragma once

// storage/ internals: turning SQLiteCpp exceptions into Error values.

#include <string_view>

#include <SQLiteCpp/Exception.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace webhookd::detail {

// BUSY/LOCKED become Busy, READONLY ReadOnly, FULL a Storage error that says
// the disk is full, CONSTRAINT Invalid; `what` names the operation.
Error mapSqlError(const SQLite::Exception& e, std::string_view what);

// Runs f, which returns a Result; SQLite exceptions become errors, and so
// does a JSON column that does not parse (a row edited by hand), which then
// fails this one call instead of the process.
template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const SQLite::Exception& e) {
        return fail(mapSqlError(e, what));
    } catch (const nlohmann::json::exception& e) {
        return fail(Error::storage("could not " + std::string(what) + ": a stored row does not hold what it should (" +
                                   e.what() + ")"));
    }
}

} // namespace webhookd::detail

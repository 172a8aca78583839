#pragma once

// storage/ internals: turning SQLiteCpp exceptions into Error values.

#include <string_view>

#include <SQLiteCpp/Exception.h>

#include "core/error.h"

namespace webhookd::detail {

// BUSY/LOCKED become Busy, READONLY ReadOnly, FULL a Storage error that says
// the disk is full, CONSTRAINT Invalid; `what` names the operation.
Error mapSqlError(const SQLite::Exception& e, std::string_view what);

// Runs f, which returns a Result; SQLite exceptions become errors.
template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const SQLite::Exception& e) {
        return fail(mapSqlError(e, what));
    }
}

} // namespace webhookd::detail

#pragma once

// storage/ internals: webhookd's SQL (the common subset of SQLite and
// PostgreSQL, storage/sql/driver.h) as PostgreSQL takes it.

#include <map>
#include <string>
#include <string_view>

namespace webhookd::postgres {

struct Translated {
    std::string sql;
    int parameters = 0;                            // the highest $N
    std::map<std::string, int, std::less<>> names; // ":name" → N
};

// Outside quotes and comments: ?N becomes $N, ? the next number and :name
// a number of its own (as SQLite numbers them); "x IS ?N" becomes IS NOT DISTINCT FROM and "IS NOT
// ?N" IS DISTINCT FROM (SQLite's IS compares NULLs as values); SQLite's
// planner hints go: "CROSS JOIN … ON" becomes JOIN, "INDEXED BY name" and
// "NOT INDEXED" are dropped.
Translated translate(std::string_view sql);

} // namespace webhookd::postgres

#pragma once

#include <string_view>
#include <vector>

namespace webhookd::detail {

struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

// Every migration compiled into this binary, in order (generated at build time
// from migrations/*.sql for SQLite and migrations/postgres/*.sql, numbered
// the same, for PostgreSQL).
const std::vector<Migration>& migrations();
const std::vector<Migration>& postgresMigrations();

} // namespace webhookd::detail

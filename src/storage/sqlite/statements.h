#pragma once

// storage/ internals: webhookd's statements as SQLite spells them.

#include <string>

#include "storage/sql/statements.h"

namespace webhookd::sqlite {

const std::string& statement(sql::Q q);
// Parameter n as SQLite writes it: ?n.
std::string parameter(int n);

} // namespace webhookd::sqlite

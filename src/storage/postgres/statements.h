#pragma once

// storage/ internals: webhookd's statements as PostgreSQL spells them.

#include <string>

#include "storage/sql/statements.h"

namespace webhookd::postgres {

const std::string& statement(sql::Q q);
// Parameter n as PostgreSQL writes it: $n.
std::string parameter(int n);

} // namespace webhookd::postgres

#pragma once

#include <optional>

#include "core/error.h"
#include "storage/model.h"

namespace webhookd {

class Database;

// The original statistics over deliveries created at or after createdSince
// (all when unset): counts by status, average attempt duration of the
// attempts that got a response, success rate = delivered / (delivered +
// dead_letter), and the same counts by event type and by target.
Result<Stats> statistics(Database& db, std::optional<int64_t> createdSince);

} // namespace webhookd

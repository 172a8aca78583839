#pragma once

#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "storage/model.h"

namespace webhookd {

class Database;

// One delivery with its attempts, oldest first, and its dead-letter reason.
// NotFound for an unknown id.
Result<Delivery> getDelivery(Database& db, int64_t id);

// Newest first. Invalid for an unknown status name.
Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& filter);

// Deliveries in the dead-letter queue (deadLetterReason set), newest first.
Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& filter);

// Returns the given dead letters to `pending`, due now, with a fresh attempt
// budget (earlier attempts stay). All or nothing: NotFound for an unknown id,
// Invalid for one that is not in the dead-letter queue. Returns how many moved.
Result<int64_t> retryDeadLetters(Database& db, const std::vector<int64_t>& ids, const Clock& clock);

// The same for every dead letter, or those of one target.
Result<int64_t> retryAllDeadLetters(Database& db, const std::optional<std::string>& targetId, const Clock& clock);

// Deletes dead letters moved before the cutoff, with their attempts, and the
// events no delivery refers to any more. Returns how many deliveries went.
Result<int64_t> purgeDeadLetters(Database& db, int64_t movedBeforeMs);

bool isDeliveryStatus(std::string_view status);

} // namespace webhookd

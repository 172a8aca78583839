#pragma once

#include <vector>

#include "core/error.h"
#include "model/delivery.h"

namespace webhookd {

class Database;

// One delivery with its attempts, oldest first, and its dead-letter reason.
// NotFound for an unknown id.
Result<Delivery> getDelivery(Database& db, int64_t id);

// Newest first. Invalid for a limit below 1.
Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& filter);

// Deliveries in the dead-letter queue (deadLetterReason set), newest first.
// Retrying them is in storage/redrive.h, purging them in storage/retention.h.
Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& filter);

} // namespace webhookd

#pragma once

#include <vector>

#include "core/error.h"
#include "model/delivery.h"

namespace webhookd {

class Database;

// One delivery with its attempts, oldest first, and its dead-letter reason.
// NotFound for an unknown id.
Result<Delivery> getDelivery(Database& db, int64_t id);

// At most filter.limit, newest first ((created_at, id) descending), through
// an index for a target or a time window. Invalid for a limit below 1.
Result<std::vector<Delivery>> listDeliveries(Database& db, const DeliveryFilter& filter);

// How many the filter takes, ignoring its limit and keyset (the "of N" of a
// listing that was cut).
Result<int64_t> countDeliveries(Database& db, const DeliveryFilter& filter);

// Deliveries in the dead-letter queue (deadLetterReason and deadLetteredAt
// set), newest first, read from dead_letters (small) rather than deliveries.
// filter.status is ignored. Retrying them is in storage/redrive.h, purging
// them in storage/retention.h.
Result<std::vector<Delivery>> listDeadLetters(Database& db, const DeliveryFilter& filter);
Result<int64_t> countDeadLetters(Database& db, const DeliveryFilter& filter);

// The first of `ids` that is not a delivery to one of the application's
// targets (unknown ones included), or nullopt when all are: what a key bound
// to that application may not touch.
Result<std::optional<int64_t>> firstOutsideApp(Database& db, const std::vector<int64_t>& ids, const std::string& appId);

} // namespace webhookd

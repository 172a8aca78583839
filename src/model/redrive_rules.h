#pragma once

// Which deliveries a person may send again. Pure.

#include <cstdint>

#include "core/error.h"
#include "model/delivery_status.h"

namespace webhookd {

enum class Redrive {
    DeadLetters, // dlq retry: only deliveries in the dead-letter queue
    Finished,    // delivery resend: delivered or dead-lettered ones
};

bool mayRedrive(Redrive kind, DeliveryStatus status);

// Invalid, saying why delivery `id` in `status` may not be redriven.
Error redriveRefused(Redrive kind, int64_t id, DeliveryStatus status);

} // namespace webhookd

#pragma once

// The rules of events as producers give them. Pure: no SQL, no I/O.

#include "core/error.h"
#include "core/validate.h"
#include "model/event.h"

namespace webhookd {

// The type a slug, the payload valid JSON within the limits, the priority
// in range, an idempotency key of 1 to 255 characters; Invalid otherwise.
Status validateEvent(const EventInput& event, const Limits& limits = {});

} // namespace webhookd

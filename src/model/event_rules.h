#pragma once

// The rules of events as producers give them. Pure: no SQL, no I/O.

#include "core/error.h"
#include "core/validate.h"
#include "model/event.h"

namespace webhookd {

inline constexpr size_t kMaxOrderingKeyBytes = 256;

// The type a slug, the payload valid JSON within the limits, the priority
// in range, an idempotency key of 1 to 255 characters, an ordering key of 1
// to 256 bytes of UTF-8; Invalid otherwise.
Status validateEvent(const EventInput& event, const Limits& limits = {});

} // namespace webhookd

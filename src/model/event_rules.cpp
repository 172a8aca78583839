#include "model/event_rules.h"

#include <string>

#include "core/ids.h"

namespace webhookd {

Status validateEvent(const EventInput& e, const Limits& limits)
{
    if (auto s = validateEventType(e.type); !s)
        return s;
    if (auto s = validatePayload(e.payload, limits); !s)
        return s;
    if (e.priority < kMinPriority || e.priority > kMaxPriority)
        return fail(Error::invalid("the priority must be between " + std::to_string(kMinPriority) + " and " +
                                   std::to_string(kMaxPriority)));
    if (e.idempotencyKey && (e.idempotencyKey->empty() || e.idempotencyKey->size() > 255))
        return fail(Error::invalid("an idempotency key must be 1 to 255 characters"));
    if (e.idempotencyKey)
        if (auto s = validateText(*e.idempotencyKey, "an idempotency key", 255); !s)
            return s;
    if (e.appId)
        if (auto s = validateAppId(*e.appId); !s)
            return s;
    if (e.orderingKey && (e.orderingKey->empty() || e.orderingKey->size() > kMaxOrderingKeyBytes))
        return fail(Error::invalid("an ordering key must be 1 to 256 bytes"));
    if (e.orderingKey)
        if (auto s = validateText(*e.orderingKey, "an ordering key", kMaxOrderingKeyBytes); !s)
            return s;
    return {};
}

} // namespace webhookd

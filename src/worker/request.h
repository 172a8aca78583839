#pragma once

#include <string>

#include "core/error.h"
#include "delivery/http_client.h"
#include "storage/queue.h"

namespace webhookd {

// The JSON envelope DESIGN.md fixes: {"id","type","timestamp","data"}.
std::string envelope(const ClaimedDelivery& d);

// A signed POST for one attempt: signed afresh (new webhook-timestamp, same
// webhook-id) with every secret that signs at nowMs under the standard scheme,
// or with the current secret as X-Hub-Signature-256 under the github scheme.
// Signing error when the current secret cannot sign (a whsec_ secret that is
// not base64, edited in by hand): nothing is sent unsigned. A previous secret
// that cannot sign is left out.
Result<HttpRequest> buildRequest(const ClaimedDelivery& d, int64_t nowMs, const std::string& userAgent,
                                 int64_t defaultTimeoutMs);

} // namespace webhookd

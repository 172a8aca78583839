#include "core/outcome.h"

namespace webhookd {

std::string_view transportErrorName(TransportError e)
{
    switch (e) {
    case TransportError::None: return "";
    case TransportError::Timeout: return "timeout";
    case TransportError::Connect: return "connect";
    case TransportError::Dns: return "dns";
    case TransportError::Tls: return "tls";
    case TransportError::BlockedAddress: return "blocked_address";
    case TransportError::BadUrl: return "bad_url";
    case TransportError::TooLarge: return "too_large";
    case TransportError::Signing: return "signing";
    case TransportError::Other: return "network";
    }
    return "network";
}

} // namespace webhookd

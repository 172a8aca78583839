#include "core/error.h"

namespace webhookd {

std::string_view kindName(Error::Kind kind)
{
    switch (kind) {
    case Error::Kind::NotFound: return "not found";
    case Error::Kind::Invalid: return "invalid";
    case Error::Kind::Conflict: return "conflict";
    case Error::Kind::Busy: return "busy";
    case Error::Kind::ReadOnly: return "read-only";
    case Error::Kind::Storage: return "storage";
    case Error::Kind::Unavailable: return "unavailable";
    case Error::Kind::Network: return "network";
    case Error::Kind::Timeout: return "timeout";
    case Error::Kind::Signing: return "signing";
    case Error::Kind::Internal: return "internal";
    }
    return "unknown";
}

std::string Error::toString() const { return std::string(kindName(kind_)) + ": " + message_; }

} // namespace webhookd

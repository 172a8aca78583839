#pragma once

// How doctest prints webhookd's own types in failed checks.

#include <ostream>

#include "model/delivery_status.h"

namespace webhookd {

inline std::ostream& operator<<(std::ostream& out, DeliveryStatus s) { return out << toString(s); }

} // namespace webhookd

#include "model/redrive_rules.h"

#include <string>

namespace webhookd {

bool mayRedrive(Redrive kind, DeliveryStatus status)
{
    return kind == Redrive::DeadLetters ? status == DeliveryStatus::DeadLetter : isFinished(status);
}

Error redriveRefused(Redrive kind, int64_t id, DeliveryStatus status)
{
    const std::string d = "delivery " + std::to_string(id);
    const std::string s(toString(status));
    if (kind == Redrive::DeadLetters)
        return Error::invalid(d + " is not in the dead-letter queue (it is " + s + ")");
    return Error::invalid(d + " is still " + s + ", and only delivered or dead-lettered deliveries can be resent");
}

} // namespace webhookd

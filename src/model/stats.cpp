#include "model/stats.h"

namespace webhookd {

void Counts::add(DeliveryStatus status, int64_t n)
{
    total += n;
    switch (status) {
    case DeliveryStatus::Delivered: delivered += n; break;
    case DeliveryStatus::Failed: failed += n; break;
    case DeliveryStatus::DeadLetter: deadLetter += n; break;
    case DeliveryStatus::Pending:
    case DeliveryStatus::InProgress:
    case DeliveryStatus::RateLimited:
    case DeliveryStatus::Waiting: pending += n; break;
    }
}

} // namespace webhookd

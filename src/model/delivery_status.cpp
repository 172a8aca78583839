#include "model/delivery_status.h"

#include <string>

namespace webhookd {

std::string_view toString(DeliveryStatus status)
{
    switch (status) {
    case DeliveryStatus::Pending: return "pending";
    case DeliveryStatus::InProgress: return "in_progress";
    case DeliveryStatus::Failed: return "failed";
    case DeliveryStatus::RateLimited: return "rate_limited";
    case DeliveryStatus::Delivered: return "delivered";
    case DeliveryStatus::DeadLetter: return "dead_letter";
    case DeliveryStatus::Waiting: return "waiting";
    }
    return "pending";
}

std::optional<DeliveryStatus> parseDeliveryStatus(std::string_view name)
{
    for (DeliveryStatus s : status_set::kAll)
        if (toString(s) == name)
            return s;
    return std::nullopt;
}

std::string_view allStatusNames()
{
    static const std::string names = [] {
        std::string out;
        for (size_t i = 0; i < status_set::kAll.size(); ++i) {
            if (i > 0)
                out += i + 1 == status_set::kAll.size() ? " or " : ", ";
            out += toString(status_set::kAll[i]);
        }
        return out;
    }();
    return names;
}

} // namespace webhookd

#include "records/batch_line.h"

#include <nlohmann/json.hpp>

#include "core/validate.h"

namespace webhookd {

Result<EventInput> parseBatchLine(std::string_view line)
{
    using nlohmann::json;
    // Checked before parsing: the parsed value is dumped back to text, and
    // dump() recurses once per level.
    if (const Limits limits; jsonDepth(line) > limits.maxJsonDepth + 1)
        return fail(
            Error::invalid("nests arrays and objects deeper than " + std::to_string(limits.maxJsonDepth) + " levels"));
    json j = json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded())
        return fail(Error::invalid("not valid JSON"));
    if (!j.is_object())
        return fail(Error::invalid("must be a JSON object"));
    EventInput e;
    for (const auto& [key, value] : j.items()) {
        if (key == "type") {
            if (!value.is_string())
                return fail(Error::invalid("\"type\" must be a string"));
            e.type = value.get<std::string>();
        } else if (key == "data") {
            e.payload = value.dump();
        } else if (key == "priority") {
            if (!value.is_number_integer())
                return fail(Error::invalid("\"priority\" must be a whole number"));
            const auto p = value.get<int64_t>();
            if (p < kMinPriority || p > kMaxPriority)
                return fail(Error::invalid("\"priority\" must be between " + std::to_string(kMinPriority) + " and " +
                                           std::to_string(kMaxPriority)));
            e.priority = static_cast<int>(p);
        } else if (key == "targets") {
            if (!value.is_array())
                return fail(Error::invalid("\"targets\" must be an array of target ids"));
            for (const auto& t : value) {
                if (!t.is_string())
                    return fail(Error::invalid("\"targets\" must be an array of target ids"));
                e.targets.push_back(t.get<std::string>());
            }
        } else if (key == "idempotency_key") {
            if (!value.is_string())
                return fail(Error::invalid("\"idempotency_key\" must be a string"));
            e.idempotencyKey = value.get<std::string>();
        } else {
            return fail(Error::invalid("unknown field \"" + key + "\""));
        }
    }
    if (!j.contains("type"))
        return fail(Error::invalid("\"type\" is missing"));
    return e;
}

} // namespace webhookd

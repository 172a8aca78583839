#include "records/batch_line.h"

#include "core/json_text.h"
#include "core/validate.h"

namespace webhookd {

Result<EventInput> parseBatchLine(std::string_view line)
{
    using json_text::Kind;
    // The line's own object is one level more than its payload may nest.
    auto members = json_text::objectMembers(line, Limits{}.maxJsonDepth + 1);
    if (!members) {
        if (members.error().is(Error::Code::TooDeep))
            return fail(Error::invalid("nests arrays and objects deeper than " + std::to_string(Limits{}.maxJsonDepth) +
                                       " levels")
                            .withCode(Error::Code::TooDeep));
        return fail(members.error());
    }
    EventInput e;
    bool typed = false;
    for (const auto& m : *members) {
        if (m.key == "type") {
            auto v = m.kind == Kind::String ? json_text::stringValue(m.raw) : std::nullopt;
            if (!v)
                return fail(Error::invalid("\"type\" must be a string"));
            e.type = std::move(*v);
            typed = true;
        } else if (m.key == "data") {
            e.payload = std::string(m.raw); // byte for byte as the producer wrote it
        } else if (m.key == "priority") {
            const auto p = m.kind == Kind::Number ? json_text::integerValue(m.raw) : std::nullopt;
            if (!p)
                return fail(Error::invalid("\"priority\" must be a whole number"));
            if (*p < kMinPriority || *p > kMaxPriority)
                return fail(Error::invalid("\"priority\" must be between " + std::to_string(kMinPriority) + " and " +
                                           std::to_string(kMaxPriority)));
            e.priority = static_cast<int>(*p);
        } else if (m.key == "targets") {
            Result<std::vector<std::pair<Kind, std::string_view>>> elements = fail(Error::invalid("not an array"));
            if (m.kind == Kind::Array)
                elements = json_text::arrayElements(m.raw, 1);
            if (!elements)
                return fail(Error::invalid("\"targets\" must be an array of target ids"));
            for (const auto& [kind, raw] : *elements) {
                auto id = kind == Kind::String ? json_text::stringValue(raw) : std::nullopt;
                if (!id)
                    return fail(Error::invalid("\"targets\" must be an array of target ids"));
                e.targets.push_back(std::move(*id));
            }
        } else if (m.key == "idempotency_key") {
            auto v = m.kind == Kind::String ? json_text::stringValue(m.raw) : std::nullopt;
            if (!v)
                return fail(Error::invalid("\"idempotency_key\" must be a string"));
            e.idempotencyKey = std::move(*v);
        } else if (m.key == "ordering_key") {
            auto v = m.kind == Kind::String ? json_text::stringValue(m.raw) : std::nullopt;
            if (!v)
                return fail(Error::invalid("\"ordering_key\" must be a string"));
            e.orderingKey = std::move(*v);
        } else if (m.key == "app_id") {
            auto v = m.kind == Kind::String ? json_text::stringValue(m.raw) : std::nullopt;
            if (!v)
                return fail(Error::invalid("\"app_id\" must be a string"));
            e.appId = std::move(*v);
        } else {
            return fail(Error::invalid("unknown field " + json_text::quote(m.key)));
        }
    }
    if (!typed)
        return fail(Error::invalid("\"type\" is missing"));
    return e;
}

} // namespace webhookd

#include "records/text_specs.h"

namespace webhookd {

Result<std::pair<std::string, std::string>> parseHeaderSpec(std::string_view h)
{
    auto colon = h.find(':');
    if (colon == std::string_view::npos)
        // Not quoted: what was meant as "Name: value" may hold a credential.
        return fail(Error::invalid("a header must be given as NAME:VALUE, and one has no colon"));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    return std::pair{std::string(h.substr(0, colon)), std::string(value)};
}

Result<HeaderList> parseHeaderSpecs(const std::vector<std::string>& specs)
{
    HeaderList list;
    for (const auto& h : specs) {
        auto kv = parseHeaderSpec(h);
        if (!kv)
            return fail(kv.error());
        list.push_back(std::move(*kv));
    }
    return list;
}

std::vector<std::string> parsePatternList(std::string_view list)
{
    std::vector<std::string> patterns;
    while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string_view p = list.substr(0, comma);
        if (!p.empty())
            patterns.emplace_back(p);
        if (comma == std::string_view::npos)
            break;
        list.remove_prefix(comma + 1);
    }
    return patterns;
}

Result<std::map<std::string, std::string>> parseMetadata(const std::vector<std::string>& pairs)
{
    std::map<std::string, std::string> m;
    for (const auto& kv : pairs) {
        auto eq = kv.find('=');
        if (eq == std::string::npos)
            return fail(Error::invalid("metadata '" + kv + "' must be given as KEY=VALUE"));
        m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return m;
}

} // namespace webhookd

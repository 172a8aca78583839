#include "routing/patterns.h"

namespace webhookd {

bool matchPattern(std::string_view pattern, std::string_view type)
{
    // Iterative glob with backtracking to the last '*': linear for one star,
    // O(n*m) worst case, no recursion.
    size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < type.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (p < pattern.size() && pattern[p] == type[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

bool matchesAny(const std::vector<std::string>& patterns, std::string_view type)
{
    if (patterns.empty())
        return true;
    for (const auto& p : patterns)
        if (matchPattern(p, type))
            return true;
    return false;
}

Status validatePattern(std::string_view pattern)
{
    if (pattern.empty())
        return fail(Error::invalid("an event pattern must not be empty"));
    if (pattern.size() > 200)
        return fail(Error::invalid("event pattern is longer than 200 characters"));
    for (char c : pattern) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == '-' || c == '*';
        if (!ok)
            return fail(Error::invalid("event pattern '" + std::string(pattern) +
                                       "' may only contain letters, digits, '_', '.', '-' and '*'"));
    }
    return {};
}

} // namespace webhookd

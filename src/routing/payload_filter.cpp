#include "routing/payload_filter.h"

#include <array>

namespace webhookd {

using nlohmann::json;

namespace {

enum class Op { Eq, Ne, Gt, Gte, Lt, Lte, In, Nin, Exists, Contains, Prefix };

constexpr std::array<std::pair<std::string_view, Op>, 11> kOps{{{"eq", Op::Eq},
                                                                 {"ne", Op::Ne},
                                                                 {"gt", Op::Gt},
                                                                 {"gte", Op::Gte},
                                                                 {"lt", Op::Lt},
                                                                 {"lte", Op::Lte},
                                                                 {"in", Op::In},
                                                                 {"nin", Op::Nin},
                                                                 {"exists", Op::Exists},
                                                                 {"contains", Op::Contains},
                                                                 {"prefix", Op::Prefix}}};

using Step = std::variant<std::string, size_t>;

// What is quoted back in a message: at most about 60 bytes of it.
std::string quote(const json& j)
{
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 60) {
        size_t cut = 57;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
            --cut; // not inside a UTF-8 sequence
        s = s.substr(0, cut) + "...";
    }
    return s;
}

std::string quotePath(std::string_view p)
{
    return quote(json(std::string(p)));
}

bool isAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

Result<std::vector<Step>> parsePath(std::string_view p)
{
    auto bad = [&](const std::string& why) {
        return fail(Error::invalid("the filter's path " + quotePath(p) + " is not a path: " + why));
    };
    if (p.empty() || p[0] != '$')
        return bad("a path starts with $, as in $.amount or $.items[0][\"unit price\"]");
    std::vector<Step> steps;
    size_t i = 1;
    while (i < p.size()) {
        if (p[i] == '.') {
            const size_t start = ++i;
            if (i >= p.size() || !isAlpha(p[i]))
                return bad("a name after '.' starts with a letter or '_' (use [\"…\"] for any other key)");
            while (i < p.size() && (isAlpha(p[i]) || isDigit(p[i])))
                ++i;
            steps.emplace_back(std::string(p.substr(start, i - start)));
        } else if (p[i] == '[' && i + 1 < p.size() && p[i + 1] == '"') {
            size_t j = i + 2;
            while (j < p.size() && p[j] != '"')
                j += p[j] == '\\' ? 2 : 1;
            if (j >= p.size())
                return bad("a quoted key has no closing quote");
            const json key = json::parse(p.substr(i + 1, j - i), nullptr, false);
            if (!key.is_string())
                return bad("a quoted key is not a JSON string");
            if (j + 1 >= p.size() || p[j + 1] != ']')
                return bad("a quoted key is closed by ']'");
            steps.emplace_back(key.get<std::string>());
            i = j + 2;
        } else if (p[i] == '[') {
            const size_t start = ++i;
            while (i < p.size() && isDigit(p[i]))
                ++i;
            const size_t digits = i - start;
            if (digits == 0 || i >= p.size() || p[i] != ']')
                return bad("an index is a whole number in brackets, as in [0]");
            if (digits > 9 || (digits > 1 && p[start] == '0'))
                return bad("an index has at most 9 digits and no leading zero");
            steps.emplace_back(static_cast<size_t>(std::stoul(std::string(p.substr(start, digits)))));
            ++i;
        } else {
            return bad("after $ come steps: .name, [\"key\"] or [index]");
        }
    }
    return steps;
}

// Numbers by value however written: every JSON number nlohmann reads (a
// 64-bit integer of either sign, or a double) is exact as a long double.
long double numberValue(const json& j)
{
    if (j.is_number_unsigned())
        return static_cast<long double>(j.get<uint64_t>());
    if (j.is_number_integer())
        return static_cast<long double>(j.get<int64_t>());
    return static_cast<long double>(j.get<double>());
}

bool equal(const json& a, const json& b)
{
    if (a.is_number() && b.is_number())
        return numberValue(a) == numberValue(b);
    if (a.type() != b.type())
        return false;
    switch (a.type()) {
    case json::value_t::null: return true;
    case json::value_t::boolean: return a.get<bool>() == b.get<bool>();
    case json::value_t::string: return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case json::value_t::array: {
        if (a.size() != b.size())
            return false;
        for (size_t i = 0; i < a.size(); ++i)
            if (!equal(a[i], b[i]))
                return false;
        return true;
    }
    case json::value_t::object: {
        if (a.size() != b.size())
            return false;
        for (auto it = a.begin(); it != a.end(); ++it) {
            auto other = b.find(it.key());
            if (other == b.end() || !equal(it.value(), *other))
                return false;
        }
        return true;
    }
    default: return false;
    }
}

// -1, 0 or 1 when a and b are both numbers or both strings; nullopt otherwise.
std::optional<int> order(const json& a, const json& b)
{
    if (a.is_number() && b.is_number()) {
        const long double x = numberValue(a), y = numberValue(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        // std::string compares as unsigned bytes (char_traits<char>).
        const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    return std::nullopt;
}

} // namespace

struct PayloadFilter::Node {
    enum class Kind { All, Any, Not, Condition } kind = Kind::Condition;
    std::vector<Node> children; // All, Any: the list; Not: the one negated
    std::string path;           // a condition's, as written
    std::vector<Step> steps;
    Op op = Op::Eq;
    std::string opName;
    json value;

    const json* find(const json& payload) const
    {
        const json* at = &payload;
        for (const auto& s : steps) {
            if (const auto* key = std::get_if<std::string>(&s)) {
                if (!at->is_object())
                    return nullptr;
                auto it = at->find(*key);
                if (it == at->end())
                    return nullptr;
                at = &*it;
            } else {
                const size_t index = std::get<size_t>(s);
                if (!at->is_array() || index >= at->size())
                    return nullptr;
                at = &(*at)[index];
            }
        }
        return at;
    }

    bool holdsAt(const json* v) const
    {
        if (v == nullptr)
            return op == Op::Ne || op == Op::Nin || (op == Op::Exists && !value.get<bool>());
        switch (op) {
        case Op::Eq: return equal(*v, value);
        case Op::Ne: return !equal(*v, value);
        case Op::Gt: return order(*v, value) == 1;
        case Op::Gte: return order(*v, value).value_or(-1) >= 0;
        case Op::Lt: return order(*v, value) == -1;
        case Op::Lte: return order(*v, value).value_or(1) <= 0;
        case Op::In:
        case Op::Nin: {
            bool found = false;
            for (const auto& e : value)
                if (equal(*v, e)) {
                    found = true;
                    break;
                }
            return found == (op == Op::In);
        }
        case Op::Exists: return value.get<bool>();
        case Op::Contains:
            if (v->is_array()) {
                for (const auto& e : *v)
                    if (equal(e, value))
                        return true;
                return false;
            }
            return v->is_string() && value.is_string() &&
                   v->get_ref<const std::string&>().find(value.get_ref<const std::string&>()) != std::string::npos;
        case Op::Prefix:
            return v->is_string() && v->get_ref<const std::string&>().starts_with(value.get_ref<const std::string&>());
        }
        return false;
    }

    bool holds(const json& payload) const
    {
        switch (kind) {
        case Kind::All:
            for (const auto& c : children)
                if (!c.holds(payload))
                    return false;
            return true;
        case Kind::Any:
            for (const auto& c : children)
                if (c.holds(payload))
                    return true;
            return false;
        case Kind::Not: return !children[0].holds(payload);
        case Kind::Condition: return holdsAt(find(payload));
        }
        return false;
    }

    std::string describe() const
    {
        switch (kind) {
        case Kind::All: return "all of " + std::to_string(children.size()) + " conditions";
        case Kind::Any: return "any of " + std::to_string(children.size()) + " conditions";
        case Kind::Not: return "not (" + children[0].describe() + ")";
        case Kind::Condition: return path + " " + opName + " " + quote(value);
        }
        return {};
    }

    std::optional<std::string> whyNot(const json& payload) const
    {
        switch (kind) {
        case Kind::All:
            for (const auto& c : children)
                if (auto why = c.whyNot(payload))
                    return why;
            return std::nullopt;
        case Kind::Any:
            if (holds(payload))
                return std::nullopt;
            if (children.empty())
                return std::string("any [] never holds");
            return "none of " + describe() + " held; the first: " + *children[0].whyNot(payload);
        case Kind::Not:
            if (holds(payload))
                return std::nullopt;
            return describe() + ": " + children[0].describe() + " holds";
        case Kind::Condition: {
            const json* v = find(payload);
            if (holdsAt(v))
                return std::nullopt;
            return describe() + (v ? " failed: the payload has " + quote(*v) + " there"
                                   : " failed: the payload has no " + path);
        }
        }
        return std::nullopt;
    }
};

namespace {

struct Builder {
    const PayloadFilterLimits& limits;
    int conditions = 0;

    Result<PayloadFilter::Node> build(const json& j, int depth)
    {
        using Node = PayloadFilter::Node;
        if (depth > limits.maxDepth)
            return fail(Error::invalid("the filter is nested deeper than " + std::to_string(limits.maxDepth) +
                                       " levels"));
        if (!j.is_object())
            return fail(Error::invalid("a filter is an object: {\"all\": [...]}, {\"any\": [...]}, {\"not\": ...}"
                                       " or {\"path\": ..., \"op\": ..., \"value\": ...}, not " +
                                       quote(j)));
        Node n;
        for (const char* group : {"all", "any"}) {
            if (!j.contains(group))
                continue;
            if (j.size() != 1)
                return fail(Error::invalid(std::string("a filter with \"") + group + "\" has no other keys"));
            const json& list = j[group];
            if (!list.is_array())
                return fail(Error::invalid(std::string("\"") + group + "\" takes an array of filters"));
            n.kind = group[1] == 'l' ? Node::Kind::All : Node::Kind::Any;
            for (const auto& c : list) {
                auto child = build(c, depth + 1);
                if (!child)
                    return child;
                n.children.push_back(std::move(*child));
            }
            return n;
        }
        if (j.contains("not")) {
            if (j.size() != 1)
                return fail(Error::invalid("a filter with \"not\" has no other keys"));
            auto child = build(j["not"], depth + 1);
            if (!child)
                return child;
            n.kind = Node::Kind::Not;
            n.children.push_back(std::move(*child));
            return n;
        }
        for (auto it = j.begin(); it != j.end(); ++it)
            if (it.key() != "path" && it.key() != "op" && it.key() != "value")
                return fail(Error::invalid("the filter has an unknown key " + quote(json(it.key())) +
                                           ": a condition has path, op and value, a group all, any or not"));
        if (!j.contains("path") || !j["path"].is_string())
            return fail(Error::invalid("a condition's path is a string such as \"$.amount\""));
        if (!j.contains("op") || !j["op"].is_string())
            return fail(Error::invalid("a condition's op is one of eq ne gt gte lt lte in nin exists contains prefix"));
        if (++conditions > limits.maxConditions)
            return fail(Error::invalid("the filter has more than " + std::to_string(limits.maxConditions) +
                                       " conditions"));
        n.path = j["path"].get<std::string>();
        auto steps = parsePath(n.path);
        if (!steps)
            return fail(steps.error());
        n.steps = std::move(*steps);
        n.opName = j["op"].get<std::string>();
        bool known = false;
        for (const auto& [name, op] : kOps)
            if (name == n.opName) {
                n.op = op;
                known = true;
            }
        if (!known)
            return fail(Error::invalid("the filter's operator " + quote(json(n.opName)) +
                                       " is not one of eq ne gt gte lt lte in nin exists contains prefix"));
        if (!j.contains("value"))
            return fail(Error::invalid("the condition on " + quotePath(n.path) + " has no value"));
        n.value = j["value"];
        const json& v = n.value;
        const std::string what = "the operator " + n.opName + " on " + quotePath(n.path);
        switch (n.op) {
        case Op::Gt:
        case Op::Gte:
        case Op::Lt:
        case Op::Lte:
            if (!v.is_number() && !v.is_string())
                return fail(Error::invalid(what + " compares with a number or a string, not " + quote(v)));
            break;
        case Op::In:
        case Op::Nin:
            if (!v.is_array())
                return fail(Error::invalid(what + " takes an array of values, not " + quote(v)));
            break;
        case Op::Exists:
            if (!v.is_boolean())
                return fail(Error::invalid(what + " takes true or false, not " + quote(v)));
            break;
        case Op::Prefix:
            if (!v.is_string())
                return fail(Error::invalid(what + " takes a string, not " + quote(v)));
            break;
        default: break;
        }
        return n;
    }
};

} // namespace

Result<PayloadFilter> PayloadFilter::parse(std::string_view text, const PayloadFilterLimits& limits)
{
    if (text.size() > limits.maxBytes)
        return fail(Error::invalid("the filter is larger than " + std::to_string(limits.maxBytes / 1024) + " KiB"));
    // Deeper than any filter can be: refused before the parser recurses.
    int depth = 0, deepest = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    // A condition at depth d sits in d objects and d - 1 arrays, and its
    // value may hold a little more: twice the limit and some is generous.
    if (deepest > 2 * limits.maxDepth + 8)
        return fail(Error::invalid("the filter is nested deeper than " + std::to_string(limits.maxDepth) +
                                   " levels"));
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded())
        return fail(Error::invalid("the filter is not valid JSON"));
    return fromJson(j, limits);
}

Result<PayloadFilter> PayloadFilter::fromJson(const json& filter, const PayloadFilterLimits& limits)
{
    std::string text = filter.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > limits.maxBytes)
        return fail(Error::invalid("the filter is larger than " + std::to_string(limits.maxBytes / 1024) + " KiB"));
    Builder b{limits};
    auto root = b.build(filter, 1);
    if (!root)
        return fail(root.error());
    PayloadFilter f;
    f.root_ = std::make_shared<const Node>(std::move(*root));
    f.json_ = filter;
    f.text_ = std::move(text);
    return f;
}

bool PayloadFilter::matches(const json& payload) const { return root_->holds(payload); }

std::optional<std::string> PayloadFilter::whyNot(const json& payload) const { return root_->whyNot(payload); }

} // namespace webhookd

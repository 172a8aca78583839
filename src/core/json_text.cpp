#include "core/json_text.h"

#include <charconv>
#include <cstdio>

#include "core/text.h"
#include "core/utf8.h"

namespace webhookd::json_text {

namespace {

// A recursive-descent reader; recursion is bounded by maxDepth, checked
// before each descent.
class Reader {
public:
    Reader(std::string_view text, size_t maxDepth)
        : s_(text),
          maxDepth_(maxDepth)
    { }

    bool ok() const { return error_.empty(); }
    bool tooDeep() const { return tooDeep_; }
    const std::string& error() const { return error_; }
    size_t pos() const { return i_; }
    bool atEnd() const { return i_ == s_.size(); }

    void skipSpace()
    {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }

    // Reads one value at i_ (after whitespace); returns its kind.
    Kind value(size_t depth)
    {
        skipSpace();
        if (i_ >= s_.size())
            return failAt("the text ends where a value should be"), Kind::Null;
        const char c = s_[i_];
        if (c == '{' || c == '[') {
            if (depth + 1 > maxDepth_) {
                tooDeep_ = error_.empty();
                return failAt("nests arrays and objects deeper than " + std::to_string(maxDepth_) + " levels"),
                       Kind::Null;
            }
            return c == '{' ? object(depth + 1, nullptr) : array(depth + 1, nullptr);
        }
        if (c == '"')
            return string(), Kind::String;
        if (c == '-' || (c >= '0' && c <= '9'))
            return number(), Kind::Number;
        if (literal("true"))
            return Kind::True;
        if (literal("false"))
            return Kind::False;
        if (literal("null"))
            return Kind::Null;
        return failAt("unexpected character"), Kind::Null;
    }

    using MemberFn = void (*)(void*, std::string_view keyRaw, Kind, std::string_view raw);
    struct Sink {
        MemberFn fn;
        void* user;
    };

    Kind object(size_t depth, const Sink* sink)
    {
        ++i_; // '{'
        skipSpace();
        if (peek('}'))
            return ++i_, Kind::Object;
        for (;;) {
            skipSpace();
            if (!peek('"'))
                return failAt("a member name (a string) is expected"), Kind::Object;
            const size_t keyStart = i_;
            string();
            if (!ok())
                return Kind::Object;
            const std::string_view keyRaw = s_.substr(keyStart, i_ - keyStart);
            skipSpace();
            if (!peek(':'))
                return failAt("':' is expected after a member name"), Kind::Object;
            ++i_;
            skipSpace();
            const size_t valueStart = i_;
            const Kind k = value(depth);
            if (!ok())
                return Kind::Object;
            if (sink)
                sink->fn(sink->user, keyRaw, k, s_.substr(valueStart, i_ - valueStart));
            skipSpace();
            if (peek(',')) {
                ++i_;
                continue;
            }
            if (peek('}'))
                return ++i_, Kind::Object;
            return failAt("',' or '}' is expected"), Kind::Object;
        }
    }

    Kind array(size_t depth, const Sink* sink)
    {
        ++i_; // '['
        skipSpace();
        if (peek(']'))
            return ++i_, Kind::Array;
        for (;;) {
            skipSpace();
            const size_t start = i_;
            const Kind k = value(depth);
            if (!ok())
                return Kind::Array;
            if (sink)
                sink->fn(sink->user, {}, k, s_.substr(start, i_ - start));
            skipSpace();
            if (peek(',')) {
                ++i_;
                continue;
            }
            if (peek(']'))
                return ++i_, Kind::Array;
            return failAt("',' or ']' is expected"), Kind::Array;
        }
    }

    void failAt(const std::string& what)
    {
        if (error_.empty())
            error_ = what + " at byte " + std::to_string(i_ + 1);
    }

private:
    bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }

    bool literal(std::string_view word)
    {
        if (s_.substr(i_, word.size()) != word)
            return false;
        i_ += word.size();
        return true;
    }

    // \uXXXX at i_ (after the backslash and 'u'); the code unit, or -1.
    int hex4()
    {
        if (i_ + 4 > s_.size())
            return -1;
        int v = 0;
        for (int k = 0; k < 4; ++k) {
            const int d = hexDigit(s_[i_ + static_cast<size_t>(k)]);
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        i_ += 4;
        return v;
    }

    void string()
    {
        ++i_;                 // '"'
        size_t runStart = i_; // raw bytes since the last escape, checked as UTF-8 in one go
        for (;;) {
            if (i_ >= s_.size())
                return failAt("a string is not closed");
            const auto c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                if (!utf8::valid(s_.substr(runStart, i_ - runStart)))
                    return failAt("a string holds bytes that are not UTF-8");
                ++i_;
                return;
            }
            if (c < 0x20)
                return failAt("a string holds a raw control character");
            if (c != '\\') {
                ++i_;
                continue;
            }
            if (!utf8::valid(s_.substr(runStart, i_ - runStart)))
                return failAt("a string holds bytes that are not UTF-8");
            ++i_;
            if (i_ >= s_.size())
                return failAt("a string is not closed");
            const char e = s_[i_++];
            if (e == 'u') {
                const int unit = hex4();
                if (unit < 0)
                    return failAt("\\u needs four hex digits");
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    // A high surrogate must be followed by an escaped low one.
                    if (s_.substr(i_, 2) != "\\u")
                        return failAt("an unpaired surrogate escape");
                    i_ += 2;
                    const int low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF)
                        return failAt("an unpaired surrogate escape");
                } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                    return failAt("an unpaired surrogate escape");
                }
            } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                return failAt("an unknown escape in a string");
            }
            runStart = i_;
        }
    }

    void number()
    {
        if (peek('-'))
            ++i_;
        if (peek('0')) {
            ++i_;
        } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
                ++i_;
        } else {
            return failAt("a number needs digits");
        }
        if (peek('.')) {
            ++i_;
            if (!(i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'))
                return failAt("a number needs digits after its decimal point");
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
                ++i_;
        }
        if (peek('e') || peek('E')) {
            ++i_;
            if (peek('+') || peek('-'))
                ++i_;
            if (!(i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'))
                return failAt("a number needs digits in its exponent");
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
                ++i_;
        }
    }

    std::string_view s_;
    size_t maxDepth_;
    size_t i_ = 0;
    std::string error_;
    bool tooDeep_ = false;
};

Status finish(Reader& r)
{
    if (r.ok()) {
        r.skipSpace();
        if (!r.atEnd())
            r.failAt("text follows the value");
    }
    if (r.tooDeep())
        return fail(Error::invalid(r.error().substr(0, r.error().rfind(" at byte "))).withCode(Error::Code::TooDeep));
    if (!r.ok())
        return fail(Error::invalid("not valid JSON: " + r.error()));
    return {};
}

} // namespace

Status validate(std::string_view text, size_t maxDepth)
{
    Reader r(text, maxDepth);
    r.value(0);
    return finish(r);
}

Result<std::vector<Member>> objectMembers(std::string_view text, size_t maxDepth)
{
    Reader r(text, maxDepth);
    r.skipSpace();
    if (r.atEnd() || text[r.pos()] != '{')
        return fail(Error::invalid("must be a JSON object"));
    struct State {
        std::vector<Member> members;
        bool duplicate = false;
        std::string duplicateKey;
    } state;
    Reader::Sink sink{[](void* user, std::string_view keyRaw, Kind kind, std::string_view raw) {
                          auto* st = static_cast<State*>(user);
                          std::string key = stringValue(keyRaw).value_or(std::string());
                          for (const auto& m : st->members)
                              if (m.key == key && !st->duplicate) {
                                  st->duplicate = true;
                                  st->duplicateKey = key;
                              }
                          st->members.push_back({std::move(key), kind, raw});
                      },
                      &state};
    if (maxDepth < 1)
        return fail(Error::invalid("nests arrays and objects deeper than 0 levels").withCode(Error::Code::TooDeep));
    r.object(1, &sink);
    if (auto s = finish(r); !s)
        return fail(s.error());
    if (state.duplicate)
        return fail(Error::invalid("\"" + state.duplicateKey + "\" is given twice"));
    return std::move(state.members);
}

Result<std::vector<std::pair<Kind, std::string_view>>> arrayElements(std::string_view text, size_t maxDepth)
{
    Reader r(text, maxDepth);
    r.skipSpace();
    if (r.atEnd() || text[r.pos()] != '[')
        return fail(Error::invalid("must be a JSON array"));
    std::vector<std::pair<Kind, std::string_view>> out;
    Reader::Sink sink{[](void* user, std::string_view, Kind kind, std::string_view raw) {
                          static_cast<std::vector<std::pair<Kind, std::string_view>>*>(user)->emplace_back(kind, raw);
                      },
                      &out};
    if (maxDepth < 1)
        return fail(Error::invalid("nests arrays and objects deeper than 0 levels").withCode(Error::Code::TooDeep));
    r.array(1, &sink);
    if (auto s = finish(r); !s)
        return fail(s.error());
    return out;
}

std::optional<std::string> stringValue(std::string_view raw)
{
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"')
        return std::nullopt;
    if (!validate(raw, 0))
        return std::nullopt;
    std::string out;
    out.reserve(raw.size() - 2);
    auto hex4 = [&](size_t at) {
        unsigned v = 0;
        for (size_t k = 0; k < 4; ++k) {
            const char c = raw[at + k];
            v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        return v;
    };
    auto put = [&](unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    };
    for (size_t i = 1; i + 1 < raw.size();) {
        if (raw[i] != '\\') {
            out += raw[i++];
            continue;
        }
        const char e = raw[i + 1];
        i += 2;
        switch (e) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
            unsigned cp = hex4(i);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { // validated: a low surrogate follows
                const unsigned low = hex4(i + 2);
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            put(cp);
            break;
        }
        default: out += e; // " \ /
        }
    }
    return out;
}

std::optional<int64_t> integerValue(std::string_view raw)
{
    if (raw.empty() || raw.find_first_of(".eE") != std::string_view::npos || !validate(raw, 0))
        return std::nullopt;
    int64_t v = 0;
    auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    if (ec != std::errc() || end != raw.data() + raw.size())
        return std::nullopt;
    return v;
}

std::string quote(std::string_view text)
{
    std::string out = "\"";
    char buf[8];
    for (unsigned char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

} // namespace webhookd::json_text

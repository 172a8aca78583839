#include "storage/postgres/translate.h"

#include <algorithm>
#include <cctype>

namespace webhookd::postgres {

namespace {

bool isWord(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The word that starts at i, upper-cased; empty when none does.
std::string wordAt(std::string_view s, size_t i)
{
    if (i >= s.size() || !isWord(s[i]) || (i > 0 && isWord(s[i - 1])))
        return {};
    std::string w;
    while (i < s.size() && isWord(s[i]))
        w += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i++])));
    return w;
}

// out ends with the words given (upper-case, separated by single spaces),
// whatever the spacing and case: returns the length of that tail, or 0.
size_t endsWithWords(const std::string& out, std::string_view words)
{
    size_t i = out.size();
    while (i > 0 && std::isspace(static_cast<unsigned char>(out[i - 1])))
        --i;
    size_t w = words.size();
    while (w > 0) {
        size_t wEnd = w;
        while (w > 0 && words[w - 1] != ' ')
            --w;
        const std::string_view word = words.substr(w, wEnd - w);
        if (i < word.size())
            return 0;
        for (size_t k = 0; k < word.size(); ++k)
            if (std::toupper(static_cast<unsigned char>(out[i - word.size() + k])) != word[k])
                return 0;
        i -= word.size();
        if (i > 0 && isWord(out[i - 1]))
            return 0;
        if (w > 0) {
            --w; // the space between words
            size_t j = i;
            while (j > 0 && std::isspace(static_cast<unsigned char>(out[j - 1])))
                --j;
            if (j == i)
                return 0;
            i = j;
        }
    }
    return out.size() - i;
}

} // namespace

Translated translate(std::string_view s)
{
    Translated t;
    std::string& out = t.sql;
    out.reserve(s.size() + 16);
    int highest = 0;
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (c == '\'' || c == '"') {
            const size_t end = s.find(c, i + 1);
            const size_t stop = end == std::string_view::npos ? s.size() : end + 1;
            out.append(s.substr(i, stop - i));
            i = stop;
            continue;
        }
        if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
            const size_t end = s.find('\n', i);
            const size_t stop = end == std::string_view::npos ? s.size() : end;
            out.append(s.substr(i, stop - i));
            i = stop;
            continue;
        }
        if (c == ':' && i + 1 < s.size() && s[i + 1] == ':') { // a cast
            out += "::";
            i += 2;
            continue;
        }
        const bool named =
            c == ':' && i + 1 < s.size() && (std::isalpha(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '_');
        if (c == '?' || named) {
            size_t j = i + 1;
            int n = 0;
            if (named) {
                while (j < s.size() && isWord(s[j]))
                    ++j;
                const std::string name(s.substr(i, j - i));
                auto it = t.names.find(name);
                n = it != t.names.end() ? it->second : highest + 1;
                t.names[name] = n;
            } else {
                while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
                    n = n * 10 + (s[j++] - '0');
                if (j == i + 1)
                    n = highest + 1;
            }
            highest = std::max(highest, n);
            if (size_t tail = endsWithWords(out, "IS NOT"); tail) {
                out.resize(out.size() - tail);
                out += "IS DISTINCT FROM ";
            } else if (size_t tail2 = endsWithWords(out, "IS"); tail2) {
                out.resize(out.size() - tail2);
                out += "IS NOT DISTINCT FROM ";
            }
            out += '$';
            out += std::to_string(n);
            i = j;
            continue;
        }
        const std::string w = wordAt(s, i);
        if (w == "CROSS") {
            size_t j = i + 5;
            while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j])))
                ++j;
            if (wordAt(s, j) == "JOIN") {
                i += 5; // "CROSS"; the JOIN that follows stays
                while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
                    ++i;
                continue;
            }
        }
        if (w == "INDEXED") {
            size_t j = i + 7;
            while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j])))
                ++j;
            if (wordAt(s, j) == "BY") {
                j += 2;
                while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j])))
                    ++j;
                while (j < s.size() && isWord(s[j]))
                    ++j;
                i = j;
                continue;
            }
            if (size_t tail = endsWithWords(out, "NOT"); tail) {
                out.resize(out.size() - tail);
                i += 7;
                continue;
            }
        }
        if (!w.empty()) {
            out.append(s.substr(i, w.size()));
            i += w.size();
            continue;
        }
        out += c;
        ++i;
    }
    t.parameters = highest;
    return t;
}

} // namespace webhookd::postgres

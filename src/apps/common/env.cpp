#include "apps/common/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace webhookd::cli {

namespace {

std::string lowerCase(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool allDigits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::string> listItems(const std::string& text)
{
    std::vector<std::string> out;
    std::string item;
    for (char c : text + ",") {
        if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
            if (!item.empty())
                out.push_back(std::move(item));
            item.clear();
        } else {
            item += c;
        }
    }
    return out;
}

// CLI11's "--name: must be …" as "VARIABLE must be …".
std::string sentenceFor(const std::string& variable, const CLI::Option& option, const CLI::Error& error)
{
    std::string what = error.what();
    const std::string prefix = option.get_name() + ": ";
    if (what.rfind(prefix, 0) == 0)
        what.erase(0, prefix.size());
    while (!what.empty() && (what.back() == '.' || what.back() == '\n' || what.back() == ' '))
        what.pop_back();
    if (what.rfind("must ", 0) == 0)
        return variable + " " + what;
    if (!what.empty())
        what[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(what[0])));
    return variable + ": " + what;
}

} // namespace

std::string EnvTwins::twinName(std::string_view prefix, std::string_view longName)
{
    std::string out(prefix);
    for (char c : longName)
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

EnvTwins::EnvTwins(CLI::App& app, std::string_view prefix)
{
    for (CLI::Option* o : app.get_options()) {
        const auto& names = o->get_lnames();
        if (names.empty() || names[0] == "help" || names[0] == "help-all" || names[0] == "version")
            continue;
        entries_.push_back({o, {{twinName(prefix, names[0])}}, {}});
    }
}

EnvTwins::Entry* EnvTwins::find(const CLI::Option* option)
{
    for (auto& e : entries_)
        if (e.option == option)
            return &e;
    return nullptr;
}

const EnvTwins::Entry* EnvTwins::find(const CLI::Option* option) const
{
    for (const auto& e : entries_)
        if (e.option == option)
            return &e;
    return nullptr;
}

void EnvTwins::alias(const CLI::Option* option, std::string name, bool bareMilliseconds)
{
    if (Entry* e = find(option))
        e->names.push_back({std::move(name), bareMilliseconds});
}

std::optional<std::string> EnvTwins::apply()
{
    for (Entry& e : entries_) {
        CLI::Option& o = *e.option;
        if (o.count() > 0)
            continue; // the command line gave it
        const Name* used = nullptr;
        std::string value;
        for (const Name& n : e.names)
            if (const char* v = std::getenv(n.variable.c_str()); v != nullptr && *v != '\0') {
                used = &n;
                value = v;
                break;
            }
        if (used == nullptr)
            continue;
        if (used->bareMilliseconds && allDigits(value))
            value += "ms";
        try {
            if (o.get_expected_max() == 0) { // a flag: on or off
                const std::string word = lowerCase(value);
                if (word != "1" && word != "0" && word != "true" && word != "false")
                    return used->variable + " must be 1, 0, true or false (not '" + value + "')";
                o.add_result(word == "1" || word == "true" ? "true" : "false");
            } else if (o.get_expected_max() > 1) { // repeatable: a list
                auto items = listItems(value);
                if (items.empty())
                    continue;
                o.add_result(std::move(items));
            } else {
                o.add_result(value);
            }
            o.run_callback(); // the option's own checks and conversion
        } catch (const CLI::ConversionError&) {
            return used->variable + " does not take '" + value + "'";
        } catch (const CLI::Error& error) {
            return sentenceFor(used->variable, o, error);
        }
        e.usedVariable = used->variable;
    }
    return std::nullopt;
}

std::string EnvTwins::origin(const CLI::Option* option) const
{
    const Entry* e = find(option);
    if (e != nullptr && !e->usedVariable.empty())
        return e->usedVariable;
    return option->get_name();
}

void EnvTwins::showInHelp()
{
    for (Entry& e : entries_)
        e.option->envname(e.names.front().variable);
}

} // namespace webhookd::cli

#include "apps/common/usage.h"

#include <cctype>
#include <charconv>
#include <iostream>

#include <fmt/format.h>

#include "apps/common/env.h"
#include "core/duration.h"
#include "core/text.h"

namespace webhookd::cli {

namespace {

bool isOptionName(std::string_view s) { return s.size() > 1 && s.front() == '-'; }

// "webhookctl target add": the words of the command that was being parsed.
const CLI::App* deepest(const CLI::App& root)
{
    const CLI::App* app = &root;
    for (;;) {
        auto subs = app->get_subcommands();
        if (subs.empty())
            return app;
        app = subs.back();
    }
}

std::string commandPath(const CLI::App* app, std::string_view program)
{
    std::vector<std::string> names;
    for (const CLI::App* a = app; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
        names.push_back(a->get_name());
    std::string out(program);
    for (auto it = names.rbegin(); it != names.rend(); ++it)
        out += " " + *it;
    return out;
}

std::vector<std::string> commandNames(const CLI::App* app)
{
    std::vector<std::string> out;
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; }))
        out.push_back(sub->get_name());
    return out;
}

std::vector<std::string> optionNames(const CLI::App* app)
{
    std::vector<std::string> out;
    for (const CLI::App* a = app; a != nullptr; a = a->get_parent())
        for (const CLI::Option* o : a->get_options())
            for (const auto& n : o->get_lnames())
                out.push_back("--" + n);
    return out;
}

std::string listOf(const std::vector<std::string>& words)
{
    std::string out;
    for (size_t i = 0; i < words.size(); ++i)
        out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
    return out;
}

// The tokens of "The following argument(s) were not expected: b a" (CLI11
// lists them in reverse).
std::vector<std::string> extras(std::string_view message)
{
    std::vector<std::string> out;
    const size_t colon = message.find(": ");
    if (colon == std::string_view::npos)
        return out;
    message.remove_prefix(colon + 2);
    while (!message.empty()) {
        const size_t space = message.find(' ');
        out.emplace_back(message.substr(0, space));
        if (space == std::string_view::npos)
            break;
        message.remove_prefix(space + 1);
    }
    return {out.rbegin(), out.rend()};
}

std::string lowerFirst(std::string s)
{
    if (!s.empty())
        s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

std::string trimEnd(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '.' || s.back() == ' '))
        s.pop_back();
    return s;
}

std::string describe(const CLI::App& root, const CLI::ParseError& e, std::string_view program)
{
    const CLI::App* at = deepest(root);
    const std::string path = commandPath(at, program);
    const std::string what = trimEnd(e.what());
    // By type: CLI11 names some errors after the app instead of their class.
    auto is = [&e](auto* type) { return dynamic_cast<decltype(type)>(&e) != nullptr; };

    if (is(static_cast<const CLI::RequiredError*>(nullptr))) {
        if (what == "A subcommand is required" || what.rfind("Requires at least", 0) == 0) {
            // A word that was meant as the command: "tagret list".
            // CLI11 hands words a command did not take up to its parents.
            std::vector<std::string> words;
            for (const CLI::App* a = at; a != nullptr; a = a->get_parent())
                for (const std::string& w : a->remaining())
                    words.push_back(w);
            for (const std::string& word : words) {
                if (isOptionName(word))
                    continue;
                std::string out = "'" + word + "' is not a command of " + path;
                if (auto m = closestMatch(word, commandNames(at)))
                    return out + "; did you mean '" + *m + "'?";
                return out + "; use " + listOf(commandNames(at));
            }
            return path + " needs a command: " + listOf(commandNames(at));
        }
        const size_t required = what.rfind(" is required");
        if (required != std::string::npos)
            return path + " needs " + what.substr(0, required);
        return lowerFirst(what);
    }
    if (is(static_cast<const CLI::ExtrasError*>(nullptr))) {
        const auto tokens = extras(what);
        if (!tokens.empty()) {
            const std::string& first = tokens.front();
            if (isOptionName(first)) {
                const std::string flag = first.substr(0, first.find('='));
                std::string out = path + " has no option " + flag;
                if (auto m = closestMatch(flag, optionNames(at)))
                    out += "; did you mean " + *m + "?";
                return out;
            }
            const auto commands = commandNames(at);
            if (!commands.empty()) {
                std::string out = "'" + first + "' is not a command of " + path;
                if (auto m = closestMatch(first, commands))
                    out += "; did you mean '" + *m + "'?";
                else
                    out += "; use " + listOf(commands);
                return out;
            }
            return path + " does not take '" + first + "'";
        }
    }
    if (is(static_cast<const CLI::ValidationError*>(nullptr))) {
        // "--limit: must be …" from the validators here.
        const size_t colon = what.find(": ");
        if (colon != std::string::npos)
            return what.substr(0, colon) + " " + what.substr(colon + 2);
    }
    if (is(static_cast<const CLI::ConversionError*>(nullptr))) {
        const size_t eq = what.find(" = ");
        if (what.rfind("Could not convert: ", 0) == 0 && eq != std::string::npos)
            return what.substr(19, eq - 19) + " does not take '" + what.substr(eq + 3) + "'";
    }
    if (is(static_cast<const CLI::ArgumentMismatch*>(nullptr))) {
        const size_t colon = what.find(':');
        const std::string option = colon == std::string::npos ? std::string() : what.substr(0, colon);
        if (!option.empty() && isOptionName(option))
            return option + " needs a value";
        const size_t to = what.find(" arguments to ");
        if (to != std::string::npos) {
            const std::string arg = what.substr(to + 14, what.find(',', to) - to - 14);
            return arg + " needs a value";
        }
    }
    if (is(static_cast<const CLI::ExcludesError*>(nullptr))) {
        const size_t x = what.find(" excludes ");
        if (x != std::string::npos)
            return what.substr(0, x) + " and " + what.substr(x + 10) + " cannot be given together";
    }
    if (is(static_cast<const CLI::RequiresError*>(nullptr))) {
        const size_t r = what.find(" requires ");
        if (r != std::string::npos)
            return what.substr(0, r) + " needs " + what.substr(r + 10);
    }
    return lowerFirst(what);
}

} // namespace

std::string_view version() { return WEBHOOKD_VERSION; }

CLI::Validator duration()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            auto ms = parseDuration(text);
            if (ms)
                return {};
            return "must be a duration like 250ms, 30s, 5m, 2h, 7d or 1h30m, at most 3650d (not '" + text + "')";
        },
        "DURATION", "duration");
}

CLI::Validator timeOrAgo()
{
    return CLI::Validator(
        [](std::string& text) -> std::string {
            if (parseTimeOrAgo(text, 0))
                return {};
            return "must be a duration ago (7d, 1h30m) or a time (2026-12-01T08:00:00Z), not '" + text + "'";
        },
        "TIME", "time");
}

CLI::Validator integer(int64_t lo, int64_t hi)
{
    return CLI::Validator(
        [lo, hi](std::string& text) -> std::string {
            int64_t v = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec == std::errc() && end == text.data() + text.size() && v >= lo && v <= hi)
                return {};
            return "must be a whole number from " + withThousands(lo) + " to " + withThousands(hi) + " (not '" + text +
                "')";
        },
        "N", "integer");
}

CLI::Validator number(double lo, double hi, bool loExclusive)
{
    return CLI::Validator(
        [lo, hi, loExclusive](std::string& text) -> std::string {
            double v = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            const bool inRange = loExclusive ? v > lo && v <= hi : v >= lo && v <= hi;
            if (ec == std::errc() && end == text.data() + text.size() && inRange)
                return {};
            return fmt::format("must be a number {} {:g} and at most {:g} (not '{}')",
                               loExclusive ? "above" : "of at least", lo, hi, text);
        },
        "X", "number");
}

CLI::Validator oneOf(std::vector<std::string> words)
{
    return CLI::Validator(
        [words](std::string& text) -> std::string {
            for (const auto& w : words)
                if (w == text)
                    return {};
            std::string out = "must be " + listOf(words) + " (not '" + text + "')";
            if (auto m = closestMatch(text, words))
                out += "; did you mean " + *m + "?";
            return out;
        },
        "WORD", "one of");
}

void setUp(CLI::App& app, std::string_view program)
{
    app.set_version_flag("--version", std::string(program) + " " + std::string(version()),
                         "Print the version and exit");
}

std::string usageSentence(const CLI::App& root, const CLI::ParseError& error, std::string_view program)
{
    const CLI::App* at = deepest(root);
    std::string sentence = describe(root, error, program);
    for (auto& c : sentence)
        if (c == '\n')
            c = ' ';
    return sentence + " (see '" + commandPath(at, program) + " --help')";
}

namespace {

// Help without CLI11's type annotations: "--timeout DURATION", not
// "--timeout TEXT:DURATION"; "--limit N", not "--limit INT:N".
void tidyHelp(CLI::App& app)
{
    for (CLI::Option* o : app.get_options()) {
        const std::string type = o->get_type_name();
        if (type.find(':') != std::string::npos) {
            // One validator per option here: its name becomes the type's.
            CLI::Validator* v = o->get_validator("");
            const std::string name = v->get_description();
            v->description("");
            o->type_name(name);
        } else if (type == "TEXT" || type == "INT" || type == "UINT" || type == "FLOAT") {
            o->type_name(type == "TEXT" ? "VALUE" : "N");
        }
    }
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
        tidyHelp(*sub);
}

} // namespace

bool parse(CLI::App& app, int argc, char** argv, std::string_view program, int& exitCode, EnvTwins* env)
{
    tidyHelp(app);
    try {
        app.parse(argc, argv);
        if (env)
            if (auto bad = env->apply()) {
                std::cerr << program << ": " << *bad << " (see '" << program << " --help').\n";
                exitCode = kUsageExit;
                return false;
            }
        return true;
    } catch (const CLI::CallForHelp& e) {
        if (env)
            env->showInHelp();
        exitCode = app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        if (env)
            env->showInHelp();
        exitCode = app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        exitCode = app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << program << ": " << usageSentence(app, e, program) << ".\n";
        exitCode = kUsageExit;
    }
    return false;
}

} // namespace webhookd::cli

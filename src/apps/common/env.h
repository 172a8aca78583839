#pragma once

// Environment twins of a program's options (DESIGN.md, Configuration):
// --api-listen may also be given as WEBHOOKD_API_LISTEN (the prefix, then the
// long name upper-cased with dashes as underscores), and an option may keep
// older names as aliases. The command line wins over the environment, a twin
// over its aliases; an empty variable counts as unset. A value from the
// environment is checked exactly as the flag's would be, and a bad one is
// one sentence naming the variable. Flags (on/off options) take 1, 0, true
// or false; repeatable options a list separated by commas or spaces.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace webhookd::cli {

class EnvTwins {
public:
    // Gives every option of app itself (not of its subcommands) that has a
    // long name its twin, except --help, --help-all and --version. Add every
    // option before. app must outlive the EnvTwins.
    EnvTwins(CLI::App& app, std::string_view prefix);

    // An older name of option's variable, read when its twin is unset.
    // bareMilliseconds: a value of digits alone means milliseconds (the
    // original variables held plain milliseconds).
    void alias(const CLI::Option* option, std::string name, bool bareMilliseconds = false);

    // After the command line was parsed: gives every option it left out its
    // value from the environment. nullopt when all went well, or the
    // sentence naming the variable whose value is bad (without "program: "
    // or a final stop).
    std::optional<std::string> apply();

    // How the user gave option's value, for messages about checks made
    // after parsing: the variable's name when it came from the environment,
    // else the option's (--busy-timeout).
    std::string origin(const CLI::Option* option) const;

    // Shows each twin in --help (CLI11's "(Env:NAME)"). Only for printing
    // help: parsing after this would read the environment without these
    // checks.
    void showInHelp();

    // The twin of a long option name: ("WEBHOOKD_", "api-listen") ->
    // "WEBHOOKD_API_LISTEN".
    static std::string twinName(std::string_view prefix, std::string_view longName);

private:
    struct Name {
        std::string variable;
        bool bareMilliseconds = false;
    };
    struct Entry {
        CLI::Option* option;
        std::vector<Name> names;  // the twin first, then aliases in the order given
        std::string usedVariable; // set by apply() when the value came from it
    };
    Entry* find(const CLI::Option* option);
    const Entry* find(const CLI::Option* option) const;

    std::vector<Entry> entries_;
};

} // namespace webhookd::cli

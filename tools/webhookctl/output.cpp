#include "context.h"

#include <unistd.h>

#include <cctype>
#include <iostream>

#include "core/duration.h"

namespace webhookd::cli {

void printTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i)
        width[i] = header[i].size();
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size())
                out += std::string(width[i] - cells[i].size() + 2, ' ');
        }
        std::cout << out << '\n';
    };
    line(header);
    for (const auto& row : rows)
        line(row);
}

ProgressLine::ProgressLine()
    : tty_(isatty(STDERR_FILENO) != 0)
{ }

ProgressLine::~ProgressLine() { done(); }

void ProgressLine::show(const std::string& text)
{
    if (!tty_)
        return;
    // Clears the rest of the line: the new text may be shorter.
    std::cerr << '\r' << text << "\x1b[K" << std::flush;
    shown_ = true;
}

void ProgressLine::done()
{
    if (shown_)
        std::cerr << '\n' << std::flush;
    shown_ = false;
}

std::string orDash(const std::optional<std::string>& s) { return s && !s->empty() ? *s : "-"; }
std::string orDash(const std::optional<int>& n) { return n ? std::to_string(*n) : "-"; }
std::string timeText(std::optional<int64_t> epochMs) { return epochMs ? isoTime(*epochMs) : "-"; }

} // namespace webhookd::cli

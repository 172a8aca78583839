#include "context.h"

#include <unistd.h>

#include <cctype>
#include <iostream>

#include "core/duration.h"
#include "core/utf8.h"

namespace webhookd::cli {

void printJson(const nlohmann::json& j)
{
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

namespace {

// Columns are as wide as their widest cell in characters, not bytes.
size_t displayWidth(std::string_view s)
{
    size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xC0) != 0x80;
    return n;
}

} // namespace

void printTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& given)
{
    std::vector<std::vector<std::string>> rows;
    rows.reserve(given.size());
    for (const auto& row : given) {
        std::vector<std::string> cells;
        cells.reserve(row.size());
        for (const auto& cell : row)
            cells.push_back(utf8::printable(cell));
        rows.push_back(std::move(cells));
    }
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i)
        width[i] = displayWidth(header[i]);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], displayWidth(row[i]));
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out;
        for (size_t i = 0; i < cells.size(); ++i) {
            out += cells[i];
            if (i + 1 < cells.size())
                out += std::string(width[i] - displayWidth(cells[i]) + 2, ' ');
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

#include "support/helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

namespace webhookd::test {

int64_t msSince(Steady::time_point since)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - since).count();
}

int64_t wallClockMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout, std::chrono::milliseconds step)
{
    const auto deadline = Steady::now() + timeout;
    for (;;) {
        if (done())
            return true;
        if (Steady::now() >= deadline)
            return false;
        std::this_thread::sleep_for(step);
    }
}

std::vector<std::string> allLines(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

std::vector<std::string> lines(const std::string& text)
{
    std::vector<std::string> out;
    for (std::string& line : allLines(text))
        if (!line.empty())
            out.push_back(std::move(line));
    return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string tokenSecret(const std::string& token)
{
    return token.substr(token.find('_', token.find('_', token.find('_') + 1) + 1) + 1);
}

bool startsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary);
    out << text;
}

bool oneSentence(const std::string& err, const std::string& program)
{
    if (program.empty())
        return lines(err).size() == 1;
    const std::string prefix = program + ": ";
    const auto ls = allLines(err);
    return ls.size() == 1 && err.back() == '\n' && startsWith(ls[0], prefix) && ls[0].size() > prefix.size() + 1 &&
        ls[0].back() == '.';
}

std::string describe(const std::vector<std::string>& args, const RunResult& r)
{
    std::string cmd = "webhookctl";
    for (const auto& a : args)
        cmd += " '" + a + "'";
    return cmd + "\n  exit " + std::to_string(r.exitCode) + "\n  stdout: " + r.out + "\n  stderr: " + r.err;
}

int unusedPort()
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::optional<nlohmann::json> stoppedLine(const std::string& stderrText)
{
    for (const std::string& line : lines(stderrText)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("msg", "") == "webhookd stopped")
            return j;
    }
    return std::nullopt;
}

std::vector<nlohmann::json> logLines(const std::string& stderrText, const std::string& message)
{
    std::vector<nlohmann::json> out;
    for (const auto& line : lines(stderrText)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("msg", "") == message)
            out.push_back(j);
    }
    return out;
}

int loggedPort(Process& worker, const std::string& message)
{
    int port = 0;
    REQUIRE_MESSAGE(waitUntil(
                        [&] {
                            auto found = logLines(worker.stderrText(), message);
                            if (found.empty())
                                return false;
                            const std::string address = found[0].at("address");
                            port = std::stoi(address.substr(address.rfind(':') + 1));
                            return true;
                        },
                        10s),
                    "no '" << message << "' line: " << worker.stderrText());
    return port;
}

bool firstClaimDone(int port)
{
    const HttpReply r = httpGet("127.0.0.1", port, "/metrics");
    const std::string name = "\nwebhookd_last_tick_timestamp_seconds ";
    const size_t at = r.body.find(name);
    return r.status == 200 && at != std::string::npos && std::stod(r.body.substr(at + name.size())) > 0;
}

int64_t peakRssKb(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoll(line.substr(6));
    return -1;
}

} // namespace webhookd::test

#include "fast_server.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace webhookd::receiver {

namespace {

constexpr size_t kMaxRecords = 2'000'000;
constexpr size_t kMaxRequestBytes = 8 * 1024 * 1024;

struct Connection {
    std::string in;
    std::string out;
};

struct Record {
    int64_t timeMs;
    std::string id;
};

// Finds a header's value in the head (case-insensitive name), or empty.
std::string_view header(std::string_view head, std::string_view name)
{
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
        size_t start = pos + 2;
        size_t end = head.find("\r\n", start);
        std::string_view line =
            head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (line.size() > name.size() && line[name.size()] == ':' &&
            strncasecmp(line.data(), name.data(), name.size()) == 0) {
            std::string_view v = line.substr(name.size() + 1);
            while (!v.empty() && v.front() == ' ')
                v.remove_prefix(1);
            return v;
        }
        pos = end;
    }
    return {};
}

class FastServer {
public:
    FastServer(int status)
        : status_(status)
    {
        const char* reason = status == 200 ? "OK" : status == 204 ? "No Content" : "Status";
        const std::string body = status == 204 ? "" : "{\"ok\":true}";
        reply_ = "HTTP/1.1 " + std::to_string(status) + " " + reason +
            "\r\nContent-Length: " + std::to_string(body.size()) +
            (body.empty() ? "" : "\r\nContent-Type: application/json") + "\r\n\r\n" + body;
    }

    int run(const std::string& host, int port)
    {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
            std::cerr << "webhook-receiver: the fast engine needs an IPv4 --host.\n";
            return 2;
        }
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 4096) != 0) {
            std::cerr << "webhook-receiver: cannot listen on " << host << ":" << port << ".\n";
            return 1;
        }
        socklen_t len = sizeof addr;
        getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
        std::cout << "listening on " << host << ":" << ntohs(addr.sin_port) << std::endl;

        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop, nullptr);
        std::signal(SIGPIPE, SIG_IGN);
        const int sigfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);

        ep_ = epoll_create1(EPOLL_CLOEXEC);
        add(listen_, EPOLLIN);
        add(sigfd, EPOLLIN);
        std::vector<epoll_event> events(256);
        for (;;) {
            const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), -1);
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == sigfd)
                    return 0;
                if (fd == listen_)
                    acceptAll();
                else
                    serve(fd, events[i].events);
            }
        }
    }

private:
    void add(int fd, uint32_t ev)
    {
        epoll_event e{};
        e.events = ev;
        e.data.fd = fd;
        epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
    }

    void acceptAll()
    {
        for (;;) {
            const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
                return;
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            conns_[fd];
            add(fd, EPOLLIN | EPOLLRDHUP);
        }
    }

    void close(int fd)
    {
        epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns_.erase(fd);
    }

    void serve(int fd, uint32_t ev)
    {
        auto it = conns_.find(fd);
        if (it == conns_.end())
            return;
        Connection& c = it->second;
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
                c.in.append(buf, static_cast<size_t>(n));
                if (c.in.size() > kMaxRequestBytes)
                    return close(fd);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                return close(fd);
            break;
        }
        if (!parse(c))
            return close(fd);
        if (!c.out.empty()) {
            const ssize_t w = ::write(fd, c.out.data(), c.out.size());
            if (w < 0 && errno != EAGAIN)
                return close(fd);
            // Answers are small; a short write on loopback means a client
            // that stopped reading, which a sink may drop.
            c.out.clear();
        }
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            close(fd);
    }

    // Consumes every complete request in c.in, appending answers to c.out.
    bool parse(Connection& c)
    {
        size_t consumed = 0;
        std::string_view all(c.in);
        for (;;) {
            std::string_view rest = all.substr(consumed);
            const size_t headEnd = rest.find("\r\n\r\n");
            if (headEnd == std::string_view::npos)
                break;
            std::string_view head = rest.substr(0, headEnd);
            if (!header(head, "Transfer-Encoding").empty())
                return false; // chunked request bodies are not for this sink
            size_t length = 0;
            if (auto cl = header(head, "Content-Length"); !cl.empty())
                length = std::strtoul(std::string(cl).c_str(), nullptr, 10);
            if (rest.size() < headEnd + 4 + length)
                break;
            consumed += headEnd + 4 + length;
            if (head.rfind("GET /_stats", 0) == 0)
                c.out += json("{\"requests\":" + std::to_string(requests_) + ",\"distinct_ids\":" +
                              std::to_string(ids_.size()) + ",\"duplicate_ids\":" + std::to_string(duplicates_) + "}");
            else if (head.rfind("GET /_requests", 0) == 0)
                c.out += json(recordsJson());
            else
                c.out += count(head);
        }
        c.in.erase(0, consumed);
        return true;
    }

    const std::string& count(std::string_view head)
    {
        ++requests_;
        std::string id(header(head, "webhook-id"));
        if (!id.empty() && !ids_.insert(id).second)
            ++duplicates_;
        if (records_.size() < kMaxRecords)
            records_.push_back({SystemClock::instance().nowMs(), std::move(id)});
        return reply_;
    }

    std::string recordsJson() const
    {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& r : records_)
            arr.push_back({{"time_ms", r.timeMs}, {"webhook_id", r.id}});
        return arr.dump();
    }

    static std::string json(const std::string& body)
    {
        return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
    }

    int status_;
    std::string reply_;
    int listen_ = -1;
    int ep_ = -1;
    std::unordered_map<int, Connection> conns_;
    std::unordered_set<std::string> ids_;
    std::vector<Record> records_;
    int64_t requests_ = 0;
    int64_t duplicates_ = 0;
};

} // namespace

int runFastServer(const std::string& host, int port, int status)
{
    FastServer server(status);
    return server.run(host, port);
}

} // namespace webhookd::receiver

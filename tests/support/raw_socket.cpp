#include "support/raw_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace webhookd::test {

namespace {

int64_t nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Complete answers at the front of bytes (heads with a Content-Length, or none).
int completeAnswers(const std::string& bytes)
{
    int n = 0;
    size_t at = 0;
    for (;;) {
        const size_t end = bytes.find("\r\n\r\n", at);
        if (end == std::string::npos)
            return n;
        const std::string head = bytes.substr(at, end - at);
        size_t length = 0;
        const size_t cl = head.find("Content-Length: ");
        if (cl != std::string::npos)
            length = std::stoul(head.substr(cl + 16));
        if (head.rfind("HTTP/1.1 100 ", 0) == 0)
            length = 0;
        else if (bytes.size() < end + 4 + length)
            return n;
        else
            ++n;
        at = end + 4 + length;
    }
}

} // namespace

int connectTo(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        return fd;
    if (fd >= 0)
        ::close(fd);
    return -1;
}

bool sendAll(int fd, const std::string& bytes)
{
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        sent += static_cast<size_t>(n);
    }
    return true;
}

Received readAnswers(int fd, int count, std::chrono::milliseconds timeout)
{
    Received r;
    const int64_t end = nowMs() + timeout.count();
    char buf[16 * 1024];
    while (count <= 0 || completeAnswers(r.bytes) < count) {
        const int64_t left = end - nowMs();
        if (left <= 0)
            return r;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0)
            continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r.closed = true;
            return r;
        }
        r.bytes.append(buf, static_cast<size_t>(n));
    }
    return r;
}

Received readUntilClosed(int fd, std::chrono::milliseconds timeout) { return readAnswers(fd, 0, timeout); }

bool closedWithin(int fd, std::chrono::milliseconds timeout) { return readUntilClosed(fd, timeout).closed; }

int answerCount(const std::string& bytes)
{
    int n = 0;
    for (size_t at = bytes.find("HTTP/1.1 "); at != std::string::npos; at = bytes.find("HTTP/1.1 ", at + 1))
        if (bytes.compare(at, 12, "HTTP/1.1 100") != 0)
            ++n;
    return n;
}

} // namespace webhookd::test

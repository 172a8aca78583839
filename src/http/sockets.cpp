#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/wire.h"

namespace webhookd::http {

Result<Listener> listenOn(const std::string& host, int port)
{
    const std::string where = host + ":" + std::to_string(port);
    sockaddr_storage addr{};
    socklen_t len = 0;
    const std::string bindHost = host == "localhost" ? "127.0.0.1" : host;
    if (auto* in4 = reinterpret_cast<sockaddr_in*>(&addr); ::inet_pton(AF_INET, bindHost.c_str(), &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof(sockaddr_in);
    } else if (auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
               ::inet_pton(AF_INET6, bindHost.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof(sockaddr_in6);
    } else {
        return fail(Error::invalid("cannot listen on " + where + ": the host must be an IP address or localhost"));
    }
    Listener l;
    l.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    // No SO_REUSEPORT: a second webhookd on this host must not share the port.
    const int yes = 1;
    if (l.fd >= 0)
        ::setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (l.fd < 0 || ::bind(l.fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(l.fd, SOMAXCONN) != 0) {
        const std::string why = std::strerror(errno);
        if (l.fd >= 0)
            ::close(l.fd);
        return fail(Error::network("cannot listen on " + where + ": " + why));
    }
    sockaddr_storage bound{};
    socklen_t boundLen = sizeof bound;
    ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&bound), &boundLen);
    l.port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                              : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    return l;
}

std::string peerAddress(const sockaddr_storage& addr)
{
    char text[INET6_ADDRSTRLEN] = "";
    if (addr.ss_family == AF_INET)
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
    else if (addr.ss_family == AF_INET6)
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
    return text;
}

Result<std::pair<std::string, int>> parseListenAddress(const std::string& text, std::string_view flag, bool offAllowed)
{
    const std::string f(flag);
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        return fail(Error::invalid(f + " needs HOST:PORT, such as 127.0.0.1:9464" + (offAllowed ? ", or off" : "")));
    std::string host = text.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']')
            return fail(Error::invalid(f + " needs HOST:PORT, such as [::1]:9464"));
        host = host.substr(1, host.size() - 2);
    }
    const std::string port = text.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
        return fail(Error::invalid(f + " has an invalid port '" + port + "'"));
    return std::pair{host, std::stoi(port)};
}

bool isLoopbackHost(std::string_view host)
{
    if (host == "localhost" || host == "::1")
        return true;
    in_addr a{};
    const std::string h(host);
    return ::inet_pton(AF_INET, h.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

} // namespace webhookd::http

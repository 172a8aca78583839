#pragma once

// The server's parts below its loop (src/http only): answers as bytes on the
// wire, the route table, and the listening socket.

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "http/server.h"

namespace webhookd::http {

// Fields: the first value under name (case-insensitive when ignoreCase).
std::optional<std::string> findField(const Fields& fields, std::string_view name, bool ignoreCase);

// An answer as bytes: status line, Date, defaults (unless the answer has a
// field of that name), the answer's fields, Content-Type and -Length, and
// "Connection: close" when close; no body for HEAD, 1xx, 204 and 304.
std::string serialize(const Response& r, const Fields& defaults, bool headOnly, bool close);

struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments; // "{name}" for a parameter
    Handler handler;
};

class Routes {
public:
    void add(std::string method, std::string_view pattern, Handler handler);
    // The route for method (HEAD as GET) and path, its {name} segments
    // appended to params; nullptr when none, with `allow` listing the
    // methods the path has (empty: no route has the path) and samePath one
    // of the routes that have it.
    const Route* find(const std::string& method, const std::string& path, Fields& params, std::string& allow,
                      const Route** samePath = nullptr) const;

private:
    std::vector<Route> routes_;
};

// A non-blocking socket listening on host (an IP address or "localhost")
// and port (0: any free one), without SO_REUSEPORT; its port as bound.
struct Listener {
    int fd = -1;
    int port = 0;
};
Result<Listener> listenOn(const std::string& host, int port);

// The address of a peer as text.
std::string peerAddress(const sockaddr_storage& addr);

} // namespace webhookd::http

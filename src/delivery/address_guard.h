#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

struct sockaddr;

namespace webhookd {

// A CIDR range the guard lets through even though it is private.
struct Cidr {
    unsigned char bytes[16] = {}; // IPv4 as IPv4-mapped IPv6
    int prefix = 0;               // in IPv6 bits (IPv4 prefixes + 96)

    static Result<Cidr> parse(std::string_view text);
    bool contains(const unsigned char (&addr)[16]) const;
};

// Decides whether webhookd may connect to an address. It runs on the address
// actually being connected (curl's open-socket callback), after DNS, so no
// spelling of a host name or IP can slip past it.
class AddressGuard {
public:
    explicit AddressGuard(bool allowPrivate = false, std::vector<Cidr> allowed = {})
        : allowPrivate_(allowPrivate),
          allowed_(std::move(allowed))
    { }

    // nullopt when the connection may go ahead; otherwise why not, e.g.
    // "127.0.0.1 is a loopback address".
    std::optional<std::string> check(const sockaddr* address) const;

    // The same for a literal IP address (tests and diagnostics).
    std::optional<std::string> checkText(std::string_view ip) const;

private:
    std::optional<std::string> checkMapped(const unsigned char (&addr)[16], const std::string& shown) const;

    bool allowPrivate_;
    std::vector<Cidr> allowed_;
};

} // namespace webhookd

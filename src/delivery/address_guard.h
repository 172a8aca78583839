#pragma once

#include <array>
#include <cstdint>
#include <functional>
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

    // "10.1.0.0/16", "fd00::/8", an address alone (a /32 or /128). An
    // IPv4-mapped range (::ffff:a.b.c.d) needs a prefix of at least /96:
    // a shorter one would reach beyond the IPv4 space into every address.
    static Result<Cidr> parse(std::string_view text);
    bool contains(const unsigned char (&addr)[16]) const;
};

struct GuardOptions {
    bool allowPrivate = false; // --allow-private-networks: private, loopback, link-local, own addresses
    std::vector<Cidr> allowed; // --allow-network: let through although private
    std::vector<Cidr> denied;  // --deny-network: refused always, whatever else allows
    std::vector<Cidr> nat64;   // --nat64-prefix (a /96): the IPv4 address inside is judged too
    bool ownAddresses = true;  // refuse this host's own interface addresses (public ones too)
    // Where this host's addresses come from (IPv4 as IPv4-mapped IPv6); by
    // default getifaddrs(). Tests give their own.
    std::function<std::vector<std::array<unsigned char, 16>>()> interfaceAddresses;
};

// Decides whether webhookd may connect to an address. It runs on the address
// actually being connected (curl's open-socket callback), after DNS, so no
// spelling of a host name or IP can slip past it. One thread at a time (the
// list of this host's addresses is refreshed in place, once a minute).
class AddressGuard {
public:
    explicit AddressGuard(GuardOptions options = {})
        : o_(std::move(options))
    { }
    explicit AddressGuard(bool allowPrivate, std::vector<Cidr> allowed = {})
        : AddressGuard(GuardOptions{allowPrivate, std::move(allowed), {}, {}, true, {}})
    { }

    // nullopt when the connection may go ahead; otherwise why not, e.g.
    // "127.0.0.1 is a loopback address".
    std::optional<std::string> check(const sockaddr* address) const;

    // The same for a literal IP address (tests and diagnostics).
    std::optional<std::string> checkText(std::string_view ip) const;

private:
    std::optional<std::string> checkMapped(const unsigned char (&addr)[16], const std::string& shown) const;
    bool isOwnAddress(const unsigned char (&addr)[16]) const;

    GuardOptions o_;
    // This host's interface addresses, as IPv4-mapped IPv6, and when read.
    mutable std::vector<std::array<unsigned char, 16>> own_;
    mutable int64_t ownReadAtMono_ = -1;
};

} // namespace webhookd

#include "delivery/address_guard.h"

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace webhookd {

namespace {

int64_t monotonicMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

using Addr = unsigned char[16];

struct Range {
    unsigned char bytes[16];
    int prefix; // IPv6 bits
    const char* what;
};

bool inPrefix(const unsigned char (&addr)[16], const unsigned char* net, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(addr, net, static_cast<size_t>(full)) != 0)
        return false;
    if (rest == 0)
        return true;
    const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (addr[full] & mask) == (net[full] & mask);
}

constexpr Range v4(unsigned char a, unsigned char b, unsigned char c, unsigned char d, int prefix, const char* what)
{
    return {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}, 96 + prefix, what};
}

// Everything that is not the public internet.
constexpr Range kBlocked[] = {
    v4(0, 0, 0, 0, 8, "an unspecified (0.0.0.0/8) address"),
    v4(10, 0, 0, 0, 8, "a private (10.0.0.0/8) address"),
    v4(100, 64, 0, 0, 10, "a carrier-grade NAT (100.64.0.0/10) address"),
    v4(127, 0, 0, 0, 8, "a loopback address"),
    v4(168, 63, 129, 16, 32, "Azure's host endpoint (168.63.129.16, WireServer)"),
    v4(169, 254, 0, 0, 16, "a link-local (169.254.0.0/16, cloud metadata) address"),
    v4(172, 16, 0, 0, 12, "a private (172.16.0.0/12) address"),
    v4(192, 0, 0, 0, 24, "an IETF protocol assignment (192.0.0.0/24) address"),
    v4(192, 0, 2, 0, 24, "a documentation (192.0.2.0/24) address"),
    v4(192, 88, 99, 0, 24, "a 6to4 relay (192.88.99.0/24) address"),
    v4(192, 168, 0, 0, 16, "a private (192.168.0.0/16) address"),
    v4(198, 18, 0, 0, 15, "a benchmarking (198.18.0.0/15) address"),
    v4(198, 51, 100, 0, 24, "a documentation (198.51.100.0/24) address"),
    v4(203, 0, 113, 0, 24, "a documentation (203.0.113.0/24) address"),
    v4(224, 0, 0, 0, 4, "a multicast address"),
    v4(240, 0, 0, 0, 4, "a reserved (240.0.0.0/4) or broadcast address"),
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 128, "the unspecified address ::"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "the IPv6 loopback address"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "a local-use NAT64 (64:ff9b:1::/48) address"},
    {{0x01, 0x00}, 64, "a discard-only (100::/64) address"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation (2001:db8::/32) address"},
    {{0x20, 0x01, 0x00, 0x00}, 23, "an IETF protocol assignment (2001::/23) address"},
    {{0x20, 0x02}, 16, "a 6to4 (2002::/16) address"},
    {{0x3f, 0xff}, 20, "a documentation (3fff::/20) address"},
    {{0xfc, 0x00}, 7, "a unique-local (fc00::/7) address"},
    {{0xfe, 0x80}, 10, "a link-local (fe80::/10) address"},
    {{0xfe, 0xc0}, 10, "a site-local (fec0::/10) address"},
    {{0xff, 0x00}, 8, "a multicast address"},
};

} // namespace

Result<Cidr> Cidr::parse(std::string_view text)
{
    const std::string s(text);
    const auto slash = s.find('/');
    const std::string ip = s.substr(0, slash);
    Cidr c;
    int maxPrefix = 128;
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
        c.bytes[10] = c.bytes[11] = 0xff;
        std::memcpy(c.bytes + 12, &a4, 4);
        maxPrefix = 32;
    } else if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) {
        std::memcpy(c.bytes, &a6, 16);
    } else {
        return fail(Error::invalid("'" + s + "' is not a CIDR range such as 10.1.0.0/16 or fd00::/8"));
    }
    int prefix = maxPrefix;
    if (slash != std::string::npos) {
        const std::string p = s.substr(slash + 1);
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(p) > maxPrefix)
            return fail(Error::invalid("'" + s + "' has an invalid prefix length"));
        prefix = std::stoi(p);
    }
    c.prefix = maxPrefix == 32 ? prefix + 96 : prefix;
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (maxPrefix == 128 && std::memcmp(c.bytes, kMapped, 12) == 0 && c.prefix < 96)
        return fail(Error::invalid("'" + s +
                                   "' is an IPv4-mapped range with a prefix below /96, which would cover "
                                   "far more than IPv4; write the IPv4 range itself, such as 10.0.0.0/8"));
    return c;
}

bool Cidr::contains(const unsigned char (&addr)[16]) const { return inPrefix(addr, bytes, prefix); }

namespace {

std::vector<std::array<unsigned char, 16>> readInterfaceAddresses()
{
    std::vector<std::array<unsigned char, 16>> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return out;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr)
            continue;
        std::array<unsigned char, 16> a{};
        if (i->ifa_addr->sa_family == AF_INET) {
            a[10] = a[11] = 0xff;
            std::memcpy(a.data() + 12, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        out.push_back(a);
    }
    ::freeifaddrs(list);
    return out;
}

} // namespace

bool AddressGuard::isOwnAddress(const unsigned char (&addr)[16]) const
{
    // Read again once a minute: interfaces come and go (DHCP, a VPN).
    const int64_t now = monotonicMs();
    if (ownReadAtMono_ < 0 || now - ownReadAtMono_ > 60'000) {
        own_ = o_.interfaceAddresses ? o_.interfaceAddresses() : readInterfaceAddresses();
        ownReadAtMono_ = now;
    }
    for (const auto& a : own_)
        if (std::memcmp(a.data(), addr, 16) == 0)
            return true;
    return false;
}

std::optional<std::string> AddressGuard::checkMapped(const unsigned char (&addr)[16], const std::string& shown) const
{
    // IPv4-compatible (::a.b.c.d, deprecated), IPv4-translated
    // (::ffff:0:a.b.c.d), NAT64 (64:ff9b::a.b.c.d and the operator's own
    // /96 prefixes) addresses reach the IPv4 address inside them, so they are
    // judged as that address too. (IPv4-mapped ::ffff:a.b.c.d is how IPv4 is
    // held here already.)
    static const unsigned char kCompat[12] = {};
    static const unsigned char kTranslated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const unsigned char kNat64[12] = {0, 0x64, 0xff, 0x9b};
    unsigned char inner[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool embeds = std::memcmp(addr, kCompat, 12) == 0 || std::memcmp(addr, kTranslated, 12) == 0 ||
        std::memcmp(addr, kNat64, 12) == 0;
    for (const auto& p : o_.nat64)
        embeds = embeds || p.contains(addr);
    if (embeds)
        std::memcpy(inner + 12, addr + 12, 4);
    for (const auto& c : o_.denied)
        if (c.contains(addr) || (embeds && c.contains(inner)))
            return shown + " is in a range webhookd was told to refuse (--deny-network)";
    if (o_.allowPrivate)
        return std::nullopt;
    for (const auto& c : o_.allowed)
        if (c.contains(addr) || (embeds && c.contains(inner)))
            return std::nullopt;
    for (const auto& r : kBlocked)
        if (inPrefix(addr, r.bytes, r.prefix))
            return shown + " is " + r.what;
    if (embeds)
        for (const auto& r : kBlocked)
            if (inPrefix(inner, r.bytes, r.prefix))
                return shown + " embeds " + r.what;
    if (o_.ownAddresses && (isOwnAddress(addr) || (embeds && isOwnAddress(inner))))
        return shown + " is an address of this host";
    return std::nullopt;
}

std::optional<std::string> AddressGuard::check(const sockaddr* address) const
{
    unsigned char addr[16] = {};
    char text[INET6_ADDRSTRLEN] = "?";
    if (address->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(address);
        addr[10] = addr[11] = 0xff;
        std::memcpy(addr + 12, &in->sin_addr, 4);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    } else if (address->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
        std::memcpy(addr, &in6->sin6_addr, 16);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    } else {
        return std::string("the address family is neither IPv4 nor IPv6");
    }
    return checkMapped(addr, text);
}

std::optional<std::string> AddressGuard::checkText(std::string_view ip) const
{
    const std::string s(ip);
    sockaddr_in6 a6{};
    sockaddr_in a4{};
    if (inet_pton(AF_INET, s.c_str(), &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        return check(reinterpret_cast<const sockaddr*>(&a4));
    }
    if (inet_pton(AF_INET6, s.c_str(), &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        return check(reinterpret_cast<const sockaddr*>(&a6));
    }
    return "'" + s + "' is not an IP address";
}

} // namespace webhookd

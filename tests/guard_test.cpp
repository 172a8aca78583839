#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// The address guard's additions from the security review (F6, F15), unit
// by unit; the full table of ranges is tested in tests/e2e/security_test.cpp.

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "delivery/address_guard.h"

using namespace webhookd;

namespace {

Cidr cidr(const char* text) { return Cidr::parse(text).value(); }

} // namespace

TEST_CASE("guard: Azure's host endpoint 168.63.129.16 is refused")
{
    const AddressGuard guard;
    auto why = guard.checkText("168.63.129.16");
    REQUIRE(why);
    CHECK(why->find("Azure") != std::string::npos);
    CHECK_FALSE(guard.checkText("168.63.129.17"));
}

TEST_CASE("guard: this host's own addresses are refused, public ones included")
{
    // A host whose interface carries a public address: a target on it would
    // reach every service bound to 0.0.0.0 there.
    GuardOptions o;
    o.interfaceAddresses = [] {
        std::array<unsigned char, 16> a{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 128, 0, 7};
        return std::vector{a};
    };
    const AddressGuard guard(o);
    auto why = guard.checkText("100.128.0.7");
    REQUIRE(why);
    CHECK(why->find("this host") != std::string::npos);
    CHECK(guard.checkText("::ffff:100.128.0.7")); // spelled mapped
    CHECK_FALSE(guard.checkText("100.128.0.8"));  // a neighbour is the internet
    o.allowed = {cidr("100.128.0.7/32")};
    CHECK_FALSE(AddressGuard(o).checkText("100.128.0.7")); // --allow-network lets it through
    // Without a hook the real interfaces are read; loopback is among them.
    CHECK(AddressGuard().checkText("8.8.8.8") == std::nullopt);
}

TEST_CASE("guard: --deny-network refuses a range whatever else allows it")
{
    const AddressGuard guard(
        GuardOptions{true, {cidr("10.0.0.0/8")}, {cidr("10.1.0.0/16"), cidr("8.8.8.0/24")}, {}, true, {}});
    CHECK(guard.checkText("10.1.2.3"));
    CHECK_FALSE(guard.checkText("10.2.0.1"));
    CHECK(guard.checkText("8.8.8.8"));
    CHECK(guard.checkText("::ffff:8.8.8.8")); // the same address, mapped
}

TEST_CASE("guard: an operator's NAT64 /96 prefix is judged by the IPv4 address inside")
{
    const AddressGuard plain;
    CHECK_FALSE(plain.checkText("2001:db9:64::a9fe:a9fe")); // unknown to the guard: looks public
    const AddressGuard guard(GuardOptions{false, {}, {}, {cidr("2001:db9:64::/96")}, true, {}});
    auto why = guard.checkText("2001:db9:64::a9fe:a9fe"); // 169.254.169.254 inside
    REQUIRE(why);
    CHECK(why->find("link-local") != std::string::npos);
    CHECK_FALSE(guard.checkText("2001:db9:64::808:808")); // 8.8.8.8 inside
}

TEST_CASE("guard: an IPv4-mapped range below /96 is refused (F15)")
{
    auto wide = Cidr::parse("::ffff:10.0.0.0/8");
    REQUIRE_FALSE(wide);
    CHECK(wide.error().message().find("/96") != std::string::npos);
    auto exact = Cidr::parse("::ffff:10.0.0.0/104");
    REQUIRE(exact);
    const AddressGuard guard(GuardOptions{false, {*exact}, {}, {}, true, {}});
    CHECK_FALSE(guard.checkText("10.1.2.3"));
    CHECK(guard.checkText("127.0.0.1"));
    CHECK(guard.checkText("11.0.0.1") == std::nullopt);
}

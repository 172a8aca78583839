// Target URLs, --allow-network ranges and literal addresses.
#include <cstdlib>
#include <string>

#include "core/validate.h"
#include "delivery/address_guard.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto in = webhookd::fuzz::text(data, size);
    if (webhookd::validateUrl(in)) {
        if (in.size() > 2048 || !(in.substr(0, 7) == "http://" || in.substr(0, 8) == "https://"))
            std::abort();
        for (unsigned char c : in)
            if (c <= 0x20 || c == 0x7f)
                std::abort();
    }
    // Redaction only ever replaces the userinfo's secret part with "***":
    // everything from the host on is kept as it was.
    const std::string shown = webhookd::redactUrl(in);
    if (const auto at = in.find('@'); at == std::string::npos && shown != in)
        std::abort();
    if (shown.size() > in.size() + 3)
        std::abort();
    static const webhookd::AddressGuard guard;
    (void)guard.checkText(in);
    if (auto cidr = webhookd::Cidr::parse(in)) {
        if (cidr->prefix < 0 || cidr->prefix > 128)
            std::abort();
        const webhookd::AddressGuard allowing(false, {*cidr});
        (void)allowing.checkText("127.0.0.1");
        (void)allowing.checkText("fd00::1");
    }
    return 0;
}

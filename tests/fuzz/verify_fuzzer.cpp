// What `webhookctl verify` and the receiver are given: secrets, ids,
// timestamps and signature headers of both schemes, and the body.
#include <cstdlib>

#include "fuzz_input.h"
#include "signing/signing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // secret \n id \n timestamp \n signature header \n body
    auto f = webhookd::fuzz::fields(webhookd::fuzz::text(data, size), 5);
    webhookd::VerifyRequest req{{f[0]}, f[1], f[2], f[3]};
    (void)webhookd::verifyStandard(req, f[4], 1'700'000'000'000);
    (void)webhookd::verifyGithub({f[0]}, f[3], f[4]);
    (void)webhookd::base64Decode(f[3]);
    auto key = webhookd::secretKey(f[0]);
    if (key && f[2].size() < 19) {
        // A signature webhookd makes is one the verifier accepts.
        const std::string id = f[1].find('.') == std::string::npos ? f[1] : "msg_x";
        const std::string sig = webhookd::signStandard(*key, id, 1'700'000'000, f[4]);
        webhookd::VerifyRequest mine{{f[0]}, id, "1700000000", sig};
        if (!webhookd::verifyStandard(mine, f[4], 1'700'000'000'000))
            std::abort();
        if (!f[0].empty() && !webhookd::verifyGithub({f[0]}, webhookd::signGithub(f[0], f[4]), f[4]))
            std::abort();
    }
    return 0;
}

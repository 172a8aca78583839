#include "context.h"

#include <charconv>
#include <iostream>
#include <iterator>

#include "core/duration.h"
#include "core/ids.h"
#include "signing/signing.h"

namespace webhookd::cli {

namespace {

std::string readStdin()
{
    std::cin >> std::noskipws;
    return std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
}

} // namespace

void addSecretCommands(CLI::App& app, Context& ctx)
{
    auto* secret = app.add_subcommand("secret", "Generate signing secrets");
    secret->require_subcommand(1);
    auto hex = std::make_shared<bool>(false);
    auto* generate =
        secret->add_subcommand("generate", "Print a new 256-bit secret from the OS CSPRNG (whsec_<base64>)");
    generate->add_flag("--hex", *hex, "Print 64 hex characters instead");
    generate->callback([&ctx, hex] {
        ctx.action = [&ctx, hex] {
            const std::string s = generateSecret(*hex);
            if (ctx.json)
                std::cout << nlohmann::json{{"secret", s}}.dump() << '\n';
            else
                std::cout << s << '\n';
            return kOk;
        };
    });

    struct SignFlags {
        std::string secret, id, timestamp, scheme = "standard";
    };
    auto sf = std::make_shared<SignFlags>();
    auto* sign = app.add_subcommand("sign", "Sign standard input as Standard Webhooks; prints the three headers");
    sign->add_option("--secret", sf->secret, "whsec_<base64> or any string")->required();
    sign->add_option("--id", sf->id, "webhook-id (default: a new msg_ id)");
    sign->add_option("--timestamp", sf->timestamp, "webhook-timestamp in Unix seconds (default: now)");
    sign->add_option("--scheme", sf->scheme, "standard, or github (prints X-Hub-Signature-256)")
        ->check(CLI::IsMember({"standard", "github"}))
        ->capture_default_str();
    sign->callback([&ctx, sf] {
        ctx.action = [&ctx, sf] {
            if (sf->scheme == "github") {
                if (sf->secret.empty())
                    return report(Error::invalid("a secret must not be empty"));
                const std::string signature = signGithub(sf->secret, readStdin());
                if (ctx.json)
                    std::cout << nlohmann::json{{"X-Hub-Signature-256", signature}}.dump() << '\n';
                else
                    std::cout << "X-Hub-Signature-256: " << signature << '\n';
                return kOk;
            }
            auto key = secretKey(sf->secret);
            if (!key)
                return report(key.error());
            const std::string id = sf->id.empty() ? newMessageUid(ctx.clock().nowMs()) : sf->id;
            if (id.find_first_of(".\r\n") != std::string::npos)
                return report(Error::invalid("the id must not contain dots or line breaks"));
            int64_t ts = ctx.clock().nowMs() / 1000;
            if (!sf->timestamp.empty()) {
                auto [end, ec] = std::from_chars(sf->timestamp.data(), sf->timestamp.data() + sf->timestamp.size(), ts);
                if (ec != std::errc() || end != sf->timestamp.data() + sf->timestamp.size() || ts < 0)
                    return report(
                        Error::invalid("the timestamp '" + sf->timestamp + "' is not a whole number of seconds"));
            }
            const std::string body = readStdin();
            const std::string signature = signStandard(*key, id, ts, body);
            if (ctx.json)
                std::cout << nlohmann::json{{"webhook-id", id},
                                            {"webhook-timestamp", std::to_string(ts)},
                                            {"webhook-signature", signature}}
                                 .dump()
                          << '\n';
            else
                std::cout << "webhook-id: " << id << "\nwebhook-timestamp: " << ts
                          << "\nwebhook-signature: " << signature << '\n';
            return kOk;
        };
    });

    struct VerifyFlags {
        std::vector<std::string> secrets;
        std::string id, timestamp, signature, tolerance = "5m", scheme = "standard";
    };
    auto vf = std::make_shared<VerifyFlags>();
    auto* verify = app.add_subcommand("verify", "Check the signature of standard input; exit 0 valid, 1 invalid");
    verify->add_option("--secret", vf->secrets, "Secret to try (repeatable, e.g. during a rotation)")->required();
    auto* idOpt = verify->add_option("--id", vf->id, "The webhook-id header (standard scheme)");
    auto* tsOpt = verify->add_option("--timestamp", vf->timestamp, "The webhook-timestamp header (standard scheme)");
    verify
        ->add_option("--signature", vf->signature,
                     "The webhook-signature header (one or more v1,… separated by spaces), or with --scheme github "
                     "the X-Hub-Signature-256 header (sha256=…)")
        ->required();
    verify->add_option("--scheme", vf->scheme, "standard (Standard Webhooks) or github (X-Hub-Signature-256)")
        ->check(CLI::IsMember({"standard", "github"}))
        ->capture_default_str();

    verify->add_option("--tolerance", vf->tolerance, "Largest accepted clock difference")
        ->check(durationValidator())
        ->capture_default_str();
    verify->callback([&ctx, vf, idOpt, tsOpt] {
        ctx.action = [&ctx, vf, idOpt, tsOpt] {
            // --id and --timestamp are required by the standard scheme only.
            if (vf->scheme == "standard" && (idOpt->count() == 0 || tsOpt->count() == 0)) {
                std::cerr << "webhookctl: "
                          << usageSentence(idOpt->count() == 0 ? "--id is required" : "--timestamp is required")
                          << '\n';
                return kUsage;
            }
            VerifyRequest req{vf->secrets, vf->id, vf->timestamp, vf->signature, durationMs(vf->tolerance)};
            auto ok = vf->scheme == "github" ? verifyGithub(vf->secrets, vf->signature, readStdin())
                                             : verifyStandard(req, readStdin(), ctx.clock().nowMs());
            if (ctx.json)
                std::cout << nlohmann::json{{"valid", ok.has_value()},
                                            {"error",
                                             ok ? nlohmann::json(nullptr) : nlohmann::json(ok.error().message())}}
                                 .dump()
                          << '\n';
            if (!ok)
                return report(ok.error());
            if (!ctx.json)
                std::cout << "valid\n";
            return kOk;
        };
    });
}

} // namespace webhookd::cli

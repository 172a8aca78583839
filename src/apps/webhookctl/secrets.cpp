#include "context.h"

#include <charconv>
#include <iostream>
#include <iterator>

#include "apps/common/usage.h"
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
    auto* secretCmd = app.add_subcommand("secret", "Generate signing secrets");
    secretCmd->require_subcommand(1);
    auto hex = std::make_shared<bool>(false);
    auto* generate =
        secretCmd->add_subcommand("generate", "Print a new 256-bit secret from the OS CSPRNG (whsec_<base64>)");
    generate->add_flag("--hex", *hex, "Print 64 hex characters instead");
    generate->callback([&ctx, hex] {
        ctx.action = [&ctx, hex] {
            const std::string s = generateSecret(*hex);
            if (ctx.json)
                printJson(nlohmann::json{{"secret", s}});
            else
                std::cout << s << '\n';
            return kOk;
        };
    });

    struct SignFlags {
        std::string secret, secretFile, id, timestamp, scheme = "standard";
    };
    auto sf = std::make_shared<SignFlags>();
    auto* sign = app.add_subcommand("sign", "Sign standard input as Standard Webhooks; prints the three headers");
    sign->add_option("--secret", sf->secret, "whsec_<base64> or any string");
    sign->add_option("--secret-file", sf->secretFile,
                     "Read the secret from this file (keeps it out of ps and history)");
    sign->add_option("--id", sf->id, "webhook-id (default: a new msg_ id)");
    sign->add_option("--timestamp", sf->timestamp, "webhook-timestamp in Unix seconds (default: now)");
    sign->add_option("--scheme", sf->scheme, "standard, or github (prints X-Hub-Signature-256)")
        ->check(oneOf({"standard", "github"}))
        ->capture_default_str();
    sign->callback([&ctx, sf, sign] {
        ctx.action = [&ctx, sf, sign] {
            if (sf->secret.empty() == sf->secretFile.empty())
                return usageError("sign needs one of --secret or --secret-file", sign);
            if (sf->secret == "-")
                return usageError("sign reads the body from standard input; give the secret with --secret-file", sign);
            auto secret = readSecret(sf->secret, sf->secretFile, "secret");
            if (!secret)
                return reportInput(secret.error());
            if (sf->scheme == "github") {
                const std::string signature = signGithub(*secret, readStdin());
                if (ctx.json)
                    printJson(nlohmann::json{{"X-Hub-Signature-256", signature}});
                else
                    std::cout << "X-Hub-Signature-256: " << signature << '\n';
                return kOk;
            }
            auto key = secretKey(*secret);
            if (!key)
                return reportInput(key.error());
            const std::string id = sf->id.empty() ? newMessageUid(ctx.clock().nowMs()) : sf->id;
            if (id.find_first_of(".\r\n") != std::string::npos)
                return reportInput(Error::invalid("the id must not contain dots or line breaks"));
            int64_t ts = ctx.clock().nowMs() / 1000;
            if (!sf->timestamp.empty()) {
                auto [end, ec] = std::from_chars(sf->timestamp.data(), sf->timestamp.data() + sf->timestamp.size(), ts);
                if (ec != std::errc() || end != sf->timestamp.data() + sf->timestamp.size() || ts < 0)
                    return reportInput(
                        Error::invalid("the timestamp '" + sf->timestamp + "' is not a whole number of seconds"));
            }
            const std::string body = readStdin();
            const std::string signature = signStandard(*key, id, ts, body);
            if (ctx.json)
                printJson(nlohmann::json{
                    {"webhook-id", id}, {"webhook-timestamp", std::to_string(ts)}, {"webhook-signature", signature}});
            else
                std::cout << "webhook-id: " << id << "\nwebhook-timestamp: " << ts
                          << "\nwebhook-signature: " << signature << '\n';
            return kOk;
        };
    });

    struct VerifyFlags {
        std::vector<std::string> secrets, secretFiles;
        std::string id, timestamp, signature, tolerance = "5m", scheme = "standard";
    };
    auto vf = std::make_shared<VerifyFlags>();
    auto* verify = app.add_subcommand("verify", "Check the signature of standard input; exit 0 valid, 1 invalid");
    verify->add_option("--secret", vf->secrets, "Secret to try (repeatable, e.g. during a rotation)");
    verify->add_option("--secret-file", vf->secretFiles, "Read a secret to try from this file (repeatable)");
    auto* idOpt = verify->add_option("--id", vf->id, "The webhook-id header (standard scheme)");
    auto* tsOpt = verify->add_option("--timestamp", vf->timestamp, "The webhook-timestamp header (standard scheme)");
    verify
        ->add_option("--signature", vf->signature,
                     "The webhook-signature header (one or more v1,… separated by spaces), or with --scheme github "
                     "the X-Hub-Signature-256 header (sha256=…)")
        ->required();
    verify->add_option("--scheme", vf->scheme, "standard (Standard Webhooks) or github (X-Hub-Signature-256)")
        ->check(oneOf({"standard", "github"}))
        ->capture_default_str();

    verify->add_option("--tolerance", vf->tolerance, "Largest accepted clock difference")
        ->check(duration())
        ->capture_default_str();
    verify->callback([&ctx, vf, idOpt, tsOpt, verify] {
        ctx.action = [&ctx, vf, idOpt, tsOpt, verify] {
            // --id and --timestamp are required by the standard scheme only.
            if (vf->scheme == "standard" && (idOpt->count() == 0 || tsOpt->count() == 0))
                return usageError(idOpt->count() == 0 ? "verify needs --id" : "verify needs --timestamp", verify);
            if (vf->secrets.empty() && vf->secretFiles.empty())
                return usageError("verify needs --secret or --secret-file", verify);
            std::vector<std::string> secrets;
            for (const auto& given : vf->secrets) {
                if (given == "-")
                    return usageError("verify reads the body from standard input; give secrets with --secret-file",
                                      verify);
                secrets.push_back(given);
            }
            for (const auto& file : vf->secretFiles) {
                auto secret = readSecret("", file, "secret");
                if (!secret)
                    return reportInput(secret.error());
                secrets.push_back(std::move(*secret));
            }
            VerifyRequest req{secrets, vf->id, vf->timestamp, vf->signature, durationMs(vf->tolerance)};
            auto ok = vf->scheme == "github" ? verifyGithub(secrets, vf->signature, readStdin())
                                             : verifyStandard(req, readStdin(), ctx.clock().nowMs());
            if (ctx.json)
                printJson(
                    nlohmann::json{{"valid", ok.has_value()},
                                   {"error", ok ? nlohmann::json(nullptr) : nlohmann::json(ok.error().message())}});
            if (!ok)
                return reportInput(ok.error()); // a signature that does not match is Signing: exit 1
            if (!ctx.json)
                std::cout << "valid\n";
            return kOk;
        };
    });
}

} // namespace webhookd::cli

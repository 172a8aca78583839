#include "signing/signing.h"

#include <charconv>
#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace webhookd {

namespace {

struct MacDeleter {
    void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

EVP_MAC* hmacAlgorithm()
{
    // Fetching is costly (a provider lookup); do it once. EVP_MAC objects are
    // immutable and safe to share between threads.
    static std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac)
        throw std::runtime_error("OpenSSL has no HMAC implementation");
    return mac.get();
}

// Splits a signature header on any of `separators` and compares, in constant
// time, every part that starts with `prefix` against each expected signature.
Status matchSignature(std::string_view header, std::string_view separators, std::string_view prefix,
                      const std::vector<std::string>& expected, const char* noneMessage)
{
    bool any = false;
    while (!header.empty()) {
        const size_t sep = header.find_first_of(separators);
        std::string_view candidate = header.substr(0, sep);
        header = sep == std::string_view::npos ? std::string_view() : header.substr(sep + 1);
        if (candidate.substr(0, prefix.size()) != prefix)
            continue;
        any = true;
        for (const auto& e : expected)
            if (constantTimeEquals(candidate, e))
                return {};
    }
    if (!any)
        return fail(Error::signing(noneMessage));
    return fail(Error::signing("no signature matches the given secrets"));
}

} // namespace

std::string base64Encode(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    if (n < 0)
        throw std::runtime_error("OpenSSL could not base64-encode");
    out.resize(static_cast<size_t>(n));
    return out;
}

Result<std::string> base64Decode(std::string_view text)
{
    auto bad = [] { return fail(Error::invalid("the text is not valid base64")); };
    if (text.size() % 4 != 0)
        return bad();
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
            (c == '=' && i + 2 >= text.size());
        if (!ok)
            return bad();
    }
    if (text.size() >= 2 && text[text.size() - 2] == '=' && text.back() != '=')
        return bad();
    std::string out(3 * text.size() / 4, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0)
        return bad();
    size_t pad = 0;
    if (!text.empty() && text.back() == '=')
        ++pad;
    if (text.size() >= 2 && text[text.size() - 2] == '=')
        ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string hexEncode(std::string_view bytes)
{
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 15]);
    }
    return out;
}

std::string hmacSha256(std::string_view key, std::initializer_list<std::string_view> parts)
{
    // Setting up a context (a digest fetch, the key schedule) costs more than
    // hashing a typical webhook, and one worker signs for few keys; so each
    // thread keeps the context of the last key and re-initialises it with a
    // null key, which keeps the key already set.
    struct Cache {
        std::string key;
        std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx;
        ~Cache() { OPENSSL_cleanse(key.data(), key.size()); }
    };
    thread_local Cache cache;
    if (!cache.ctx || cache.key.size() != key.size() || !constantTimeEquals(cache.key, key)) {
        std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(hmacAlgorithm()));
        if (!ctx)
            throw std::runtime_error("OpenSSL could not allocate an HMAC context");
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
        // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
        static const unsigned char kEmpty = 0;
        const auto* keyBytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
        if (EVP_MAC_init(ctx.get(), keyBytes, key.size(), params) != 1)
            throw std::runtime_error("OpenSSL could not initialise HMAC-SHA256");
        OPENSSL_cleanse(cache.key.data(), cache.key.size());
        cache.key.assign(key);
        cache.ctx = std::move(ctx);
    } else if (EVP_MAC_init(cache.ctx.get(), nullptr, 0, nullptr) != 1) {
        throw std::runtime_error("OpenSSL could not re-initialise HMAC-SHA256");
    }
    EVP_MAC_CTX* ctx = cache.ctx.get();
    for (auto part : parts)
        if (EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(part.data()), part.size()) != 1)
            throw std::runtime_error("OpenSSL HMAC update failed");
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (EVP_MAC_final(ctx, out, &len, sizeof out) != 1)
        throw std::runtime_error("OpenSSL HMAC final failed");
    return std::string(reinterpret_cast<char*>(out), len);
}

Result<std::string> secretKey(std::string_view secret)
{
    if (secret.empty())
        return fail(Error::invalid("a secret must not be empty"));
    static constexpr std::string_view kPrefix = "whsec_";
    if (secret.substr(0, kPrefix.size()) != kPrefix)
        return std::string(secret);
    auto decoded = base64Decode(secret.substr(kPrefix.size()));
    if (!decoded || decoded->empty())
        return fail(Error::invalid("a secret starting with whsec_ must continue with base64 bytes"));
    return decoded;
}

std::string sha256(std::initializer_list<std::string_view> parts)
{
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL could not initialise SHA-256");
    for (auto p : parts)
        if (EVP_DigestUpdate(ctx.get(), p.data(), p.size()) != 1)
            throw std::runtime_error("OpenSSL could not hash with SHA-256");
    std::string out(32, '\0');
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1 || len != 32)
        throw std::runtime_error("OpenSSL could not finish SHA-256");
    return out;
}

std::string base64UrlEncode(std::string_view bytes)
{
    std::string s = base64Encode(bytes);
    while (!s.empty() && s.back() == '=')
        s.pop_back();
    for (char& c : s)
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    return s;
}

std::optional<std::string> base64UrlDecode(std::string_view text)
{
    std::string s(text);
    for (char& c : s) {
        if (c == '+' || c == '/' || c == '=')
            return std::nullopt;
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (s.size() % 4 != 0)
        s += '=';
    auto d = base64Decode(s);
    if (!d)
        return std::nullopt;
    return *d;
}

std::string randomToken(size_t n)
{
    std::string bytes(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("OpenSSL's random generator failed");
    std::string out = base64UrlEncode(bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return out;
}

std::string generateSecret(bool hex)
{
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        throw std::runtime_error("OpenSSL's random generator failed");
    std::string_view raw(reinterpret_cast<char*>(bytes), sizeof bytes);
    std::string out = hex ? hexEncode(raw) : "whsec_" + base64Encode(raw);
    OPENSSL_cleanse(bytes, sizeof bytes);
    return out;
}

std::string signStandard(std::string_view key, std::string_view id, int64_t timestamp, std::string_view body)
{
    char ts[24];
    auto [end, ec] = std::to_chars(ts, ts + sizeof ts, timestamp);
    (void)ec;
    return "v1," + base64Encode(hmacSha256(key, {id, ".", std::string_view(ts, end - ts), ".", body}));
}

std::string signatureHeader(const std::vector<std::string>& keys, std::string_view id, int64_t timestamp,
                            std::string_view body)
{
    std::string out;
    for (const auto& key : keys) {
        if (!out.empty())
            out += ' ';
        out += signStandard(key, id, timestamp, body);
    }
    return out;
}

std::optional<SignatureScheme> parseSignatureScheme(std::string_view text)
{
    if (text == "standard")
        return SignatureScheme::Standard;
    if (text == "github")
        return SignatureScheme::Github;
    return std::nullopt;
}

std::string_view signatureSchemeName(SignatureScheme scheme)
{
    return scheme == SignatureScheme::Github ? "github" : "standard";
}

std::string signGithub(std::string_view secret, std::string_view body)
{
    return "sha256=" + hexEncode(hmacSha256(secret, {body}));
}

Status verifyGithub(const std::vector<std::string>& secrets, std::string_view header, std::string_view body)
{
    if (secrets.empty())
        return fail(Error::invalid("no secret was given to verify with"));
    std::vector<std::string> expected;
    for (const auto& secret : secrets) {
        if (secret.empty())
            return fail(Error::invalid("a secret must not be empty"));
        expected.push_back(signGithub(secret, body));
    }
    return matchSignature(header, " ,\t", "sha256=", expected, "the signature header holds no sha256= signature");
}

bool constantTimeEquals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status verifyStandard(const VerifyRequest& request, std::string_view body, int64_t nowMs)
{
    int64_t ts = 0;
    const auto& t = request.timestamp;
    // The signature covers the header's text as sent, so only its canonical
    // spelling is accepted: digits, no sign, no leading zero ("0123" would
    // verify against a signature over "123" otherwise).
    const bool canonical = !t.empty() && t.size() <= 18 && t.find_first_not_of("0123456789") == std::string::npos &&
        (t.size() == 1 || t.front() != '0');
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), ts);
    if (!canonical || ec != std::errc() || end != t.data() + t.size())
        return fail(Error::signing("the timestamp '" + t + "' is not a whole number of seconds"));
    // Both below 10^18, so the difference cannot overflow.
    const int64_t skew = nowMs / 1000 - ts;
    if (skew > request.toleranceMs / 1000 || -skew > request.toleranceMs / 1000)
        return fail(Error::signing("the timestamp is outside the tolerance of " +
                                   std::to_string(request.toleranceMs / 1000) + " seconds"));
    if (request.secrets.empty())
        return fail(Error::invalid("no secret was given to verify with"));
    std::vector<std::string> expected;
    for (const auto& secret : request.secrets) {
        auto key = secretKey(secret);
        if (!key)
            return fail(key.error());
        expected.push_back(signStandard(*key, request.id, ts, body));
    }
    return matchSignature(request.signatureHeader, " ", "v1,", expected, "the signature header holds no v1 signature");
}

} // namespace webhookd

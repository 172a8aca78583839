#include "worker/request.h"

#include "core/duration.h"
#include "model/target_rules.h"
#include "signing/signing.h"

namespace webhookd {

std::string envelope(const ClaimedDelivery& d)
{
    // uid and type are restricted to [A-Za-z0-9_.-] by validation and the
    // schema's CHECKs, so they need no JSON escaping; the payload is stored
    // JSON and goes in as it is.
    std::string body;
    body.reserve(d.payload.size() + d.eventUid.size() + d.type.size() + 80);
    body += "{\"id\":\"";
    body += d.eventUid;
    body += "\",\"type\":\"";
    body += d.type;
    body += "\",\"timestamp\":\"";
    body += isoTime(d.eventCreatedAt);
    body += "\",\"data\":";
    body += d.payload;
    body += '}';
    return body;
}

Result<HttpRequest> buildRequest(const ClaimedDelivery& d, int64_t nowMs, const std::string& userAgent,
                                 int64_t defaultTimeoutMs)
{
    const Target& t = *d.target;
    HttpRequest r;
    r.tag = static_cast<uint64_t>(d.id);
    r.url = t.url;
    r.body = t.bodyFormat == BodyFormat::Data ? d.payload : envelope(d);
    r.timeoutMs = t.timeoutMs.value_or(defaultTimeoutMs);
    if (t.caBundle)
        r.caBundle = *t.caBundle;
    const int64_t ts = nowMs / 1000;
    r.headers.reserve(6 + t.headers.size());
    r.headers.push_back("Content-Type: application/json");
    r.headers.push_back("User-Agent: " + userAgent);
    r.headers.push_back("webhook-id: " + d.eventUid);
    r.headers.push_back("webhook-timestamp: " + std::to_string(ts));
    if (t.signatureScheme == SignatureScheme::Github) {
        // GitHub's header holds one signature, so only the current secret
        // signs; a rotation is covered by the receiver accepting both secrets.
        if (t.secret.empty())
            return fail(Error::signing("the target's secret is empty, so the delivery cannot be signed"));
        r.headers.push_back("X-Hub-Signature-256: " + signGithub(t.secret, r.body));
    } else {
        std::vector<std::string> keys;
        for (const auto& secret : signingSecrets(t, nowMs)) {
            auto key = secretKey(secret);
            if (key)
                keys.push_back(std::move(*key));
            else if (keys.empty())
                return fail(Error::signing("the target's secret cannot sign (" + key.error().message() + ")"));
        }
        r.headers.push_back("webhook-signature: " + signatureHeader(keys, d.eventUid, ts, r.body));
    }
    for (const auto& [k, v] : t.headers)
        r.headers.push_back(v.empty() ? k + ";" : k + ": " + v); // curl sends "K;" as an empty header
    return r;
}

} // namespace webhookd

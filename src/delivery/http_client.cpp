#include "delivery/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <strings.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <curl/curl.h>

#include "retry/retry.h"

namespace webhookd {

namespace {

struct EasyDeleter {
    void operator()(CURL* e) const noexcept { curl_easy_cleanup(e); }
};
struct MultiDeleter {
    void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const noexcept { curl_slist_free_all(s); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

void globalInit()
{
    // curl_global_init is not thread-safe; a function-local static runs it once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        throw std::runtime_error("libcurl failed to initialise");
}

TransportError classifyCurl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return TransportError::Timeout;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::Dns;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TransportError::Connect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return TransportError::Tls;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return TransportError::BadUrl;
    default: return TransportError::Other;
    }
}

} // namespace

struct Transfer {
    HttpRequest request;
    EasyPtr easy;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    char errorBuffer[CURL_ERROR_SIZE] = {};
    std::string excerpt;
    size_t received = 0;
    bool tooLarge = false;
    std::optional<std::string> blocked;
    std::optional<std::string> retryAfter;
    int64_t startedWall = 0;
    int64_t startedMono = 0;
    const HttpOptions* options = nullptr;
};

struct HttpClient::Impl {
    HttpOptions options;
    const Clock& clock;
    std::unique_ptr<CURLM, MultiDeleter> multi;
    std::vector<EasyPtr> idle; // reset easy handles kept for reuse
    std::vector<std::unique_ptr<Transfer>> active;

    int wakeRead = -1;  // self-pipe: wakeup() writes, poll() watches
    int wakeWrite = -1;

    Impl(HttpOptions o, const Clock& c) : options(std::move(o)), clock(c) {}
    ~Impl()
    {
        if (wakeRead >= 0) ::close(wakeRead);
        if (wakeWrite >= 0) ::close(wakeWrite);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    void perform(std::vector<HttpResult>& done)
    {
        int running = 0;
        CURLMcode mc = curl_multi_perform(multi.get(), &running);
        if (mc != CURLM_OK)
            throw std::runtime_error(std::string("libcurl multi failed: ") + curl_multi_strerror(mc));
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            Transfer* t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
            const CURLcode rc = msg->data.result;
            curl_multi_remove_handle(multi.get(), msg->easy_handle);
            done.push_back(finish(*t, rc));
            auto it = std::find_if(active.begin(), active.end(), [t](const auto& p) { return p.get() == t; });
            curl_easy_reset(t->easy.get());
            idle.push_back(std::move(t->easy));
            std::swap(*it, active.back());
            active.pop_back();
        }
    }

    static size_t onBody(char* data, size_t size, size_t n, void* user)
    {
        auto* t = static_cast<Transfer*>(user);
        const size_t len = size * n;
        t->received += len;
        if (t->excerpt.size() < t->options->excerptBytes)
            t->excerpt.append(data, std::min(len, t->options->excerptBytes - t->excerpt.size()));
        if (t->received > t->options->maxResponseBytes) {
            t->tooLarge = true;
            return 0; // aborts the transfer with CURLE_WRITE_ERROR
        }
        return len;
    }

    static size_t onHeader(char* data, size_t size, size_t n, void* user)
    {
        auto* t = static_cast<Transfer*>(user);
        const size_t len = size * n;
        std::string_view line(data, len);
        if (line.size() > 12 && strncasecmp(line.data(), "retry-after:", 12) == 0)
            t->retryAfter = std::string(line.substr(12));
        else if (line.rfind("HTTP/", 0) == 0)
            t->retryAfter.reset(); // a new response (after 100 Continue) starts afresh
        return len;
    }

    static curl_socket_t onOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address)
    {
        auto* t = static_cast<Transfer*>(user);
        if (purpose == CURLSOCKTYPE_IPCXN) {
            if (auto why = t->options->guard.check(&address->addr)) {
                t->blocked = std::move(why);
                return CURL_SOCKET_BAD;
            }
        }
        return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    }

    EasyPtr takeEasy()
    {
        if (!idle.empty()) {
            EasyPtr e = std::move(idle.back());
            idle.pop_back();
            return e;
        }
        EasyPtr e(curl_easy_init());
        if (!e)
            throw std::runtime_error("libcurl could not create a transfer handle");
        return e;
    }

    HttpResult finish(Transfer& t, CURLcode rc)
    {
        HttpResult r;
        r.tag = t.request.tag;
        Outcome& o = r.outcome;
        o.startedAtMs = t.startedWall;
        o.durationMs = std::max<int64_t>(0, clock.monotonicMs() - t.startedMono);
        o.responseExcerpt = std::move(t.excerpt);
        long code = 0;
        curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &code);
        if (t.blocked) {
            o.error = TransportError::BlockedAddress;
            o.errorMessage = "blocked: " + *t.blocked + " (use --allow-private-networks or --allow-network)";
        } else if (t.tooLarge) {
            o.error = TransportError::TooLarge;
            o.errorMessage = "the response was larger than " + std::to_string(options.maxResponseBytes) + " bytes";
        } else if (rc != CURLE_OK) {
            o.error = classifyCurl(rc);
            o.errorMessage = t.errorBuffer[0] ? t.errorBuffer : curl_easy_strerror(rc);
        } else {
            o.statusCode = static_cast<int>(code);
            if (t.retryAfter && honoursRetryAfter(o.statusCode))
                o.retryAfterMs = parseRetryAfter(*t.retryAfter, clock.nowMs());
        }
        return r;
    }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient()
{
    abortAll();
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpOptions options, const Clock& clock)
{
    globalInit();
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    impl->multi.reset(curl_multi_init());
    if (!impl->multi)
        return fail(Error::internal("libcurl could not create a multi handle"));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return fail(Error::internal("could not create the wake-up pipe"));
    impl->wakeRead = fds[0];
    impl->wakeWrite = fds[1];
    if (impl->options.maxConnectionsPerHost > 0)
        curl_multi_setopt(impl->multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, impl->options.maxConnectionsPerHost);
    return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

void HttpClient::start(HttpRequest request)
{
    auto t = std::make_unique<Transfer>();
    t->options = &impl_->options;
    t->request = std::move(request);
    t->easy = impl_->takeEasy();
    CURL* e = t->easy.get();
    for (const auto& h : t->request.headers)
        t->headers.reset(curl_slist_append(t->headers.release(), h.c_str()));
    // "Expect: 100-continue" would add a round trip to every large POST.
    t->headers.reset(curl_slist_append(t->headers.release(), "Expect:"));
    curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, impl_->options.httpsOnly ? "https" : "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers.get());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.timeoutMs));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(t->request.timeoutMs, 10'000)));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::onOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errorBuffer);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    t->startedWall = impl_->clock.nowMs();
    t->startedMono = impl_->clock.monotonicMs();
    CURLMcode mc = curl_multi_add_handle(impl_->multi.get(), e);
    if (mc != CURLM_OK)
        throw std::runtime_error(std::string("libcurl refused a transfer: ") + curl_multi_strerror(mc));
    impl_->active.push_back(std::move(t));
}

size_t HttpClient::inFlight() const { return impl_->active.size(); }

void HttpClient::poll(int timeoutMs, std::vector<HttpResult>& done)
{
    const size_t before = done.size();
    impl_->perform(done);
    if (done.size() > before)
        return;
    curl_waitfd wake{};
    wake.fd = impl_->wakeRead;
    wake.events = CURL_WAIT_POLLIN;
    CURLMcode mc = curl_multi_poll(impl_->multi.get(), &wake, 1, timeoutMs, nullptr);
    if (mc != CURLM_OK)
        throw std::runtime_error(std::string("libcurl multi failed: ") + curl_multi_strerror(mc));
    if (wake.revents != 0) {
        char buf[64];
        while (::read(impl_->wakeRead, buf, sizeof buf) > 0) {
        }
    }
    impl_->perform(done);
}

void HttpClient::wakeup()
{
    const char byte = 1;
    // A full pipe already holds a wake-up; nothing is lost by failing.
    [[maybe_unused]] auto n = ::write(impl_->wakeWrite, &byte, 1);
}

std::vector<uint64_t> HttpClient::abortAll()
{
    std::vector<uint64_t> tags;
    for (auto& t : impl_->active) {
        curl_multi_remove_handle(impl_->multi.get(), t->easy.get());
        tags.push_back(t->request.tag);
    }
    impl_->active.clear();
    return tags;
}

} // namespace webhookd

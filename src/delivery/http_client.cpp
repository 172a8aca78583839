#include "delivery/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <stdexcept>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/log.h"
#include "core/unique_fd.h"
#include "core/utf8.h"
#include "core/validate.h"
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

CURLcode globalInit()
{
    // curl_global_init is not thread-safe; a function-local static runs it once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    return rc;
}

// The first option libcurl refused while a handle was being set up, so the
// transfer can fail with it instead of going out half-configured.
struct SetupError {
    CURLcode rc = CURLE_OK;
    const char* option = nullptr;

    explicit operator bool() const { return rc != CURLE_OK; }
    std::string message() const { return std::string("libcurl refused ") + option + ": " + curl_easy_strerror(rc); }
};

template <typename T>
void setOption(CURL* e, CURLoption option, const char* name, T value, SetupError& error)
{
    const CURLcode rc = curl_easy_setopt(e, option, value);
    if (rc != CURLE_OK && !error) {
        error.rc = rc;
        error.option = name;
    }
}

// Every curl_easy_setopt goes through here, its option named in the error.
#define WEBHOOKD_SETOPT(easy, option, value, error) setOption(easy, option, #option, value, error)

template <typename T>
Status setMultiOption(CURLM* m, CURLMoption option, const char* name, T value)
{
    const CURLMcode rc = curl_multi_setopt(m, option, value);
    if (rc != CURLM_OK)
        return fail(Error::internal(std::string("libcurl refused ") + name + ": " + curl_multi_strerror(rc)));
    return {};
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
    std::string responseHead; // the last response's status line and headers, cut at kMaxHeadBytes
    int64_t startedWall = 0;
    int64_t startedMono = 0;
    const HttpOptions* options = nullptr;
};

constexpr size_t kMaxHeadBytes = 8 * 1024;

// The request as sent, for people: credentials in the URL masked, and a
// custom header whose name says it holds a credential; the signature
// headers stay (a receiver checks them against its secret).
std::string requestHead(const HttpRequest& r)
{
    std::string out = "POST " + maskUrlCredentials(r.url) + "\n";
    for (const std::string& h : r.headers) {
        const size_t colon = h.find_first_of(":;");
        const std::string_view name = std::string_view(h).substr(0, colon);
        const bool signature = strncasecmp(name.data(), "webhook-", 8) == 0 ||
            strcasecmp(std::string(name).c_str(), "x-hub-signature-256") == 0;
        if (h == "Expect:")
            continue;
        if (!signature && isSensitiveHeader(name) && colon != std::string::npos && h[colon] == ':')
            out += std::string(name) + ": ********\n";
        else
            out += (colon != std::string::npos && h[colon] == ';' ? std::string(name) + ":" : h) + "\n";
        if (out.size() > kMaxHeadBytes)
            break;
    }
    return out;
}

struct HttpClient::Impl {
    HttpOptions options;
    const Clock& clock; // must outlive the client
    std::unique_ptr<CURLM, MultiDeleter> multi;
    std::vector<EasyPtr> idle; // reset easy handles kept for reuse
    std::vector<std::unique_ptr<Transfer>> active;
    std::vector<HttpResult> failedAtStart; // transfers libcurl refused to set up; out of the next poll()

    UniqueFd wakeRead; // self-pipe: wakeup() writes, poll() watches
    UniqueFd wakeWrite;
    UniqueFd epoll;           // the sockets curl asks us to watch, and the pipe
    int64_t timerAtMono = -1; // when curl wants socket_action(TIMEOUT); -1: never
    bool caProbed = false;    // curl's built-in CA file and folder, read once
    std::string defaultCaInfo, defaultCaPath;

    // A CA bundle given (per target or globally) replaces the system's trust;
    // handles are reused, so every transfer sets both.
    void setTrust(CURL* e, const std::string& requested, SetupError& error)
    {
        const std::string& bundle = requested.empty() ? options.caBundle : requested;
        const std::string& file = bundle.empty() ? defaultCaInfo : bundle;
        WEBHOOKD_SETOPT(e, CURLOPT_CAINFO, file.empty() ? nullptr : file.c_str(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_CAPATH, !bundle.empty() || defaultCaPath.empty() ? nullptr : defaultCaPath.c_str(),
                        error);
    }

    Impl(HttpOptions o, const Clock& c)
        : options(std::move(o)),
          clock(c)
    { }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    // curl's event-driven interface: it tells us which sockets to watch and
    // when to call back; we call socket_action only for sockets that are
    // ready. Unlike curl_multi_perform, the cost per call does not grow with
    // the number of transfers in flight.
    // Returning -1 makes libcurl fail the transfers on that socket, which
    // is what an epoll set that cannot watch the socket calls for.
    static int onSocket(CURL*, curl_socket_t s, int what, void* user, void* registered)
    {
        auto* self = static_cast<Impl*>(user);
        const int ep = self->epoll.get();
        if (what == CURL_POLL_REMOVE) {
            // The socket may be closed already, which removed it from the set.
            epoll_ctl(ep, EPOLL_CTL_DEL, s, nullptr);
            return self->assign(s, nullptr) ? 0 : -1;
        }
        epoll_event ev{};
        ev.data.fd = s;
        ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
        int rc = 0;
        if (registered == nullptr) {
            rc = epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            if (rc != 0 && errno == EEXIST)
                rc = epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
            if (rc == 0 && !self->assign(s, self)) // any non-null marker
                return -1;
        } else {
            rc = epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
        }
        if (rc != 0) {
            Log::error("cannot watch a connection's socket", {{"error", std::strerror(errno)}});
            return -1;
        }
        return 0;
    }

    bool assign(curl_socket_t s, void* marker)
    {
        const CURLMcode rc = curl_multi_assign(multi.get(), s, marker);
        if (rc != CURLM_OK)
            Log::error("libcurl refused to mark a socket", {{"error", curl_multi_strerror(rc)}});
        return rc == CURLM_OK;
    }

    void remove(CURL* easy)
    {
        const CURLMcode rc = curl_multi_remove_handle(multi.get(), easy);
        if (rc != CURLM_OK)
            Log::error("libcurl refused to remove a transfer", {{"error", curl_multi_strerror(rc)}});
    }

    static int onTimer(CURLM*, long timeoutMs, void* user)
    {
        auto* self = static_cast<Impl*>(user);
        self->timerAtMono = timeoutMs < 0 ? -1 : self->clock.monotonicMs() + timeoutMs;
        return 0;
    }

    // Makes the next poll() return at once (results are waiting).
    void wakeupSoon()
    {
        const char byte = 1;
        [[maybe_unused]] auto n = ::write(wakeWrite.get(), &byte, 1);
    }

    void action(curl_socket_t s, int flags)
    {
        int running = 0;
        CURLMcode mc = curl_multi_socket_action(multi.get(), s, flags, &running);
        if (mc != CURLM_OK)
            throw std::runtime_error(std::string("libcurl multi failed: ") + curl_multi_strerror(mc));
    }

    void collectDone(std::vector<HttpResult>& done)
    {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL* easy = msg->easy_handle;
            const CURLcode rc = msg->data.result;
            auto it =
                std::find_if(active.begin(), active.end(), [easy](const auto& p) { return p->easy.get() == easy; });
            remove(easy);
            if (it == active.end())
                continue; // not ours: cannot happen, and nothing to report it to
            Transfer& t = **it;
            done.push_back(finish(t, rc));
            idle.push_back(std::move(t.easy));
            std::swap(*it, active.back());
            active.pop_back();
        }
    }

    static size_t onBody(char* data, size_t size, size_t n, void* user)
    {
        auto* t = static_cast<Transfer*>(user);
        const size_t len = size * n;
        t->received += len;
        // One byte past the excerpt is kept, so the cut can be moved back to
        // a character boundary (utf8::boundary looks at it).
        const size_t keep = t->options->excerptBytes + 1;
        if (t->excerpt.size() < keep)
            t->excerpt.append(data, std::min(len, keep - t->excerpt.size()));
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
        else if (line.rfind("HTTP/", 0) == 0) {
            t->retryAfter.reset(); // a new response (after 100 Continue) starts afresh
            t->responseHead.clear();
        }
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
            line.remove_suffix(1);
        if (!line.empty() && t->responseHead.size() + line.size() + 1 <= kMaxHeadBytes)
            t->responseHead.append(line).push_back('\n');
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

    // A handle with what every transfer shares set once; handles are reused
    // without curl_easy_reset, and start() sets the rest. nullptr (and
    // error) when libcurl refuses to make or set one up.
    EasyPtr takeEasy(SetupError& error)
    {
        if (!idle.empty()) {
            EasyPtr e = std::move(idle.back());
            idle.pop_back();
            return e;
        }
        EasyPtr e(curl_easy_init());
        if (!e) {
            error = {CURLE_OUT_OF_MEMORY, "a new transfer handle"};
            return nullptr;
        }
        CURL* h = e.get();
        WEBHOOKD_SETOPT(h, CURLOPT_PROTOCOLS_STR, options.httpsOnly ? "https" : "http,https", error);
        WEBHOOKD_SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L, error);
        WEBHOOKD_SETOPT(h, CURLOPT_NOSIGNAL, 1L, error);
        WEBHOOKD_SETOPT(h, CURLOPT_POST, 1L, error);
        WEBHOOKD_SETOPT(h, CURLOPT_WRITEFUNCTION, &Impl::onBody, error);
        WEBHOOKD_SETOPT(h, CURLOPT_HEADERFUNCTION, &Impl::onHeader, error);
        WEBHOOKD_SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, &Impl::onOpenSocket, error);
        WEBHOOKD_SETOPT(h, CURLOPT_TCP_NODELAY, 1L, error);
        WEBHOOKD_SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L, error);
        WEBHOOKD_SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L, error);
        // Environment proxies (http_proxy…) are ignored: through a proxy the
        // address guard would judge the proxy, not the destination.
        WEBHOOKD_SETOPT(h, CURLOPT_PROXY, "", error);
        if (error)
            return nullptr;
        if (!caProbed) {
            char* path = nullptr;
            if (curl_easy_getinfo(h, CURLINFO_CAINFO, &path) == CURLE_OK && path != nullptr)
                defaultCaInfo = path;
            path = nullptr;
            if (curl_easy_getinfo(h, CURLINFO_CAPATH, &path) == CURLE_OK && path != nullptr)
                defaultCaPath = path;
            caProbed = true;
        }
        return e;
    }

    HttpResult finish(Transfer& t, CURLcode rc)
    {
        HttpResult r;
        r.tag = t.request.tag;
        Outcome& o = r.outcome;
        o.startedAtMs = t.startedWall;
        o.durationMs = std::max<int64_t>(0, clock.monotonicMs() - t.startedMono);
        // Stored as text and printed as JSON: the receiver's bytes are cut at
        // a character boundary and ill-formed UTF-8 becomes U+FFFD.
        t.excerpt.resize(utf8::boundary(t.excerpt, options.excerptBytes));
        o.responseExcerpt = utf8::valid(t.excerpt) ? std::move(t.excerpt) : utf8::sanitize(t.excerpt);
        o.requestHead = requestHead(t.request);
        o.responseHead = utf8::valid(t.responseHead) ? std::move(t.responseHead) : utf8::sanitize(t.responseHead);
        long code = 0;
        if (curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        // With several addresses for a host, one may be refused and another
        // answer: only a transfer that failed was blocked.
        if (t.blocked && rc != CURLE_OK) {
            o.error = TransportError::BlockedAddress;
            o.errorMessage = "blocked: " + *t.blocked + " (use --allow-private-networks or --allow-network)";
        } else if (t.tooLarge) {
            o.error = TransportError::TooLarge;
            o.errorMessage = "the response was larger than " + std::to_string(options.maxResponseBytes) + " bytes";
        } else if (rc == CURLE_UNSUPPORTED_PROTOCOL && options.httpsOnly) {
            o.error = TransportError::BadUrl;
            o.errorMessage = "refused: the URL is not https and webhookd runs with --https-only";
        } else if (rc != CURLE_OK) {
            o.error = classifyCurl(rc);
            // curl's message may quote the peer (a TLS certificate's name).
            o.errorMessage = utf8::sanitize(t.errorBuffer[0] ? t.errorBuffer : curl_easy_strerror(rc));
        } else {
            o.statusCode = static_cast<int>(code);
            if (t.retryAfter && honoursRetryAfter(o.statusCode))
                o.retryAfterMs = parseRetryAfter(*t.retryAfter, clock.nowMs());
        }
        return r;
    }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl))
{ }

HttpClient::~HttpClient() { abortAll(); }

Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpOptions options, const Clock& clock)
{
    if (const CURLcode rc = globalInit(); rc != CURLE_OK)
        return fail(Error::internal(std::string("libcurl failed to initialise: ") + curl_easy_strerror(rc)));
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    impl->multi.reset(curl_multi_init());
    if (!impl->multi)
        return fail(Error::internal("libcurl could not create a multi handle"));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        return fail(Error::internal(std::string("could not create the wake-up pipe: ") + std::strerror(errno)));
    impl->wakeRead.reset(fds[0]);
    impl->wakeWrite.reset(fds[1]);
    impl->epoll.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!impl->epoll)
        return fail(Error::internal(std::string("could not create an epoll instance: ") + std::strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = impl->wakeRead.get();
    if (epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, impl->wakeRead.get(), &ev) != 0)
        return fail(Error::internal(std::string("could not watch the wake-up pipe: ") + std::strerror(errno)));
    CURLM* multi = impl->multi.get();
    Status set = setMultiOption(multi, CURLMOPT_SOCKETFUNCTION, "CURLMOPT_SOCKETFUNCTION", &Impl::onSocket);
    if (set)
        set = setMultiOption(multi, CURLMOPT_SOCKETDATA, "CURLMOPT_SOCKETDATA", impl.get());
    if (set)
        set = setMultiOption(multi, CURLMOPT_TIMERFUNCTION, "CURLMOPT_TIMERFUNCTION", &Impl::onTimer);
    if (set)
        set = setMultiOption(multi, CURLMOPT_TIMERDATA, "CURLMOPT_TIMERDATA", impl.get());
    if (set && impl->options.maxConnectionsPerHost > 0)
        set = setMultiOption(multi, CURLMOPT_MAX_HOST_CONNECTIONS, "CURLMOPT_MAX_HOST_CONNECTIONS",
                             impl->options.maxConnectionsPerHost);
    if (!set)
        return fail(set.error());
    return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

void HttpClient::start(HttpRequest request)
{
    Impl& m = *impl_;
    auto t = std::make_unique<Transfer>();
    t->options = &m.options;
    t->request = std::move(request);
    t->startedWall = m.clock.nowMs();
    t->startedMono = m.clock.monotonicMs();
    SetupError error;
    t->easy = m.takeEasy(error);
    if (t->easy) {
        CURL* e = t->easy.get();
        for (const auto& h : t->request.headers)
            t->headers.reset(curl_slist_append(t->headers.release(), h.c_str()));
        // "Expect: 100-continue" would add a round trip to every large POST.
        t->headers.reset(curl_slist_append(t->headers.release(), "Expect:"));
        if (!t->headers)
            error = {CURLE_OUT_OF_MEMORY, "the request headers"};
        WEBHOOKD_SETOPT(e, CURLOPT_URL, t->request.url.c_str(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_POSTFIELDS, t->request.body.data(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()), error);
        WEBHOOKD_SETOPT(e, CURLOPT_HTTPHEADER, t->headers.get(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.timeoutMs), error);
        WEBHOOKD_SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
                        static_cast<long>(std::min<int64_t>(t->request.timeoutMs, 10'000)), error);
        WEBHOOKD_SETOPT(e, CURLOPT_WRITEDATA, t.get(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_HEADERDATA, t.get(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_OPENSOCKETDATA, t.get(), error);
        WEBHOOKD_SETOPT(e, CURLOPT_ERRORBUFFER, t->errorBuffer, error);
        m.setTrust(e, t->request.caBundle, error);
    }
    if (!error) {
        const CURLMcode mc = curl_multi_add_handle(m.multi.get(), t->easy.get());
        if (mc == CURLM_OK) {
            m.active.push_back(std::move(t));
            return;
        }
        error.option = "the transfer";
        error.rc = CURLE_FAILED_INIT;
        Log::error("libcurl refused a transfer", {{"error", curl_multi_strerror(mc)}});
    }
    // The handle may be half set up: it is not reused.
    HttpResult r;
    r.tag = t->request.tag;
    r.outcome.startedAtMs = t->startedWall;
    r.outcome.error = TransportError::Other;
    r.outcome.errorMessage = error.message();
    m.failedAtStart.push_back(std::move(r));
    m.wakeupSoon();
}

size_t HttpClient::inFlight() const { return impl_->active.size(); }

void HttpClient::poll(int timeoutMs, std::vector<HttpResult>& done)
{
    Impl& m = *impl_;
    if (!m.failedAtStart.empty()) {
        done.insert(done.end(), std::make_move_iterator(m.failedAtStart.begin()),
                    std::make_move_iterator(m.failedAtStart.end()));
        m.failedAtStart.clear();
        timeoutMs = 0;
    }
    int wait = timeoutMs;
    if (m.timerAtMono >= 0)
        wait = static_cast<int>(std::clamp<int64_t>(m.timerAtMono - m.clock.monotonicMs(), 0, timeoutMs));
    epoll_event events[128];
    const int n = epoll_wait(m.epoll.get(), events, 128, wait);
    if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string("epoll_wait failed: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == m.wakeRead.get()) {
            char buf[64];
            while (::read(m.wakeRead.get(), buf, sizeof buf) > 0) { }
            continue;
        }
        int flags = 0;
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
            flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (events[i].events & EPOLLERR)
            flags |= CURL_CSELECT_ERR;
        m.action(fd, flags);
    }
    if (m.timerAtMono >= 0 && m.clock.monotonicMs() >= m.timerAtMono) {
        m.timerAtMono = -1;
        m.action(CURL_SOCKET_TIMEOUT, 0);
    }
    m.collectDone(done);
}

void HttpClient::wakeup()
{
    const char byte = 1;
    // A full pipe already holds a wake-up; nothing is lost by failing.
    [[maybe_unused]] auto n = ::write(impl_->wakeWrite.get(), &byte, 1);
}

std::vector<uint64_t> HttpClient::abortAll()
{
    std::vector<uint64_t> tags;
    for (auto& t : impl_->active) {
        impl_->remove(t->easy.get());
        tags.push_back(t->request.tag);
    }
    impl_->active.clear();
    for (const auto& r : impl_->failedAtStart)
        tags.push_back(r.tag);
    impl_->failedAtStart.clear();
    return tags;
}

} // namespace webhookd

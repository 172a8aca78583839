#include "delivery/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <strings.h>
#include <sys/epoll.h>
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
    int epoll = -1;     // the sockets curl asks us to watch, and the pipe
    int64_t timerAtMono = -1; // when curl wants socket_action(TIMEOUT); -1: never
    bool caProbed = false;    // curl's built-in CA file and folder, read once
    std::string defaultCaInfo, defaultCaPath;

    // A CA bundle given (per target or globally) replaces the system's trust;
    // handles are reused, so every transfer sets both.
    void setTrust(CURL* e, const std::string& requested)
    {
        const std::string& bundle = requested.empty() ? options.caBundle : requested;
        const std::string& file = bundle.empty() ? defaultCaInfo : bundle;
        curl_easy_setopt(e, CURLOPT_CAINFO, file.empty() ? nullptr : file.c_str());
        curl_easy_setopt(e, CURLOPT_CAPATH, !bundle.empty() || defaultCaPath.empty() ? nullptr : defaultCaPath.c_str());
    }

    Impl(HttpOptions o, const Clock& c) : options(std::move(o)), clock(c) {}
    ~Impl()
    {
        if (wakeRead >= 0) ::close(wakeRead);
        if (wakeWrite >= 0) ::close(wakeWrite);
        if (epoll >= 0) ::close(epoll);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    // curl's event-driven interface: it tells us which sockets to watch and
    // when to call back; we call socket_action only for sockets that are
    // ready. Unlike curl_multi_perform, the cost per call does not grow with
    // the number of transfers in flight.
    static int onSocket(CURL*, curl_socket_t s, int what, void* user, void* registered)
    {
        auto* self = static_cast<Impl*>(user);
        if (what == CURL_POLL_REMOVE) {
            epoll_ctl(self->epoll, EPOLL_CTL_DEL, s, nullptr);
            curl_multi_assign(self->multi.get(), s, nullptr);
            return 0;
        }
        epoll_event ev{};
        ev.data.fd = s;
        ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
        if (registered == nullptr) {
            if (epoll_ctl(self->epoll, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
                epoll_ctl(self->epoll, EPOLL_CTL_MOD, s, &ev);
            curl_multi_assign(self->multi.get(), s, self); // any non-null marker
        } else {
            epoll_ctl(self->epoll, EPOLL_CTL_MOD, s, &ev);
        }
        return 0;
    }

    static int onTimer(CURLM*, long timeoutMs, void* user)
    {
        auto* self = static_cast<Impl*>(user);
        self->timerAtMono = timeoutMs < 0 ? -1 : self->clock.monotonicMs() + timeoutMs;
        return 0;
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
            Transfer* t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
            const CURLcode rc = msg->data.result;
            curl_multi_remove_handle(multi.get(), msg->easy_handle);
            done.push_back(finish(*t, rc));
            idle.push_back(std::move(t->easy));
            auto it = std::find_if(active.begin(), active.end(), [t](const auto& p) { return p.get() == t; });
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
        // What every transfer shares is set once per handle; handles are
        // reused without curl_easy_reset, and start() sets the rest.
        CURL* h = e.get();
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, options.httpsOnly ? "https" : "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::onBody);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::onHeader);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, &Impl::onOpenSocket);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        // Environment proxies (http_proxy…) are ignored: through a proxy the
        // address guard would judge the proxy, not the destination.
        curl_easy_setopt(h, CURLOPT_PROXY, "");
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
        o.responseExcerpt = std::move(t.excerpt);
        long code = 0;
        curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &code);
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
    impl->epoll = epoll_create1(EPOLL_CLOEXEC);
    if (impl->epoll < 0)
        return fail(Error::internal("could not create an epoll instance"));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = impl->wakeRead;
    epoll_ctl(impl->epoll, EPOLL_CTL_ADD, impl->wakeRead, &ev);
    CURLM* multi = impl->multi.get();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::onSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, impl.get());
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::onTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, impl.get());
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
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers.get());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.timeoutMs));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(t->request.timeoutMs, 10'000)));
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errorBuffer);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    impl_->setTrust(e, t->request.caBundle);
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
    Impl& m = *impl_;
    int wait = timeoutMs;
    if (m.timerAtMono >= 0)
        wait = static_cast<int>(std::clamp<int64_t>(m.timerAtMono - m.clock.monotonicMs(), 0, timeoutMs));
    epoll_event events[128];
    const int n = epoll_wait(m.epoll, events, 128, wait);
    if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string("epoll_wait failed: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == m.wakeRead) {
            char buf[64];
            while (::read(m.wakeRead, buf, sizeof buf) > 0) {
            }
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

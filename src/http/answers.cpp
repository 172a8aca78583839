#include <strings.h>

#include <ctime>

#include "http/wire.h"

namespace webhookd::http {

namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}


// RFC 9110 §5.6.7's IMF-fixdate, made once a second per thread.
const std::string& httpDate()
{
    thread_local std::time_t last = 0;
    thread_local std::string text;
    const std::time_t now = std::time(nullptr);
    if (now != last) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        text = buf;
        last = now;
    }
    return text;
}

bool safeHeader(const std::string& name, const std::string& value)
{
    return !name.empty() && name.find_first_of("\r\n:") == std::string::npos &&
           value.find_first_of("\r\n") == std::string::npos;
}

} // namespace

std::string_view reasonPhrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

std::string serialize(const Response& r, const Fields& defaults, bool headOnly, bool close)
{
    const bool noBody = r.status == 204 || r.status == 304 || r.status < 200;
    std::string out;
    out.reserve(256 + (headOnly || noBody ? 0 : r.body.size()));
    out += "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += reasonPhrase(r.status);
    out += "\r\nDate: ";
    out += httpDate();
    out += "\r\n";
    auto add = [&out](const std::string& k, const std::string& v) {
        if (!safeHeader(k, v))
            return;
        out += k;
        out += ": ";
        out += v;
        out += "\r\n";
    };
    for (const auto& [k, v] : defaults)
        if (!findField(r.headers, k, true))
            add(k, v);
    for (const auto& [k, v] : r.headers)
        add(k, v);
    if (!noBody) {
        add("Content-Type", r.contentType);
        add("Content-Length", std::to_string(r.body.size()));
    }
    if (close)
        out += "Connection: close\r\n";
    out += "\r\n";
    if (!headOnly && !noBody)
        out += r.body;
    return out;
}

std::optional<std::string> findField(const Fields& fields, std::string_view name, bool ignoreCase)
{
    for (const auto& [k, v] : fields)
        if (ignoreCase ? equalsIgnoreCase(k, name) : k == name)
            return v;
    return std::nullopt;
}

std::optional<std::string> Request::header(std::string_view name) const { return findField(headers, name, true); }
std::optional<std::string> Request::queryParam(std::string_view name) const { return findField(query, name, false); }
std::optional<std::string> Request::pathParam(std::string_view name) const { return findField(pathParams, name, false); }

} // namespace webhookd::http

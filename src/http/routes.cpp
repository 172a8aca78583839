#include "http/wire.h"

namespace webhookd::http {

namespace {

std::vector<std::string> splitPath(std::string_view path)
{
    std::vector<std::string> out;
    size_t start = 1;
    while (start <= path.size()) {
        const size_t slash = path.find('/', start);
        out.emplace_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return out;
}

bool matches(const Route& r, const std::vector<std::string>& segments, Fields* params)
{
    if (r.segments.size() != segments.size())
        return false;
    for (size_t i = 0; i < segments.size(); ++i) {
        const std::string& p = r.segments[i];
        const bool param = p.size() > 2 && p.front() == '{' && p.back() == '}';
        if (!param && p != segments[i])
            return false;
        if (param && segments[i].empty())
            return false;
        if (param && params)
            params->emplace_back(p.substr(1, p.size() - 2), segments[i]);
    }
    return true;
}

} // namespace

void Routes::add(std::string method, std::string_view pattern, Handler handler)
{
    routes_.push_back({std::move(method), std::string(pattern), splitPath(pattern), std::move(handler)});
}

const Route* Routes::find(const std::string& method, const std::string& path, Fields& params, std::string& allow,
                          const Route** samePath) const
{
    const auto segments = splitPath(path);
    const std::string& m = method == "HEAD" ? "GET" : method;
    allow.clear();
    if (samePath)
        *samePath = nullptr;
    for (const auto& r : routes_) {
        if (!matches(r, segments, nullptr))
            continue;
        if (r.method == m) {
            matches(r, segments, &params);
            return &r;
        }
        if (allow.find(r.method) == std::string::npos)
            allow += (allow.empty() ? "" : ", ") + r.method;
        if (samePath && !*samePath)
            *samePath = &r;
    }
    return nullptr;
}

} // namespace webhookd::http

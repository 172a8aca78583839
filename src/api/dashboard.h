#pragma once

// The dashboard's static files, embedded at build time (src/api/dashboard/,
// compiled by embed_dashboard.py): webhookd serves them at / of the API
// address, with a strict Content-Security-Policy.

#include <string_view>
#include <vector>

namespace webhookd {

struct DashboardAsset {
    std::string_view path;        // "/index.html", "/app.js", …
    std::string_view contentType; // with charset for text
    std::string_view etag;        // quoted, from the file's SHA-256
    std::string_view body;
};

const std::vector<DashboardAsset>& dashboardAssets();

} // namespace webhookd

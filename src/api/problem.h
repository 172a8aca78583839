#pragma once

// Problem documents (RFC 9457): the API's every answer that is not a
// success. A handler throws Problem; ApiServer's dispatch catches it and
// writes it, so a throw never leaves one request (the one sanctioned use of
// exceptions as control flow, bounded by the dispatch).

#include <string>
#include <utility>

#include "core/error.h"

namespace webhookd {

namespace http {
struct Response;
}

namespace api {

// An answer that ends the handler. An empty code is the status's own
// ("not_found" for 404, …).
struct Problem {
    int status;
    std::string code;
    std::string detail;
};

// application/problem+json, with Retry-After on 503 and WWW-Authenticate on 401.
void writeProblem(http::Response& res, const Problem& p);

// The store's and the rules' errors as answers: their sentence is the
// detail, their kind the status, their machine code (Error::Code) the
// problem's code where one has its own. Unavailable and Internal errors are
// logged here (an outage once); any thread.
Problem fromError(const Error& e);

// The value, or throw fromError.
template <typename T>
T must(Result<T> r)
{
    if (!r)
        throw fromError(r.error());
    return std::move(*r);
}

} // namespace api
} // namespace webhookd

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

namespace laminar::backend {

// Receives the one reply to one command sent to a backend.
//
// `raw` is one complete RESP reply, valid only during the call (copy what you keep). `failed` is
// true when laminar made the reply itself because the backend could not answer (down, timed out,
// protocol error); the reply is then an error that names the backend, e.g.
// "-ERR laminar: backend 'old' unavailable: connection refused". A reply that is an error from the
// backend itself (WRONGTYPE...) is not a failure.
class ReplySink {
public:
    virtual void complete(std::string_view raw, bool failed) = 0;

protected:
    ~ReplySink() = default;
};

// The fixed error texts laminar answers with when a backend cannot (RESP error lines, with CRLF).
std::string unavailableError(std::string_view backend, std::string_view why);
std::string timeoutError(std::string_view backend, long long ms);

}  // namespace laminar::backend

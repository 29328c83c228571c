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
// Whether a reply laminar made for a failed command (`failed`) is timeoutError()'s.
bool isTimeoutError(std::string_view raw);
// Whether an error reply is laminar's own rather than a backend's: every error laminar writes
// reads "-CODE laminar: ...".
bool isLaminarError(std::string_view raw);

}  // namespace laminar::backend

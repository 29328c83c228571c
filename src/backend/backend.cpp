// SPDX-License-Identifier: Apache-2.0
#include "backend/backend.h"

#include <fmt/format.h>

#include "resp/ascii.h"
#include "resp/resp3.h"

namespace laminar::backend {

namespace {

// Hands a RESP2 server's reply on in RESP3 (Backend::sendResp3).
struct InResp3 final : ReplySink {
    ReplySink* client = nullptr;
    bool info = false;  // INFO's text is a verbatim string in RESP3
    void complete(std::string_view raw, bool failed) override {
        std::string out = info ? resp::bulkToVerbatim(raw) : resp::nullsToResp3(raw);
        client->complete(out, failed);
        delete this;
    }
};

// The command `raw` (RESP, as a client sent it) is INFO.
bool isInfo(std::string_view raw) {
    auto name = raw.find("\r\n$4\r\n");
    return raw.starts_with("*") && name != std::string_view::npos && name < 8 && raw.size() >= name + 10 &&
           resp::equalsIgnoreCase(raw.substr(name + 6, 4), "info");
}

}  // namespace

void Backend::sendResp3(uint64_t client_id, std::string_view raw, ReplySink* sink) {
    auto* wrap = new InResp3;
    wrap->client = sink;
    wrap->info = isInfo(raw);
    send(client_id, raw, wrap);
}

ReplySink& discardSink() {
    struct Discard final : ReplySink {
        void complete(std::string_view, bool) override {}
    };
    static Discard sink;
    return sink;
}

std::string unavailableError(std::string_view backend, std::string_view why) {
    return fmt::format("-ERR laminar: backend '{}' unavailable: {}\r\n", backend, why);
}

std::string timeoutError(std::string_view backend, long long ms) {
    return fmt::format("-ERR laminar: backend '{}' timed out after {}ms\r\n", backend, ms);
}

std::string busyError(std::string_view backend, long long ms) {
    return fmt::format("-BUSY laminar: backend '{}' has been busy running a script for {}ms (busy_timeout) with this command "
                       "waiting behind it; it may still run when the script ends\r\n",
                       backend, ms);
}

bool isTimeoutError(std::string_view raw) { return raw.find("' timed out after ") != std::string_view::npos; }

bool isTransientError(std::string_view raw) {
    if (raw.starts_with("-ERR laminar: backend '"))
        return raw.find("' unavailable: ") != std::string_view::npos || isTimeoutError(raw);
    for (std::string_view code : {"-LOADING", "-BUSY ", "-MASTERDOWN", "-TRYAGAIN", "-CLUSTERDOWN"})
        if (raw.starts_with(code)) return true;
    return false;
}

bool isLaminarError(std::string_view raw) {
    auto space = raw.find(' ');
    return space != std::string_view::npos && raw.substr(space + 1).starts_with("laminar: ");
}

}  // namespace laminar::backend

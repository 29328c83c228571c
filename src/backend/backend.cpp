// SPDX-License-Identifier: Apache-2.0
#include "backend/backend.h"

#include <fmt/format.h>

namespace laminar::backend {

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

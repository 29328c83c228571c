// SPDX-License-Identifier: Apache-2.0
#include "backend/backend.h"

#include <fmt/format.h>

namespace laminar::backend {

std::string unavailableError(std::string_view backend, std::string_view why) {
    return fmt::format("-ERR laminar: backend '{}' unavailable: {}\r\n", backend, why);
}

std::string timeoutError(std::string_view backend, long long ms) {
    return fmt::format("-ERR laminar: backend '{}' timed out after {}ms\r\n", backend, ms);
}

}  // namespace laminar::backend

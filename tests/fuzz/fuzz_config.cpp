// SPDX-License-Identifier: Apache-2.0
// The configuration: YAML text loaded and compiled as start-up, --check-config and reload do
// (config::loadString, then a policy::Snapshot building every route's strategy), and compiled a
// second time as a reload of itself (the flip barrier). A bad configuration must be refused with
// config::ConfigError, which names the file, line and path; any other exception escaping, or a
// crash, is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "policy/snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    try {
        auto cfg = laminar::config::loadString(text, "fuzz.yaml");
        laminar::policy::Snapshot first(cfg, 1);
        laminar::policy::Snapshot second(std::move(cfg), 2, &first);
    } catch (const laminar::config::ConfigError&) {
    }
    return 0;
}

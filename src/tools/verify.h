// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "config/config.h"

namespace laminar::tools {

struct VerifyOptions {
    std::string a, b;              // backend names
    std::string match;             // SCAN MATCH glob; empty = every key
    uint64_t sample = 0;           // compare this many random keys of a (0 = all, and look for keys only b has)
    long long ttl_tolerance_ms = 2000;
    size_t examples = 10;          // differences printed
    bool report = false;           // tell the laminar of the config what was found (LAMINAR MIGRATION shows it)
};

// `laminar verify`: compares each key's type, value (type aware: hashes and sets regardless of
// order, lists and sorted sets in order) and TTL (within the tolerance; memcached keeps whole
// seconds) on two backends. Prints counts and up to `examples` differences; returns 0 when they
// are equal, 1 when they differ (exit codes as copy's).
int runVerify(const config::Config& cfg, const VerifyOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace laminar::tools

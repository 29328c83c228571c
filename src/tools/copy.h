// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "config/config.h"

namespace laminar::tools {

struct CopyOptions {
    std::string from, to;        // backend names
    std::string match;           // SCAN MATCH glob; empty = every key
    bool overwrite = false;      // --mode overwrite; default skip-existing
    uint64_t rate = 0;           // keys per second; 0 = as fast as it goes
    std::string checkpoint;      // file to resume from and save progress to; empty = none
    size_t batch = 200;          // keys per SCAN and per pipelined DUMP/PTTL/RESTORE round
};

// Exit codes shared by copy and verify.
enum ExitCode { kOk = 0, kSomeFailed = 1, kUsage = 2, kUnreachable = 3, kInterrupted = 130 };

// `laminar copy`: SCAN the source, then DUMP + PTTL there and RESTORE (TTL kept) on the target,
// every type for Redis and strings between Redis and memcached. skip-existing never overwrites a
// key the target has (RESTORE without REPLACE), so a second pass after the switch cannot clobber
// fresher data written through the proxy (the double copy of docs/design.md). Progress goes to `err` (a
// bar on a terminal, a line every 5 s otherwise), the summary to `out`. `stop` ends it after the
// current batch, with the checkpoint saved.
int runCopy(const config::Config& cfg, const CopyOptions& opt, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop);

}  // namespace laminar::tools

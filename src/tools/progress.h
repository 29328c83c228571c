// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>

namespace laminar::tools {

// Progress of a copy: on a terminal a bar redrawn in place (keys, bytes, rate, ETA when the
// total is known); otherwise one plain line every 5 seconds, for logs.
class Progress {
public:
    Progress(std::ostream& out, bool terminal, uint64_t total);
    // `deleted`: keys removed from the target by --delete-extra, shown when given.
    void update(uint64_t scanned, uint64_t copied, uint64_t skipped, uint64_t failed, uint64_t bytes,
                std::optional<uint64_t> deleted = std::nullopt);
    void finish();

private:
    std::ostream& out_;
    bool terminal_;
    uint64_t total_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point started_, last_;
};

}  // namespace laminar::tools

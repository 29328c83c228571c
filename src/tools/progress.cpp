// SPDX-License-Identifier: Apache-2.0
#include "tools/progress.h"

#include <fmt/format.h>

#include <ostream>

namespace laminar::tools {

Progress::Progress(std::ostream& out, bool terminal, uint64_t total)
    : out_(out), terminal_(terminal), total_(total), started_(std::chrono::steady_clock::now()), last_(started_) {}

void Progress::update(uint64_t scanned, uint64_t copied, uint64_t skipped, uint64_t failed, uint64_t bytes, std::optional<uint64_t> deleted) {
    auto now = std::chrono::steady_clock::now();
    if (!terminal_ && now - last_ < std::chrono::seconds(5)) return;
    if (terminal_ && drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - started_).count();
    double rate = secs > 0 ? static_cast<double>(scanned) / secs : 0;
    std::string line = fmt::format("{} keys ({} copied, {} skipped, {} failed{}), {:.1f} MB, {:.0f} keys/s", scanned, copied, skipped, failed,
                                   deleted ? fmt::format(", {} deleted", *deleted) : std::string(), static_cast<double>(bytes) / 1e6, rate);
    if (!terminal_) {
        out_ << "copy: " << line << "\n";
        return;
    }
    std::string bar;
    if (total_ > 0) {
        double frac = std::min(1.0, static_cast<double>(scanned) / static_cast<double>(total_));
        int filled = static_cast<int>(frac * 30);
        bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(30 - filled), '.') +
              fmt::format("] {:3.0f}% ", frac * 100);
        if (rate > 0 && scanned < total_) line += fmt::format(", ETA {:.0f} s", static_cast<double>(total_ - scanned) / rate);
    }
    out_ << "\r\033[K" << bar << line << std::flush;
    drawn_ = true;
}

void Progress::finish() {
    if (terminal_ && drawn_) out_ << "\n";
    drawn_ = false;
}

}  // namespace laminar::tools

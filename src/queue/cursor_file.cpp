// SPDX-License-Identifier: Apache-2.0
#include "queue/cursor_file.h"

#include <charconv>
#include <fstream>
#include <string_view>

#include "queue/file.h"

namespace laminar::queue {

bool loadCursors(const std::filesystem::path& dir, Cursors& out, std::string& error) {
    auto path = dir / "cursors";
    std::ifstream in(path);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) return true;
        error = "cannot read " + path.string();
        return false;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        auto sp = line.rfind(' ');
        uint64_t seq = 0;
        const char* end = line.data() + line.size();
        auto [stop, ec] = sp == std::string::npos ? std::from_chars_result{end, std::errc::invalid_argument}
                                                  : std::from_chars(line.data() + sp + 1, end, seq);
        // A number too large for 64 bits is a damaged file, not cursor 0.
        if (sp == std::string::npos || sp == 0 || ec != std::errc() || stop != end || sp + 1 == line.size()) {
            error = path.string() + ":" + std::to_string(n) + ": expected \"target seq\", got \"" + line + "\"";
            return false;
        }
        out[line.substr(0, sp)] = seq;
    }
    if (in.bad()) {
        error = "cannot read " + path.string();
        return false;
    }
    return true;
}

bool storeCursors(const std::filesystem::path& dir, const Cursors& cursors, bool sync,
                  std::atomic<uint64_t>& fsyncs, std::string& error) {
    std::string text;
    for (const auto& [target, seq] : cursors) text += target + " " + std::to_string(seq) + "\n";
    return replaceFile(dir, "cursors", text, sync, fsyncs, error);
}

}  // namespace laminar::queue

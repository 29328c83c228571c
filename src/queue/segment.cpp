// SPDX-License-Identifier: Apache-2.0
#include "queue/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include "queue/frame.h"

namespace laminar::queue {
namespace {

constexpr size_t kScanChunk = 1 << 20;
constexpr size_t kNameDigits = 20;

// Holds the bytes [at, at + buf.size()) of a file, refilled as a scan moves on.
class ScanWindow {
public:
    ScanWindow(int fd, uint64_t size) : fd_(fd), size_(size) {}
    // Pointer to bytes [off, off + n), or null on a read error. The range must lie within the file.
    const char* get(uint64_t off, size_t n) {
        if (off >= at_ && off + n <= at_ + buf_.size()) return buf_.data() + (off - at_);
        size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, kScanChunk), size_ - off));
        buf_.resize(want);
        at_ = off;
        if (!readAllAt(fd_, buf_.data(), want, off)) {
            buf_.clear();
            return nullptr;
        }
        return buf_.data();
    }

private:
    int fd_;
    uint64_t size_;
    uint64_t at_ = 0;
    std::string buf_;
};

}  // namespace

std::string segmentName(uint64_t first_seq) {
    return fmt::format("{:020}.seg", first_seq);
}

std::optional<uint64_t> parseSegmentName(const std::string& name) {
    if (name.size() != kNameDigits + 4 || !name.ends_with(".seg")) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < kNameDigits; ++i) {
        char c = name[i];
        if (c < '0' || c > '9') return std::nullopt;
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

SegmentScan scanSegment(int fd, uint64_t size, uint64_t first_seq) {
    SegmentScan scan;
    ScanWindow window(fd, size);
    uint64_t off = 0;
    uint64_t seq = first_seq;
    auto stop = [&](std::string why, bool fatal) {
        scan.problem = std::move(why);
        scan.fatal = fatal;
    };
    while (off < size) {
        if (size - off < kFrameHeaderBytes) {
            stop(fmt::format("short header ({} bytes)", size - off), false);
            break;
        }
        const char* p = window.get(off, kFrameHeaderBytes);
        if (!p) {
            stop("read error: " + errnoText(), true);
            break;
        }
        FrameHeader h = decodeHeader(p);
        if (h.len > kMaxRecordBytes) {
            stop(fmt::format("absurd record length {}", h.len), false);
            break;
        }
        if (size - off - kFrameHeaderBytes < h.len) {
            stop(fmt::format("short record ({} of {} bytes)", size - off - kFrameHeaderBytes, h.len), false);
            break;
        }
        p = window.get(off, kFrameHeaderBytes + h.len);
        if (!p) {
            stop("read error: " + errnoText(), true);
            break;
        }
        if (!checksumMatches(h, std::string_view(p + kFrameHeaderBytes, h.len))) {
            stop("checksum mismatch", false);
            break;
        }
        if (h.seq != seq) {
            stop(fmt::format("record has seq {}, expected {}", h.seq, seq), true);
            break;
        }
        if (off > std::numeric_limits<uint32_t>::max()) {
            stop("segment larger than 4 GiB", true);
            break;
        }
        scan.offsets.push_back(static_cast<uint32_t>(off));
        off += kFrameHeaderBytes + h.len;
        ++seq;
    }
    scan.good_bytes = off;
    return scan;
}

}  // namespace laminar::queue

// SPDX-License-Identifier: Apache-2.0
#include "queue/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include "queue/frame.h"
#include "queue/record.h"

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

namespace {

// What the bytes at `off` hold.
struct FrameAt {
    enum class Kind { kGood, kBad, kReadError } kind = Kind::kBad;
    FrameHeader header{};
    std::string problem;  // kBad: why it is not a whole record
};

FrameAt frameAt(ScanWindow& window, uint64_t size, uint64_t off) {
    FrameAt f;
    if (size - off < kFrameHeaderBytes) {
        f.problem = fmt::format("short header ({} bytes)", size - off);
        return f;
    }
    const char* p = window.get(off, kFrameHeaderBytes);
    if (!p) {
        f.kind = FrameAt::Kind::kReadError;
        return f;
    }
    f.header = decodeHeader(p);
    if (f.header.len > kMaxRecordBytes) {
        f.problem = fmt::format("absurd record length {}", f.header.len);
        return f;
    }
    if (size - off - kFrameHeaderBytes < f.header.len) {
        f.problem = fmt::format("short record ({} of {} bytes)", size - off - kFrameHeaderBytes, f.header.len);
        return f;
    }
    p = window.get(off, kFrameHeaderBytes + f.header.len);
    if (!p) {
        f.kind = FrameAt::Kind::kReadError;
        return f;
    }
    if (!checksumMatches(f.header, std::string_view(p + kFrameHeaderBytes, f.header.len))) {
        f.problem = "checksum mismatch";
        return f;
    }
    f.kind = FrameAt::Kind::kGood;
    return f;
}

void readLostKeys(ScanWindow& window, Damage& d) {
    uint64_t off = d.from_byte, seq = d.first_seq;
    auto add = [&](std::vector<std::string>&& keys) {
        for (auto& k : keys) d.keys.push_back(std::move(k));
    };
    for (; seq < d.end_seq && d.to_byte - off >= kFrameHeaderBytes; ++seq) {
        const char* p = window.get(off, kFrameHeaderBytes);
        if (!p) break;
        FrameHeader h = decodeHeader(p);
        if (h.seq != seq || h.len > d.to_byte - off - kFrameHeaderBytes) break;
        p = window.get(off, kFrameHeaderBytes + h.len);
        if (!p) break;
        auto keys = keysOfDamagedRecord(std::string_view(p + kFrameHeaderBytes, h.len));
        if (keys && !keys->empty()) add(std::move(*keys));
        else ++d.unreadable;
        off += kFrameHeaderBytes + h.len;
    }
    d.unreadable += d.end_seq - seq;
    if (seq == d.end_seq || off >= d.to_byte) return;
    // The frames are lost from here: what is left of the commands may still say their keys.
    const char* p = window.get(off, static_cast<size_t>(d.to_byte - off));
    if (!p) return;
    std::string_view rest(p, static_cast<size_t>(d.to_byte - off));
    uint64_t found = 0;  // commands found: each is one of the records counted unreadable above
    for (size_t at = rest.find("*"); at != std::string_view::npos; at = rest.find("*", at + 1)) {
        if (auto keys = keysOfDamagedCommand(rest.substr(at)); keys && !keys->empty()) {
            add(std::move(*keys));
            ++found;
        }
    }
    d.unreadable -= std::min(found, d.unreadable);
}

// A record can be found again after damage only if its seq is plausible: at or after the one
// expected, and not absurdly far (random bytes that pass a CRC-32C are one in four billion).
constexpr uint64_t kMaxSeqJump = 1u << 24;

}  // namespace

void readLostKeys(int fd, uint64_t size, Damage& d) {
    ScanWindow window(fd, size);
    readLostKeys(window, d);
}

SegmentScan scanSegment(int fd, uint64_t size, uint64_t first_seq) {
    SegmentScan scan;
    ScanWindow window(fd, size);
    uint64_t off = 0;
    uint64_t seq = first_seq;
    // Records seq..until-1 are lost: each gets the offset where the damage starts (so the bytes
    // between records still add up), and a place in `lost`.
    auto lose = [&](uint64_t until, uint64_t from_byte, uint64_t to_byte, std::string why) {
        if (until > seq || to_byte > from_byte) {
            scan.damage.push_back({seq, until, from_byte, to_byte, std::move(why), {}, 0});
            readLostKeys(window, scan.damage.back());
        }
        for (; seq < until; ++seq) {
            scan.offsets.push_back(static_cast<uint32_t>(from_byte));
            scan.lost.push_back(seq);
        }
    };
    while (off < size) {
        if (off > std::numeric_limits<uint32_t>::max()) {
            scan.problem = "segment larger than 4 GiB";
            scan.fatal = true;
            break;
        }
        FrameAt f = frameAt(window, size, off);
        if (f.kind == FrameAt::Kind::kReadError) {
            scan.problem = "read error: " + errnoText();
            scan.fatal = true;
            break;
        }
        if (f.kind == FrameAt::Kind::kGood && f.header.seq == seq) {
            scan.offsets.push_back(static_cast<uint32_t>(off));
            off += kFrameHeaderBytes + f.header.len;
            ++seq;
            continue;
        }
        if (f.kind == FrameAt::Kind::kGood && f.header.seq > seq && f.header.seq - seq < kMaxSeqJump) {
            // A whole record, later than expected: the ones between are gone.
            lose(f.header.seq, off, off, fmt::format("records {}..{} are missing", seq, f.header.seq - 1));
            continue;
        }
        if (f.kind == FrameAt::Kind::kGood) {
            scan.problem = fmt::format("record has seq {}, expected {}", f.header.seq, seq);
            scan.fatal = true;
            break;
        }
        // Not a record. Damage, if a whole record follows further on (its frame and checksum are
        // found again); else a torn tail: a write the crash cut short, at the very end.
        uint64_t found = 0;
        FrameAt next;
        for (uint64_t q = off + 1; q + kFrameHeaderBytes <= size; ++q) {
            const char* p = window.get(q, kFrameHeaderBytes);
            if (!p) break;
            FrameHeader h = decodeHeader(p);
            if (h.len > kMaxRecordBytes || size - q - kFrameHeaderBytes < h.len || h.seq < seq || h.seq - seq >= kMaxSeqJump) continue;
            next = frameAt(window, size, q);
            if (next.kind == FrameAt::Kind::kGood) {
                found = q;
                break;
            }
        }
        if (!found) {
            scan.problem = f.problem;
            break;
        }
        lose(next.header.seq, off, found, f.problem);
        off = found;
    }
    scan.good_bytes = off;
    return scan;
}

}  // namespace laminar::queue

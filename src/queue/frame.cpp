// SPDX-License-Identifier: Apache-2.0
#include "queue/frame.h"

#include "queue/crc32c.h"

namespace laminar::queue {
namespace {

void putLe(char* p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t getLe(const char* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    return v;
}

// CRC-32C of data (whose own CRC-32C is data_crc) followed by the 16 bytes (seq, unix_ms): the data's
// crc is computed outside the journal's lock and continued over the header fields, which costs 16
// bytes, not a crc32_combine (a microsecond per record, measured).
uint32_t frameChecksum(uint64_t seq, int64_t unix_ms, uint32_t len, uint32_t data_crc) {
    (void)len;
    char meta[16];
    putLe(meta, seq, 8);
    putLe(meta + 8, static_cast<uint64_t>(unix_ms), 8);
    return crc32c(data_crc, meta, sizeof meta);
}

}  // namespace

uint32_t dataChecksum(std::string_view data) {
    return crc32c(0, data.data(), data.size());
}

std::array<char, kFrameHeaderBytes> encodeHeader(uint64_t seq, int64_t unix_ms, uint32_t len, uint32_t data_crc) {
    std::array<char, kFrameHeaderBytes> h{};
    putLe(h.data(), len, 4);
    putLe(h.data() + 4, frameChecksum(seq, unix_ms, len, data_crc), 4);
    putLe(h.data() + 8, seq, 8);
    putLe(h.data() + 16, static_cast<uint64_t>(unix_ms), 8);
    return h;
}

FrameHeader decodeHeader(const char* p) {
    return FrameHeader{static_cast<uint32_t>(getLe(p, 4)), static_cast<uint32_t>(getLe(p + 4, 4)), getLe(p + 8, 8),
                       static_cast<int64_t>(getLe(p + 16, 8))};
}

bool checksumMatches(const FrameHeader& h, std::string_view data) {
    return data.size() == h.len && frameChecksum(h.seq, h.unix_ms, h.len, dataChecksum(data)) == h.crc;
}

}  // namespace laminar::queue

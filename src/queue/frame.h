// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace laminar::queue {

// One record on disk: [u32 len][u32 CRC-32C of data, seq and unix_ms][u64 seq][i64 unix_ms][data],
// little-endian; len is the size of data.
constexpr size_t kFrameHeaderBytes = 24;
// A header claiming more than this is torn or corrupt, never a record: it is not allocated for.
constexpr uint32_t kMaxRecordBytes = 512u << 20;

struct FrameHeader {
    uint32_t len = 0;
    uint32_t crc = 0;
    uint64_t seq = 0;
    int64_t unix_ms = 0;
};

// CRC-32C of data alone: append() computes it before taking the journal's lock.
uint32_t dataChecksum(std::string_view data);

// The header of a record whose data is `len` bytes with checksum `data_crc` (dataChecksum).
std::array<char, kFrameHeaderBytes> encodeHeader(uint64_t seq, int64_t unix_ms, uint32_t len, uint32_t data_crc);

// Reads the kFrameHeaderBytes at p.
FrameHeader decodeHeader(const char* p);

// True when data is what the header's checksum covers.
bool checksumMatches(const FrameHeader& h, std::string_view data);

}  // namespace laminar::queue

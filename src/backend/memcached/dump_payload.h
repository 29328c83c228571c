// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace laminar::backend::memcached {

// Redis's DUMP/RESTORE payload for string values, so the strategies' key copies (DUMP + PTTL on
// one side, RESTORE on the other) work unchanged when one side is memcached.
//
//   payload = RDB type (0 = string) | RDB string | RDB version (2 bytes LE) | CRC64 (8 bytes LE)

// Redis's CRC64 (Jones polynomial, reflected, as in redis/src/crc64.c).
uint64_t crc64(uint64_t crc, std::string_view data);

// A payload any Redis >= 7.0 RESTOREs: RDB version 10, the value stored raw.
std::string encodeStringDump(std::string_view value);

// Reads a payload made by DUMP on Redis (raw, integer or LZF-compressed strings). Fails with a
// reason ("DUMP payload version or checksum are wrong", "... a hash value ...") otherwise.
bool decodeStringDump(std::string_view payload, std::string& value, std::string& why);

}  // namespace laminar::backend::memcached

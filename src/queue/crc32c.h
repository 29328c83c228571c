// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>

namespace laminar::queue {

// CRC-32C (Castagnoli), continuing from `crc` (0 to start): the SSE4.2 crc32 instruction where the
// CPU has it (chosen once, at first use), a table otherwise. The queue's records are framed with it:
// zlib's crc32 took a tenth of laminar's CPU under a queued write load.
uint32_t crc32c(uint32_t crc, const void* data, size_t size);
// The table version alone (what a CPU without SSE4.2 runs), for tests.
uint32_t crc32cPortable(uint32_t crc, const void* data, size_t size);

}  // namespace laminar::queue

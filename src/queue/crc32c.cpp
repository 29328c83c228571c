// SPDX-License-Identifier: Apache-2.0
#include "queue/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace laminar::queue {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // CRC-32C, reflected

constexpr std::array<uint32_t, 256> makeTable() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kTable = makeTable();

uint32_t softwareCrc(uint32_t crc, const unsigned char* p, size_t n) {
    crc = ~crc;
    while (n--) crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t hardwareCrc(uint32_t crc, const unsigned char* p, size_t n) {
    uint64_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    auto c32 = static_cast<uint32_t>(c);
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

using Fn = uint32_t (*)(uint32_t, const unsigned char*, size_t);

Fn choose() {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return &hardwareCrc;
#endif
    return &softwareCrc;
}

}  // namespace

uint32_t crc32cPortable(uint32_t crc, const void* data, size_t size) {
    return softwareCrc(crc, static_cast<const unsigned char*>(data), size);
}

uint32_t crc32c(uint32_t crc, const void* data, size_t size) {
    static const Fn fn = choose();
    return fn(crc, static_cast<const unsigned char*>(data), size);
}

}  // namespace laminar::queue

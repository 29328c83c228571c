// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>

namespace laminar::io {

// Giving memory back after a large request. glibc keeps what a large request freed: its mmap
// threshold rises to the largest block freed, so later large buffers come from the heap, and free
// heap pages stay resident. A 14 MB command of a million keys left laminar at 84 MB for good, four
// at once at 458 MB. Whoever frees a buffer of at least kLargeFree bytes calls freedLarge(); the
// I/O threads' sweep (every 250 ms) calls trimIfFreed(), which returns the free pages to the
// system once (malloc_trim) for all the large frees since the last one. Nothing is trimmed while
// only small buffers come and go, so the data path pays nothing for it.
inline constexpr size_t kLargeFree = 1024 * 1024;
void freedLarge();
void trimIfFreed();

}  // namespace laminar::io

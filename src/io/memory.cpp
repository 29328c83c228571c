// SPDX-License-Identifier: Apache-2.0
#include "io/memory.h"

#include <malloc.h>

#include <atomic>

namespace laminar::io {
namespace {
std::atomic<bool> g_freed_large{false};
}  // namespace

void freedLarge() { g_freed_large.store(true, std::memory_order_relaxed); }

void trimIfFreed() {
    if (g_freed_large.exchange(false, std::memory_order_relaxed)) ::malloc_trim(0);
}

}  // namespace laminar::io

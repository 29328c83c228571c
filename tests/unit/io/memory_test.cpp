// SPDX-License-Identifier: Apache-2.0
// Giving memory back after a large request (src/io/memory.cpp): trimIfFreed() returns the free
// heap to the system only after a freedLarge(), and once for every large free since the last
// sweep. What is returned is read from glibc (mallinfo2: keepcost, the free top of the heap that
// a trim would release). Each case runs in a child process, whose malloc settings it may change:
// no automatic trim, and large blocks from the heap rather than from mmap.
#include "io/memory.h"

#include <malloc.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace laminar::io {
namespace {

constexpr size_t kBlock = 8u << 20;

// In the child: free() never trims by itself, and an 8 MiB block comes from the heap's top.
void heapOnly() {
    ::mallopt(M_MMAP_THRESHOLD, 16 << 20);  // at most 32 MiB on 64-bit
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    trimIfFreed();  // whatever this process did before forking is not this case's
}

// A large block used and freed: the top of the heap holds it, free.
void useAndFree() {
    void* p = std::malloc(kBlock);
    std::memset(p, 1, kBlock);
    asm volatile("" : : "r"(p) : "memory");  // used: the compiler may not drop the pair
    std::free(p);
}

size_t keep() { return ::mallinfo2().keepcost; }

// The sanitizers replace glibc's malloc: there is no glibc heap to read or trim then.
class MemoryTest : public ::testing::Test {
protected:
    void SetUp() override {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        GTEST_SKIP() << "glibc's malloc is replaced by the sanitizer's";
#endif
    }
};

// Exits 0 when `ok`, else 1 after saying what was seen.
[[noreturn]] void exitWith(bool ok, const char* what, size_t before, size_t after) {
    if (!ok) std::fprintf(stderr, "%s: free top of the heap %zu bytes before, %zu after\n", what, before, after);
    std::exit(ok ? 0 : 1);
}

TEST_F(MemoryTest, AFreeNobodySaidWasLargeTrimsNothing) {
    EXPECT_EXIT(
        {
            heapOnly();
            useAndFree();
            size_t before = keep();
            trimIfFreed();
            size_t after = keep();
            exitWith(before >= kBlock && after >= kBlock, "nothing was said freed, yet the heap was trimmed", before, after);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST_F(MemoryTest, TheSweepAfterALargeFreeReturnsTheFreeHeap) {
    EXPECT_EXIT(
        {
            heapOnly();
            useAndFree();
            freedLarge();
            size_t before = keep();
            trimIfFreed();
            size_t after = keep();
            exitWith(before >= kBlock && after < kBlock / 8, "a large free was said, yet the heap was not trimmed", before, after);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST_F(MemoryTest, OneSweepTrimsForEveryLargeFreeBeforeItAndTheNextDoesNot) {
    EXPECT_EXIT(
        {
            heapOnly();
            useAndFree();
            freedLarge();
            freedLarge();
            trimIfFreed();
            useAndFree();  // after the sweep, without freedLarge()
            size_t before = keep();
            trimIfFreed();
            size_t after = keep();
            exitWith(before >= kBlock && after >= kBlock, "the second sweep trimmed again", before, after);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace laminar::io

// SPDX-License-Identifier: Apache-2.0
// Helpers for the tests of the journal's recovery and flusher: options, opening, the segment
// files on disk, and waiting (with a generous bound, never as an assertion of speed) for what
// the flusher thread does.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "queue/journal.h"

namespace laminar::queue::testing {

namespace fs = std::filesystem;

inline JournalOptions options(const fs::path& dir, std::vector<std::string> targets = {"a"}, Fsync fsync = Fsync::kNo,
                              uint64_t segment_bytes = 64ull << 20) {
    JournalOptions o;
    o.dir = dir;
    o.fsync = fsync;
    o.segment_bytes = segment_bytes;
    o.targets = std::move(targets);
    return o;
}

inline std::unique_ptr<Journal> openOrDie(JournalOptions o) {
    std::string error;
    auto j = Journal::open(std::move(o), error);
    EXPECT_TRUE(j) << error;
    return j;
}

// Why open() fails; empty when it does not.
inline std::string openError(JournalOptions o) {
    std::string error;
    auto j = Journal::open(std::move(o), error);
    EXPECT_FALSE(j);
    return error;
}

inline std::vector<fs::path> segmentFiles(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

inline uint64_t firstSeqOf(const fs::path& seg) { return std::stoull(seg.filename().string().substr(0, 20)); }

inline std::string segmentName(uint64_t first_seq) {
    std::string n = std::to_string(first_seq);
    return std::string(20 - n.size(), '0') + n + ".seg";
}

inline std::string payload(uint64_t i) { return "record-" + std::to_string(i) + std::string(i % 13, 'x'); }

// Appends payload(1..n) to a fresh journal with one target, "a", and closes it.
inline void writeJournal(const fs::path& dir, uint64_t n, uint64_t segment_bytes) {
    auto j = openOrDie(options(dir, {"a"}, Fsync::kNo, segment_bytes));
    for (uint64_t i = 1; i <= n; ++i) ASSERT_EQ(j->append(payload(i)), i);
}

inline std::string slurp(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void writeFile(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
}

// True once pred() holds; false if it still does not after 20 s.
template <typename Pred>
bool waitFor(Pred pred) {
    using namespace std::chrono_literals;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

}  // namespace laminar::queue::testing

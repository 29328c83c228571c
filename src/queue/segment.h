// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "queue/file.h"

namespace laminar::queue {

// One segment file `<first seq, 20 digits>.seg` and what the journal knows of it without reading it.
struct Segment {
    uint64_t first_seq = 0;          // seq of its first record (from the name; records may be none yet)
    std::vector<uint32_t> offsets;   // offsets[i]: where record first_seq + i starts
    uint64_t bytes = 0;              // size of the file: its whole records
    uint64_t base = 0;               // journal-wide byte position of its first byte (for backlog sizes)
    std::filesystem::path path;
    std::shared_ptr<File> file;
    bool dirty = false;              // written since the last fsync

    uint64_t count() const { return offsets.size(); }
    uint64_t lastSeq() const { return first_seq + offsets.size() - 1; }  // first_seq - 1 when empty
    // Offset of record seq (first_seq <= seq <= lastSeq() + 1; lastSeq() + 1 gives the end).
    uint64_t offsetOf(uint64_t seq) const {
        uint64_t i = seq - first_seq;
        return i < offsets.size() ? offsets[i] : bytes;
    }
};

std::string segmentName(uint64_t first_seq);
// The first seq a segment file's name says, or nothing when it is not a segment's name.
std::optional<uint64_t> parseSegmentName(const std::string& name);

// What a segment file holds, read frame by frame from its start.
struct SegmentScan {
    std::vector<uint32_t> offsets;
    uint64_t good_bytes = 0;  // the whole records end here
    std::string problem;      // empty when good_bytes is the file's size; else why the records stop
    bool fatal = false;       // the problem is not a torn write (a read error, a seq out of order)
};

// Scans fd (a file of `size` bytes) whose records must be first_seq, first_seq + 1, ...
SegmentScan scanSegment(int fd, uint64_t size, uint64_t first_seq);

}  // namespace laminar::queue

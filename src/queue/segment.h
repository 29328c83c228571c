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
    std::vector<uint64_t> lost;      // seqs found damaged or missing at open, ascending (read() skips them)

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

// Records a scan found damaged: seqs [first_seq, end_seq) (none when equal: only junk bytes) in
// bytes [from_byte, to_byte) of the file.
struct Damage {
    uint64_t first_seq = 0, end_seq = 0;
    uint64_t from_byte = 0, to_byte = 0;
    std::string why;
    // The keys the lost records wrote, as far as the damaged bytes tell (their checksum failed, so
    // a key may be wrong), and how many lost records told none.
    std::vector<std::string> keys;
    uint64_t unreadable = 0;
};

// Fills d.keys and d.unreadable from the bytes [d.from_byte, d.to_byte) of fd (a file of `size`
// bytes): frames are followed from the damage's start while their headers still make sense, and
// the bytes left are searched for the commands the queue journals.
void readLostKeys(int fd, uint64_t size, Damage& d);

// What a segment file holds, read frame by frame from its start. Bytes that are not a record,
// followed by a whole record (its frame and checksum, a seq at or after the one expected), are
// damage: the records they held are lost, and the scan goes on from the record found. Bytes that
// are not a record, with none after them, end the scan: a torn tail if this is the last segment.
struct SegmentScan {
    std::vector<uint32_t> offsets;  // one per seq from first_seq, lost ones included
    std::vector<uint64_t> lost;     // the seqs lost to damage, ascending
    std::vector<Damage> damage;
    uint64_t good_bytes = 0;  // the whole records end here
    std::string problem;      // empty when good_bytes is the file's size; else why the records stop
    bool fatal = false;       // the problem is not damage nor a torn write (a read error, a seq out of order)
};

// Scans fd (a file of `size` bytes) whose records must be first_seq, first_seq + 1, ...
SegmentScan scanSegment(int fd, uint64_t size, uint64_t first_seq);

}  // namespace laminar::queue

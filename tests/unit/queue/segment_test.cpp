// SPDX-License-Identifier: Apache-2.0
#include "queue/segment.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <limits>

#include "queue/frame.h"
#include "queue/record.h"
#include "resp/writer.h"
#include "support/temp_dir.h"

namespace laminar::queue {
namespace {

namespace fs = std::filesystem;

using laminar::testing::TempDir;

// One record on disk: its header, then its data.
std::string frame(uint64_t seq, std::string_view data) {
    auto h = encodeHeader(seq, 1'700'000'000'000, static_cast<uint32_t>(data.size()), dataChecksum(data));
    return std::string(h.data(), h.size()) + std::string(data);
}

// A queued SET as the journal writes it.
std::string setRecord(std::string_view key, std::string_view value) {
    std::string resp;
    resp::appendCommand(resp, {"SET", key, value});
    std::vector<std::string> targets = {"new"};
    return encodeCommandRecord(targets, resp);
}

// `bytes` written to a segment file and scanned as records first_seq, first_seq + 1, ...
SegmentScan scanBytes(const std::string& bytes, uint64_t first_seq) {
    TempDir dir;
    auto path = dir.path() / segmentName(first_seq);
    std::ofstream(path, std::ios::binary) << bytes;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    SegmentScan scan = scanSegment(fd, bytes.size(), first_seq);
    ::close(fd);
    return scan;
}

TEST(SegmentTest, NamesAreTwentyDigitsAndParseBack) {
    EXPECT_EQ(segmentName(42), "00000000000000000042.seg");
    for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{123456789}, std::numeric_limits<uint64_t>::max()})
        EXPECT_EQ(parseSegmentName(segmentName(seq)), seq);
}

TEST(SegmentTest, OtherNamesAreNotSegments) {
    EXPECT_FALSE(parseSegmentName("42.seg"));
    EXPECT_FALSE(parseSegmentName("000000000000000000042.seg")) << "21 digits";
    EXPECT_FALSE(parseSegmentName("0000000000000000004a.seg"));
    EXPECT_FALSE(parseSegmentName("+0000000000000000042.seg"));
    EXPECT_FALSE(parseSegmentName("00000000000000000042.tmp"));
    EXPECT_FALSE(parseSegmentName("cursors"));
    // 20 digits hold more than 64 bits: one past the largest seq is not a name.
    EXPECT_FALSE(parseSegmentName("18446744073709551616.seg"));
    EXPECT_FALSE(parseSegmentName("99999999999999999999.seg"));
}

TEST(SegmentTest, WholeRecordsScanToTheEndWithoutAProblem) {
    std::string bytes = frame(5, "a") + frame(6, "bb") + frame(7, "ccc");
    auto scan = scanBytes(bytes, 5);
    EXPECT_EQ(scan.offsets, (std::vector<uint32_t>{0, 25, 51}));
    EXPECT_EQ(scan.good_bytes, bytes.size());
    EXPECT_TRUE(scan.problem.empty()) << scan.problem;
    EXPECT_FALSE(scan.fatal);
    EXPECT_TRUE(scan.lost.empty());
    EXPECT_TRUE(scan.damage.empty());
}

// A crash mid-write leaves part of the last record: the scan stops at the last whole one.
TEST(SegmentTest, ATornTailEndsTheScanAtTheLastWholeRecord) {
    std::string whole = frame(1, "one") + frame(2, "two");
    for (size_t keep : {size_t{10}, kFrameHeaderBytes + 2}) {
        auto scan = scanBytes(whole + frame(3, "three").substr(0, keep), 1);
        EXPECT_EQ(scan.good_bytes, whole.size()) << keep;
        EXPECT_EQ(scan.offsets.size(), 2u);
        EXPECT_FALSE(scan.problem.empty());
        EXPECT_FALSE(scan.fatal) << scan.problem;
        EXPECT_TRUE(scan.damage.empty());
    }
}

// Record 3's bytes overwritten: it is lost, and records 4 and 5 after it are still read.
TEST(SegmentTest, GarbageFollowedByWholeRecordsIsDamageAndTheScanGoesOn) {
    std::string head = frame(1, "one") + frame(2, "two");
    std::string junk(frame(3, "three").size(), 'x');
    std::string tail = frame(4, "four") + frame(5, "five");
    auto scan = scanBytes(head + junk + tail, 1);
    EXPECT_EQ(scan.good_bytes, head.size() + junk.size() + tail.size());
    EXPECT_TRUE(scan.problem.empty()) << scan.problem;
    EXPECT_EQ(scan.lost, std::vector<uint64_t>{3});
    ASSERT_EQ(scan.offsets.size(), 5u);
    EXPECT_EQ(scan.offsets[2], head.size());
    EXPECT_EQ(scan.offsets[3], head.size() + junk.size());
    ASSERT_EQ(scan.damage.size(), 1u);
    EXPECT_EQ(scan.damage[0].first_seq, 3u);
    EXPECT_EQ(scan.damage[0].end_seq, 4u);
    EXPECT_EQ(scan.damage[0].from_byte, head.size());
    EXPECT_EQ(scan.damage[0].to_byte, head.size() + junk.size());
    EXPECT_TRUE(scan.damage[0].keys.empty());
    EXPECT_EQ(scan.damage[0].unreadable, 1u) << "the junk tells no key";
}

TEST(SegmentTest, ALaterSeqCountsTheRecordsBetweenAsLost) {
    std::string head = frame(1, "one") + frame(2, "two");
    std::string bytes = head + frame(5, "five") + frame(6, "six");
    auto scan = scanBytes(bytes, 1);
    EXPECT_EQ(scan.good_bytes, bytes.size());
    EXPECT_FALSE(scan.fatal);
    EXPECT_EQ(scan.lost, (std::vector<uint64_t>{3, 4}));
    EXPECT_EQ(scan.offsets.size(), 6u) << "one offset per seq, lost ones included";
    ASSERT_EQ(scan.damage.size(), 1u);
    EXPECT_EQ(scan.damage[0].first_seq, 3u);
    EXPECT_EQ(scan.damage[0].end_seq, 5u);
    EXPECT_EQ(scan.damage[0].from_byte, head.size());
    EXPECT_EQ(scan.damage[0].to_byte, head.size());
}

TEST(SegmentTest, ASeqGoingBackwardsIsFatal) {
    std::string head = frame(1, "one") + frame(2, "two");
    auto scan = scanBytes(head + frame(2, "again"), 1);
    EXPECT_TRUE(scan.fatal);
    EXPECT_FALSE(scan.problem.empty());
    EXPECT_EQ(scan.good_bytes, head.size());
    EXPECT_EQ(scan.offsets.size(), 2u);
}

// A record whose checksum fails still names the key it wrote, for the operator to check.
TEST(SegmentTest, ADamagedSetStillTellsItsKey) {
    std::string head = frame(1, setRecord("a", "1"));
    std::string bad = frame(2, setRecord("key:two", "value"));
    bad[bad.size() - 7] = 'V';  // "value\r\n" ends the record: the checksum fails, the key is intact
    auto scan = scanBytes(head + bad + frame(3, setRecord("c", "3")), 1);
    EXPECT_EQ(scan.lost, std::vector<uint64_t>{2});
    ASSERT_EQ(scan.damage.size(), 1u);
    EXPECT_EQ(scan.damage[0].keys, std::vector<std::string>{"key:two"});
    EXPECT_EQ(scan.damage[0].unreadable, 0u);
}

// Frames gone (a header of junk), the command's bytes left: readLostKeys searches them.
TEST(SegmentTest, ReadLostKeysFindsACommandWhoseFrameIsGone) {
    TempDir dir;
    std::string bytes = std::string(kFrameHeaderBytes, '\xff') + setRecord("lost:key", "v");
    auto path = dir.path() / "damaged";
    std::ofstream(path, std::ios::binary) << bytes;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    Damage d{7, 8, 0, bytes.size(), "checksum mismatch", {}, 0};
    readLostKeys(fd, bytes.size(), d);
    ::close(fd);
    EXPECT_EQ(d.keys, std::vector<std::string>{"lost:key"});
}

}  // namespace
}  // namespace laminar::queue

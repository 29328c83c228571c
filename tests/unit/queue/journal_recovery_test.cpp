// SPDX-License-Identifier: Apache-2.0
// What Journal::open() makes of what it finds on disk (src/queue/journal_recovery.cpp): segment
// files that cannot be a journal, damage left on disk as it is, torn tails cut, lost keys
// written out, and cursors that do not fit the records. The damage cases shared with the rest of
// the journal are in journal_test.cpp.
#include <gtest/gtest.h>

#include <set>

#include "journal_fixtures.h"  // tests/unit/queue/journal_fixtures.h
#include "queue/record.h"
#include "resp/writer.h"
#include "support/temp_dir.h"

namespace laminar::queue {
namespace {

using laminar::testing::TempDir;
using namespace laminar::queue::testing;

constexpr uint64_t kFrame = 24;  // header bytes before each record's data

std::vector<Record> readAll(Journal& j, const std::string& target, uint64_t after = 0) {
    std::vector<Record> all;
    for (;;) {
        std::vector<Record> got;
        EXPECT_TRUE(j.read(target, after, 7, got));
        if (got.empty()) return all;
        after = got.back().seq;
        all.insert(all.end(), got.begin(), got.end());
    }
}

TEST(JournalRecoveryTest, AnEmptyDirectoryStartsWithSegmentOneAndTheCursorsAtZero) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a", "b"}));
    EXPECT_EQ(j->lastSeq(), 0u);
    auto segs = segmentFiles(dir.path());
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_EQ(segs[0].filename(), "00000000000000000001.seg");
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 0\nb 0\n");
    EXPECT_TRUE(fs::exists(dir.path() / "lock"));
    EXPECT_FALSE(fs::exists(dir.path() / "lost-keys.txt")) << "nothing was lost";
}

TEST(JournalRecoveryTest, FilesThatAreNotSegmentsAreLeftAlone) {
    TempDir dir;
    writeJournal(dir.path(), 5, 1 << 20);
    writeFile(dir.path() / "notes.txt", "hello");
    writeFile(dir.path() / "1.seg", "not twenty digits");
    writeFile(dir.path() / "0000000000000000000x.seg", "not digits");
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->lastSeq(), 5u);
    EXPECT_EQ(readAll(*j, "a").size(), 5u);
    EXPECT_TRUE(j->stats().damage.empty());
    EXPECT_EQ(slurp(dir.path() / "1.seg"), "not twenty digits");
}

TEST(JournalRecoveryTest, ASegmentNamedZeroIsRefused) {
    TempDir dir;
    writeFile(dir.path() / segmentName(0), "");
    auto error = openError(options(dir.path()));
    EXPECT_EQ(error, "queue: " + (dir.path() / segmentName(0)).string() + ": seqs start at 1");
}

TEST(JournalRecoveryTest, SegmentsThatOverlapAreRefused) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    uint64_t first = firstSeqOf(segs[2]);
    ASSERT_GT(first - 1, firstSeqOf(segs[1])) << "the new name must not be segs[1]'s";
    auto overlapping = dir.path() / segmentName(first - 1);  // names a seq segs[1] holds
    fs::rename(segs[2], overlapping);
    auto error = openError(options(dir.path()));
    EXPECT_EQ(error, "queue: " + overlapping.string() + ": starts at seq " + std::to_string(first - 1) + " but the segment before ends at " +
                         std::to_string(first - 1));
}

TEST(JournalRecoveryTest, ASecondJournalIsRefusedAndLeavesTheFilesAsTheyWere) {
    TempDir dir;
    writeJournal(dir.path(), 3, 1 << 20);
    auto j = openOrDie(options(dir.path()));
    auto seg = segmentFiles(dir.path()).back();
    auto size = fs::file_size(seg);
    auto error = openError(options(dir.path()));
    EXPECT_EQ(error.find("queue: " + dir.path().string() + " is in use by another journal (flock: "), 0u) << error;
    EXPECT_EQ(fs::file_size(seg), size);
}

TEST(JournalRecoveryTest, ATornTailIsCutFromTheFileOnDisk) {
    TempDir dir;
    writeJournal(dir.path(), 10, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    auto whole = fs::file_size(seg);
    {
        std::ofstream out(seg, std::ios::app | std::ios::binary);
        out << std::string(7, '\0');
    }
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->stats().torn_bytes, 7u);
    EXPECT_EQ(fs::file_size(seg), whole) << "truncated, so the next append follows the last good record";
    EXPECT_EQ(j->append("eleven"), 11u);
    EXPECT_EQ(fs::file_size(seg), whole + kFrame + 6);
}

// The damaged end of a segment before the last is not cut: it is not appended to again, and a
// second open finds (and reports) the same damage.
TEST(JournalRecoveryTest, ADamagedTailBeforeTheLastSegmentStaysOnDiskAsItIs) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    uint64_t first = firstSeqOf(segs[1]), next = firstSeqOf(segs[2]);
    auto cut = kFrame + payload(first).size() + 5;  // the second record cut short
    fs::resize_file(segs[1], cut);
    std::vector<std::string> damage;
    {
        auto j = openOrDie(options(dir.path()));
        EXPECT_EQ(fs::file_size(segs[1]), cut);
        EXPECT_EQ(j->stats().torn_bytes, 0u) << "a torn tail is only ever the last segment's";
        EXPECT_EQ(j->stats().lost_records, next - first - 1);
        damage = j->stats().damage;
        ASSERT_EQ(damage.size(), 1u);
        auto bytes = ": bytes " + std::to_string(kFrame + payload(first).size()) + ".." + std::to_string(cut) + ": ";
        EXPECT_NE(damage[0].find(segs[1].filename().string() + bytes), std::string::npos) << damage[0];
    }
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->stats().damage, damage);
    EXPECT_EQ(j->lastSeq(), 20u);
}

// The same damage as a zero-length segment: one byte that is not a frame loses the segment's
// records and open() goes on.
TEST(JournalRecoveryTest, ASegmentBeforeTheLastWithOnlyGarbageLosesItsRecords) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    uint64_t first = firstSeqOf(segs[1]), next = firstSeqOf(segs[2]);
    fs::resize_file(segs[1], 1);
    auto j = openOrDie(options(dir.path()));
    ASSERT_TRUE(j);
    EXPECT_EQ(j->stats().lost_records, next - first);
    auto all = readAll(*j, "a");
    ASSERT_EQ(all.size(), 20u);
    for (uint64_t q = first; q < next; ++q) EXPECT_TRUE(all[q - 1].lost) << q;
}

// Spec 2 of journal.h: open() fails only on a read error or records out of order. A segment
// before the last that is empty (a file system that lost its data blocks after a crash, a segment
// emptied by hand) loses its records, as one garbage byte there does (above), and the journal opens.
TEST(JournalRecoveryTest, AnEmptySegmentBeforeTheLastLosesItsRecordsLikeOtherDamage) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    uint64_t first = firstSeqOf(segs[1]), next = firstSeqOf(segs[2]);
    fs::resize_file(segs[1], 0);
    auto j = openOrDie(options(dir.path()));
    ASSERT_TRUE(j);
    EXPECT_EQ(j->stats().lost_records, next - first);
    EXPECT_EQ(j->lastSeq(), 20u);
}

TEST(JournalRecoveryTest, AnEmptyLastSegmentIsWhereAppendsGoOn) {
    TempDir dir;
    writeJournal(dir.path(), 4, 1 << 20);
    writeFile(dir.path() / segmentName(5), "");  // created, then a crash before the first record
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->lastSeq(), 4u);
    EXPECT_EQ(j->append("five"), 5u);
    EXPECT_EQ(fs::file_size(dir.path() / segmentName(5)), kFrame + 4);
    EXPECT_TRUE(j->stats().damage.empty());
}

TEST(JournalRecoveryTest, ACursorPastTheEndResumesAtTheEnd) {
    TempDir dir;
    writeJournal(dir.path(), 10, 1 << 20);
    writeFile(dir.path() / "cursors", "a 50\n");  // records 11..50 were lost in a crash
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->acked("a"), 10u);
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 10\n") << "stored at once";
    EXPECT_EQ(j->append("eleven"), 11u);
    auto got = readAll(*j, "a", j->acked("a"));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, "eleven");
}

TEST(JournalRecoveryTest, ACursorBeforeTheOldestRecordStartsAtTheOldest) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    fs::remove(segs[0]);  // deleted (applied by every target then), but the cursor says 0
    writeFile(dir.path() / "cursors", "a 0\n");
    uint64_t oldest = firstSeqOf(segs[1]);
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->acked("a"), oldest - 1);
    auto all = readAll(*j, "a", j->acked("a"));
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.front().seq, oldest);
    EXPECT_FALSE(all.front().lost) << "records before the first segment are gone, not lost";
    EXPECT_EQ(j->stats().lost_records, 0u);
}

TEST(JournalRecoveryTest, ANewTargetsStartIsOnDiskAsSoonAsTheJournalOpens) {
    TempDir dir;
    writeJournal(dir.path(), 7, 1 << 20);  // "a" never acked: its cursor is 0
    auto j = openOrDie(options(dir.path(), {"a", "b"}));
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 0\nb 7\n") << "a crash before b's first ack must not replay 1..7 to it";
    EXPECT_EQ(j->acked("b"), 7u);
}

TEST(JournalRecoveryTest, ATargetNoLongerConfiguredIsDroppedFromTheCursors) {
    TempDir dir;
    writeJournal(dir.path(), 10, 1 << 20);
    writeFile(dir.path() / "cursors", "a 3\ngone 5\n");
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 3\n");
    EXPECT_EQ(j->stats().targets.count("gone"), 0u);
}

TEST(JournalRecoveryTest, ADamagedCursorsFileFailsOpenNamingTheLine) {
    TempDir dir;
    writeJournal(dir.path(), 3, 1 << 20);
    writeFile(dir.path() / "cursors", "a 1\nthis is not a cursor\n");
    auto error = openError(options(dir.path()));
    EXPECT_NE(error.find((dir.path() / "cursors").string() + ":2: "), std::string::npos) << error;
}

// Lost keys go to lost-keys.txt escaped as redis-cli prints them, so that any key can be copied
// back whatever bytes it holds.
TEST(JournalRecoveryTest, LostKeysAreWrittenOutEscaped) {
    TempDir dir;
    std::vector<std::string> targets = {"a"};
    const std::string key = std::string("q\"b\\s\n\x01", 7) + "\xff";
    std::vector<std::string> records;
    {
        auto j = openOrDie(options(dir.path()));
        for (int i = 1; i <= 3; ++i) {
            std::string resp;
            resp::appendCommand(resp, {"SET", i == 2 ? key : "plain:" + std::to_string(i), std::string(40, 'v')});
            records.push_back(encodeCommandRecord(targets, resp));
            ASSERT_EQ(j->append(records.back()), static_cast<uint64_t>(i));
        }
    }
    auto seg = segmentFiles(dir.path()).back();
    {
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        // Record 2's value: its checksum fails, its header holds.
        f.seekp(static_cast<std::streamoff>(2 * kFrame + records[0].size() + records[1].size() - 10));
        f.write("XXXX", 4);
    }
    auto j = openOrDie(options(dir.path()));
    EXPECT_EQ(j->stats().lost_records, 1u);
    EXPECT_EQ(slurp(dir.path() / "lost-keys.txt"), "\"q\\\"b\\\\s\\x0a\\x01\\xff\"\n");
    EXPECT_FALSE(fs::exists(dir.path() / "lost-keys.txt.tmp"));
    ASSERT_EQ(j->stats().damage.size(), 1u);
    EXPECT_NE(j->stats().damage[0].find("\"q\\\"b\\\\s\\x0a\\x01\\xff\""), std::string::npos) << j->stats().damage[0];
}

TEST(JournalRecoveryTest, AMissingSegmentIsDamageOfTheSegmentBeforeIt) {
    TempDir dir;
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 4u);
    uint64_t first = firstSeqOf(segs[2]), next = firstSeqOf(segs[3]);
    fs::remove(segs[2]);
    auto j = openOrDie(options(dir.path()));
    auto st = j->stats();
    ASSERT_EQ(st.damage.size(), 1u);
    auto size = std::to_string(fs::file_size(segs[1]));
    EXPECT_EQ(st.damage[0], segs[1].filename().string() + ": bytes " + size + ".." + size + ": the segment holding them is missing; records " +
                                std::to_string(first) + ".." + std::to_string(next - 1) + " (" + std::to_string(next - first) + ") are lost (" +
                                std::to_string(next - first) + " of them say no key)");
    EXPECT_EQ(st.lost_records, next - first);
}

}  // namespace
}  // namespace laminar::queue

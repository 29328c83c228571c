// SPDX-License-Identifier: Apache-2.0
// The journal's flusher thread (src/queue/journal_flusher.cpp): callbacks that throw, cursor
// writes that fail and are retried, segments deleted only by cursors on disk, and a segment that
// cannot be deleted. The waits are bounded only so that a broken flusher cannot hang the test;
// nothing here depends on how fast it runs.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

#include "journal_fixtures.h"  // tests/unit/queue/journal_fixtures.h
#include "support/temp_dir.h"

namespace laminar::queue {
namespace {

using laminar::testing::TempDir;
using namespace laminar::queue::testing;
using namespace std::chrono_literals;

// Makes dir/cursors unwritable: its temp file's name is taken by a directory.
void blockCursorWrites(const fs::path& dir) { fs::create_directories(dir / "cursors.tmp" / "x"); }
void unblockCursorWrites(const fs::path& dir) { fs::remove_all(dir / "cursors.tmp"); }

TEST(JournalFlusherTest, AWhenDurableCallbackThatThrowsDoesNotStopTheOthers) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kAlways));
    std::atomic<int> ran{0};
    // Registered before the record is appended, so that both wait for the flusher (a callback
    // for a record already durable runs at once, on the caller's thread).
    uint64_t seq = j->lastSeq() + 1;
    j->whenDurable(seq, [&](bool) {
        ++ran;
        throw std::runtime_error("a careless caller");
    });
    j->whenDurable(seq, [&](bool durable) { ran += durable ? 10 : 100; });
    ASSERT_EQ(j->append("one"), seq);
    ASSERT_TRUE(waitFor([&] { return ran.load() == 11; })) << ran.load();
    // The flusher lives on: a later record is made durable too.
    std::promise<bool> later;
    j->whenDurable(j->append("two"), [&](bool durable) { later.set_value(durable); });
    auto f = later.get_future();
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    EXPECT_EQ(j->error(), "");
}

TEST(JournalFlusherTest, ClosingTellsEveryWhenDurableStillWaiting) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kAlways));
    std::atomic<int> told{0};
    for (int i = 0; i < 50; ++i) j->whenDurable(j->append(payload(static_cast<uint64_t>(i))), [&](bool) { ++told; });
    j.reset();  // the last pass fsyncs, and so runs what is due
    EXPECT_EQ(told.load(), 50) << "no caller waits forever";
}

TEST(JournalFlusherTest, ACursorFileThatCannotBeWrittenIsRetriedUntilItCan) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kEverySec));
    for (uint64_t i = 1; i <= 5; ++i) ASSERT_EQ(j->append(payload(i)), i);
    blockCursorWrites(dir.path());
    j->ack("a", 3);
    ASSERT_TRUE(waitFor([&] { return !j->writeError().empty(); }));
    EXPECT_NE(j->writeError().find("cursors.tmp"), std::string::npos) << j->writeError();
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 0\n") << "the last good file stays";
    EXPECT_EQ(j->error(), "") << "a cursor write that fails does not stop the journal";
    EXPECT_EQ(j->append("six"), 6u);

    unblockCursorWrites(dir.path());
    ASSERT_TRUE(waitFor([&] { return j->writeError().empty(); }));
    EXPECT_TRUE(waitFor([&] { return slurp(dir.path() / "cursors") == "a 3\n"; })) << slurp(dir.path() / "cursors");
}

TEST(JournalFlusherTest, AWriteWaitingForACursorOnDiskIsToldItIsNotWhenTheFileCannotBeWritten) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kEverySec));
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_EQ(j->append(payload(i)), i);
    blockCursorWrites(dir.path());
    j->ack("a", 2);
    std::promise<bool> told;
    j->whenPersisted("a", 2, [&](bool persisted) { told.set_value(persisted); });
    auto f = told.get_future();
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    EXPECT_FALSE(f.get());

    // Once the file can be written, a new wait is told it is on disk.
    unblockCursorWrites(dir.path());
    std::promise<bool> again;
    j->whenPersisted("a", 2, [&](bool persisted) { again.set_value(persisted); });
    auto g = again.get_future();
    ASSERT_EQ(g.wait_for(20s), std::future_status::ready);
    EXPECT_TRUE(g.get());
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 2\n");
}

// Segments go by the cursors on disk: after a crash a target resumes from those, and the records
// after them must still be there.
TEST(JournalFlusherTest, SegmentsAreDeletedOnlyOnceTheAcksAreOnDisk) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 100));
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_EQ(j->append(payload(i)), i);
    auto before = segmentFiles(dir.path()).size();
    ASSERT_GE(before, 4u);
    blockCursorWrites(dir.path());
    j->ack("a", 20);
    ASSERT_TRUE(waitFor([&] { return !j->writeError().empty(); }));  // the flusher has tried
    EXPECT_EQ(segmentFiles(dir.path()).size(), before) << "acked, but not on disk: nothing may go";

    unblockCursorWrites(dir.path());
    ASSERT_TRUE(waitFor([&] { return segmentFiles(dir.path()).size() == 1; }));
    EXPECT_EQ(slurp(dir.path() / "cursors"), "a 20\n");
    EXPECT_EQ(j->append("next"), 21u);
}

TEST(JournalFlusherTest, ASegmentThatCannotBeDeletedStopsTheJournal) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 100));
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_EQ(j->append(payload(i)), i);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 4u);
    // The oldest segment's name now holds a directory: unlink() of it fails.
    fs::remove(segs[0]);
    fs::create_directories(segs[0] / "x");
    j->ack("a", 20);
    ASSERT_TRUE(waitFor([&] { return !j->error().empty(); }));
    EXPECT_EQ(j->error().find("delete " + segs[0].string() + ": "), 0u) << j->error();
    EXPECT_TRUE(fs::exists(segs[1])) << "deletion stops at the first failure, so the files left stay contiguous";
    EXPECT_EQ(j->append("refused"), 0u);
    EXPECT_EQ(j->writeError(), j->error());
    bool told = true;
    j->whenPersisted("a", 21, [&](bool persisted) { told = persisted; });
    EXPECT_FALSE(told);
}

TEST(JournalFlusherTest, UnderNoFsyncCursorsAreStillWrittenOnTheTick) {
    TempDir dir;
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo));
    for (uint64_t i = 1; i <= 4; ++i) ASSERT_EQ(j->append(payload(i)), i);
    j->ack("a", 4);
    EXPECT_TRUE(waitFor([&] { return slurp(dir.path() / "cursors") == "a 4\n"; })) << "without closing the journal";
    EXPECT_EQ(j->stats().fsyncs, 0u);
}

}  // namespace
}  // namespace laminar::queue

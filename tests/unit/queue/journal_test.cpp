// SPDX-License-Identifier: Apache-2.0
#include "queue/journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "queue/record.h"
#include "resp/writer.h"
#include "support/temp_dir.h"

namespace laminar::queue {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr uint64_t kFrame = 24;  // header bytes before each record's data

using laminar::testing::TempDir;

JournalOptions options(const fs::path& dir, std::vector<std::string> targets = {"new"},
                       Fsync fsync = Fsync::kNo, uint64_t segment_bytes = 64ull << 20) {
    JournalOptions o;
    o.dir = dir;
    o.fsync = fsync;
    o.segment_bytes = segment_bytes;
    o.targets = std::move(targets);
    return o;
}

std::unique_ptr<Journal> openOrDie(JournalOptions o) {
    std::string error;
    auto j = Journal::open(std::move(o), error);
    EXPECT_TRUE(j) << error;
    return j;
}

std::vector<fs::path> segmentFiles(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".seg") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<Record> readAll(Journal& j, const std::string& target, uint64_t after = 0, size_t batch = 7) {
    std::vector<Record> all;
    for (;;) {
        std::vector<Record> got;
        EXPECT_TRUE(j.read(target, after, batch, got));
        if (got.empty()) return all;
        after = got.back().seq;
        all.insert(all.end(), got.begin(), got.end());
    }
}

std::string payload(uint64_t i) {
    return "record-" + std::to_string(i) + std::string(i % 13, 'x');
}

template <typename Pred>
bool waitFor(Pred pred) {
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

void flipByte(const fs::path& file, uint64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x20));
}

std::string slurp(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Appends payload(1..n) to a fresh journal and closes it.
void writeJournal(const fs::path& dir, uint64_t n, uint64_t segment_bytes) {
    auto j = openOrDie(options(dir, {"a"}, Fsync::kNo, segment_bytes));
    for (uint64_t i = 1; i <= n; ++i) ASSERT_EQ(j->append(payload(i)), i);
}

TEST(JournalTest, ReadsBackWhatWasAppendedAcrossSegments) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 200));
    for (uint64_t i = 1; i <= 100; ++i) ASSERT_EQ(j->append(payload(i)), i);
    EXPECT_GT(segmentFiles(dir.path()).size(), 10u);
    EXPECT_EQ(segmentFiles(dir.path()).front().filename(), "00000000000000000001.seg");

    auto all = readAll(*j, "a");
    ASSERT_EQ(all.size(), 100u);
    for (uint64_t i = 1; i <= 100; ++i) {
        EXPECT_EQ(all[i - 1].seq, i);
        EXPECT_EQ(all[i - 1].data, payload(i));
        EXPECT_GT(all[i - 1].unix_ms, 0);
    }
    std::vector<Record> some;
    ASSERT_TRUE(j->read("a", 41, 3, some));
    ASSERT_EQ(some.size(), 3u);
    EXPECT_EQ(some[0].seq, 42u);
    EXPECT_EQ(some[2].data, payload(44));
}

TEST(JournalTest, AppendsABatchInOneWriteAllOrNothing) {
    TempDir dir(false);
    {
        auto o = options(dir.path(), {"new"}, Fsync::kNo, 256);
        o.max_bytes = 1000;
        auto j = openOrDie(o);
        EXPECT_EQ(j->append(payload(1)), 1u);
        std::vector<std::string> batch = {payload(2), payload(3), "", payload(5)};
        std::vector<std::string_view> views(batch.begin(), batch.end());
        EXPECT_EQ(j->appendMany(views), 2u);
        EXPECT_EQ(j->lastSeq(), 5u);
        auto all = readAll(*j, "new");
        ASSERT_EQ(all.size(), 5u);
        EXPECT_EQ(all[2].data, payload(3));
        EXPECT_EQ(all[3].data, "");
        EXPECT_EQ(all[4].seq, 5u);
        // A batch that does not fit is refused whole.
        std::vector<std::string> big(20, std::string(40, 'b'));
        std::vector<std::string_view> big_views(big.begin(), big.end());
        EXPECT_EQ(j->appendMany(big_views), 0u);
        EXPECT_EQ(j->lastSeq(), 5u);
        EXPECT_EQ(j->stats().rejected, 20u);
    }
    auto j = openOrDie(options(dir.path()));  // and it reads back after a reopen
    EXPECT_EQ(j->lastSeq(), 5u);
    EXPECT_EQ(j->append(payload(6)), 6u);
}

TEST(JournalTest, KeepsEmptyAndLargeRecords) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 1000));
    std::string big(100000, 'b');
    ASSERT_EQ(j->append(""), 1u);
    ASSERT_EQ(j->append(big), 2u);
    ASSERT_EQ(j->append("after"), 3u);
    j.reset();
    j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 1000));
    auto all = readAll(*j, "a", 0);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].data, "");
    EXPECT_EQ(all[1].data, big);
    EXPECT_EQ(all[2].data, "after");
}

TEST(JournalTest, ReadRefusesAnUnknownTarget) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}));
    j->append("x");
    std::vector<Record> out;
    EXPECT_FALSE(j->read("nobody", 0, 10, out));
    EXPECT_TRUE(out.empty());
}

TEST(JournalTest, ContinuesSeqsAfterReopen) {
    TempDir dir(false);
    writeJournal(dir.path(), 30, 150);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 150));
    EXPECT_EQ(j->lastSeq(), 30u);
    EXPECT_EQ(j->append(payload(31)), 31u);
    auto all = readAll(*j, "a");
    ASSERT_EQ(all.size(), 31u);
    for (uint64_t i = 1; i <= 31; ++i) EXPECT_EQ(all[i - 1].data, payload(i));
    EXPECT_EQ(j->stats().torn_bytes, 0u);
}

// Recovery of a torn last record: whatever the damage, the journal ends at record 9 and the next
// append is 10.
void expectCutAfterNine(const fs::path& dir, uint64_t torn_bytes) {
    auto j = openOrDie(options(dir, {"a"}, Fsync::kNo, 1 << 20));
    EXPECT_EQ(j->lastSeq(), 9u);
    EXPECT_EQ(j->stats().torn_bytes, torn_bytes);
    EXPECT_EQ(j->append("ten"), 10u);
    auto all = readAll(*j, "a");
    ASSERT_EQ(all.size(), 10u);
    for (uint64_t i = 1; i <= 9; ++i) EXPECT_EQ(all[i - 1].data, payload(i));
    EXPECT_EQ(all[9].data, "ten");
    j.reset();
    j = openOrDie(options(dir, {"a"}, Fsync::kNo, 1 << 20));
    EXPECT_EQ(j->lastSeq(), 10u);
    EXPECT_EQ(j->stats().torn_bytes, 0u);
}

TEST(JournalTest, CutsARecordTruncatedMidWay) {
    TempDir dir(false);
    writeJournal(dir.path(), 10, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    auto size = fs::file_size(seg);
    fs::resize_file(seg, size - 3);
    expectCutAfterNine(dir.path(), kFrame + payload(10).size() - 3);
}

TEST(JournalTest, CutsAHeaderTruncatedMidWay) {
    TempDir dir(false);
    writeJournal(dir.path(), 10, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    fs::resize_file(seg, fs::file_size(seg) - payload(10).size() - 10);
    expectCutAfterNine(dir.path(), 14);
}

TEST(JournalTest, CutsGarbageAfterTheLastRecord) {
    TempDir dir(false);
    writeJournal(dir.path(), 9, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    {
        std::ofstream out(seg, std::ios::app | std::ios::binary);
        out << std::string(100, '\xff');  // also an absurd length
    }
    expectCutAfterNine(dir.path(), 100);
}

TEST(JournalTest, CutsALastRecordWithAFlippedByte) {
    TempDir dir(false);
    writeJournal(dir.path(), 10, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    flipByte(seg, fs::file_size(seg) - 1);
    expectCutAfterNine(dir.path(), kFrame + payload(10).size());
}

// The first seq a segment file's name says.
uint64_t firstSeqOf(const fs::path& seg) { return std::stoull(seg.filename().string().substr(0, 20)); }

// Reads every record of target "a" and checks them: the seqs in `lost` come back marked lost,
// every other one with its payload, and appends go on after the last.
void expectAllButLost(Journal& j, uint64_t last, const std::set<uint64_t>& lost) {
    auto all = readAll(j, "a");
    ASSERT_EQ(all.size(), last);
    for (uint64_t i = 1; i <= last; ++i) {
        EXPECT_EQ(all[i - 1].seq, i);
        EXPECT_EQ(all[i - 1].lost, lost.count(i) == 1) << "record " << i;
        if (!lost.count(i)) {
            EXPECT_EQ(all[i - 1].data, payload(i)) << "record " << i;
        }
    }
    EXPECT_EQ(j.stats().lost_records, lost.size());
    EXPECT_EQ(j.append("next"), last + 1);
}

// Damage in a segment before the last is no longer fatal: the damaged record is lost (reported),
// the records after it, in that segment and the next ones, are kept.
TEST(JournalTest, DamageBeforeTheLastSegmentLosesOnlyTheDamagedRecord) {
    TempDir dir(false);
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    flipByte(segs[1], kFrame + 2);
    auto j = openOrDie(options(dir.path(), {"a"}));
    expectAllButLost(*j, 20, {firstSeqOf(segs[1])});
    auto st = j->stats();
    ASSERT_EQ(st.damage.size(), 1u);
    EXPECT_NE(st.damage[0].find(segs[1].filename().string()), std::string::npos) << st.damage[0];
    EXPECT_NE(st.damage[0].find("checksum"), std::string::npos) << st.damage[0];
    EXPECT_EQ(st.torn_bytes, 0u);
}

// The case: 16 garbage bytes in the middle of the last segment were taken for a torn tail,
// and every record after them was cut. Now only the records they overwrote are lost.
TEST(JournalTest, GarbageInTheMiddleOfTheLastSegmentIsDamageNotATornTail) {
    TempDir dir(false);
    writeJournal(dir.path(), 40, 1 << 20);
    auto seg = segmentFiles(dir.path()).back();
    uint64_t at = 0;  // the start of record 20
    for (uint64_t i = 1; i < 20; ++i) at += kFrame + payload(i).size();
    {
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(at + 5));
        f.write(std::string(16, '\x5a').data(), 16);
    }
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kNo, 1 << 20));
    EXPECT_EQ(j->stats().torn_bytes, 0u);
    expectAllButLost(*j, 40, {20});
}

// The keys the lost records wrote are told (log, stats().damage, lost-keys.txt) as far as the
// damage allows: a record whose header survived says its key; one whose header is gone is found
// by its command in the damaged bytes.
TEST(JournalTest, DamageSaysTheKeysOfTheLostRecords) {
    TempDir dir(false);
    std::vector<std::string> targets = {"a"};
    std::vector<std::string> records;
    {
        auto j = openOrDie(options(dir.path(), {"a"}));
        for (int i = 1; i <= 30; ++i) {
            std::string resp;
            resp::appendCommand(resp, {"SET", "key:" + std::to_string(i), std::string(40, 'v')});
            records.push_back(encodeCommandRecord(targets, resp));
            ASSERT_EQ(j->append(records.back()), static_cast<uint64_t>(i));
        }
    }
    auto seg = segmentFiles(dir.path()).back();
    auto start = [&](int seq) {  // where record seq starts
        uint64_t at = 0;
        for (int i = 1; i < seq; ++i) at += kFrame + records[static_cast<size_t>(i - 1)].size();
        return at;
    };
    {
        std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(start(10) + kFrame + records[9].size() - 10));  // record 10's value
        f.write("XXXX", 4);
        f.seekp(static_cast<std::streamoff>(start(20) + 2));  // record 20's length
        f.write("\xff\xff", 2);
    }
    auto j = openOrDie(options(dir.path(), {"a"}));
    auto st = j->stats();
    EXPECT_EQ(st.lost_records, 2u);
    ASSERT_EQ(st.damage.size(), 2u);
    EXPECT_NE(st.damage[0].find("\"key:10\""), std::string::npos) << st.damage[0];
    EXPECT_NE(st.damage[1].find("\"key:20\""), std::string::npos) << st.damage[1];
    EXPECT_EQ(st.damage[1].find("say no key"), std::string::npos) << "its key was found: " << st.damage[1];
    std::ifstream in(dir.path() / "lost-keys.txt");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "\"key:10\"\n\"key:20\"\n");
}

// A missing segment loses its records; the segments around it are kept.
TEST(JournalTest, AMissingSegmentLosesItsRecordsAndTheOthersAreKept) {
    TempDir dir(false);
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    std::set<uint64_t> lost;
    for (uint64_t q = firstSeqOf(segs[1]); q < firstSeqOf(segs[2]); ++q) lost.insert(q);
    fs::remove(segs[1]);
    auto j = openOrDie(options(dir.path(), {"a"}));
    expectAllButLost(*j, 20, lost);
    EXPECT_NE(j->stats().damage.at(0).find("missing"), std::string::npos) << j->stats().damage.at(0);
}

// A damaged record with nothing whole after it, in a segment before the last: the rest of that
// segment is lost (the next segment says how much), the next segments are kept.
TEST(JournalTest, ADamagedTailBeforeTheLastSegmentLosesTheRestOfThatSegment) {
    TempDir dir(false);
    writeJournal(dir.path(), 20, 100);
    auto segs = segmentFiles(dir.path());
    ASSERT_GE(segs.size(), 3u);
    uint64_t first = firstSeqOf(segs[1]), next = firstSeqOf(segs[2]);
    ASSERT_GE(next - first, 2u);
    fs::resize_file(segs[1], kFrame + payload(first).size() + 5);  // the second record cut short
    std::set<uint64_t> lost;
    for (uint64_t q = first + 1; q < next; ++q) lost.insert(q);
    auto j = openOrDie(options(dir.path(), {"a"}));
    expectAllButLost(*j, 20, lost);
}

TEST(JournalTest, CursorsSurviveReopenAndANewTargetStartsAtTheEnd) {
    TempDir dir(false);
    {
        auto j = openOrDie(options(dir.path(), {"a", "gone"}));
        for (int i = 1; i <= 5; ++i) j->append(payload(i));
        j->ack("a", 3);
        j->ack("a", 2);  // never backwards
        EXPECT_EQ(j->acked("a"), 3u);
    }
    auto j = openOrDie(options(dir.path(), {"a", "b"}));
    EXPECT_EQ(j->acked("a"), 3u);
    EXPECT_EQ(j->acked("b"), 5u);
    EXPECT_EQ(j->acked("gone"), 0u);
    std::vector<Record> out;
    EXPECT_FALSE(j->read("gone", 0, 10, out));

    auto a = readAll(*j, "a", j->acked("a"));
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].seq, 4u);
    EXPECT_TRUE(readAll(*j, "b", j->acked("b")).empty());
    EXPECT_EQ(j->append("six"), 6u);
    auto b = readAll(*j, "b", j->acked("b"));
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].data, "six");

    std::string cursors = slurp(dir.path() / "cursors");
    EXPECT_EQ(cursors, "a 3\nb 5\n");
}

TEST(JournalTest, DeletesSegmentsOnceEveryTargetHasAckedThem) {
    TempDir dir(false);
    auto o = options(dir.path(), {"a", "b"}, Fsync::kEverySec, 100);
    auto j = openOrDie(o);
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_EQ(j->append(payload(i)), i);
    auto before = segmentFiles(dir.path()).size();
    ASSERT_GE(before, 5u);

    j->ack("a", 20);
    j.reset();  // the last flusher pass persists cursors and deletes what it can: nothing, "b" is behind
    EXPECT_EQ(segmentFiles(dir.path()).size(), before);

    j = openOrDie(o);
    j->ack("b", 10);
    // Every segment ending at or before 10 goes; the one holding 11 stays.
    ASSERT_TRUE(waitFor([&] {
        auto segs = segmentFiles(dir.path());
        return segs.size() < before;
    }));
    ASSERT_TRUE(waitFor([&] { return readAll(*j, "b", 0).front().seq > 1; }));
    auto first = readAll(*j, "b", 0).front().seq;
    EXPECT_LE(first, 11u);
    EXPECT_EQ(readAll(*j, "b", 10).front().seq, 11u);

    j->ack("b", 20);
    ASSERT_TRUE(waitFor([&] { return segmentFiles(dir.path()).size() == 1; }));
    auto rest = readAll(*j, "b", 0);  // the segment being appended to stays
    ASSERT_FALSE(rest.empty());
    EXPECT_GT(rest.front().seq, 11u);
    EXPECT_EQ(rest.back().seq, 20u);
    EXPECT_EQ(j->stats().bytes, fs::file_size(segmentFiles(dir.path()).front()));
    EXPECT_EQ(j->append("next"), 21u);
    j.reset();
    j = openOrDie(o);
    EXPECT_EQ(j->lastSeq(), 21u);
}

TEST(JournalTest, WithoutTargetsKeepsOnlyTheSegmentBeingAppendedTo) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {}, Fsync::kNo, 100));
    for (uint64_t i = 1; i <= 20; ++i) ASSERT_EQ(j->append(payload(i)), i);
    EXPECT_TRUE(waitFor([&] { return segmentFiles(dir.path()).size() == 1; }));
    EXPECT_TRUE(j->stats().targets.empty());
}

TEST(JournalTest, RefusesASecondJournalOnTheSameDirectory) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path()));
    std::string error;
    EXPECT_FALSE(Journal::open(options(dir.path()), error));
    EXPECT_NE(error.find("in use"), std::string::npos) << error;
    j.reset();
    EXPECT_TRUE(Journal::open(options(dir.path()), error)) << error;
}

TEST(JournalTest, RefusesAppendsOverMaxBytesUntilTheSlowestTargetAcks) {
    TempDir dir(false);
    auto o = options(dir.path(), {"fast", "slow"});
    std::string rec(16, 'r');
    o.max_bytes = 3 * (kFrame + rec.size());
    auto j = openOrDie(o);
    ASSERT_EQ(j->append(rec), 1u);
    ASSERT_EQ(j->append(rec), 2u);
    ASSERT_EQ(j->append(rec), 3u);
    EXPECT_EQ(j->append(rec), 0u);
    j->ack("fast", 3);
    EXPECT_EQ(j->append(rec), 0u);  // "slow" still has all three
    EXPECT_EQ(j->stats().rejected, 2u);
    j->ack("slow", 1);
    EXPECT_EQ(j->append(rec), 4u);
    EXPECT_EQ(j->append(rec), 0u);
    EXPECT_EQ(j->stats().rejected, 3u);
    EXPECT_EQ(j->stats().appended, 4u);
}

TEST(JournalTest, AlwaysRunsWhenDurableOnlyAfterAnFsync) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kAlways));
    uint64_t before = j->stats().fsyncs;
    uint64_t seq = j->append("x");
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    uint64_t seen = 0;
    std::thread::id caller = std::this_thread::get_id(), ran_on;
    j->whenDurable(seq, [&](bool) {
        std::lock_guard lk(mu);
        seen = j->stats().fsyncs;
        ran_on = std::this_thread::get_id();
        done = true;
        cv.notify_all();
    });
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 20s, [&] { return done; }));
    EXPECT_GT(seen, before);
    EXPECT_NE(ran_on, caller);

    // Once durable, a late whenDurable() runs at once.
    bool at_once = false;
    lk.unlock();
    j->whenDurable(seq, [&](bool) { at_once = true; });
    EXPECT_TRUE(at_once);
}

TEST(JournalTest, AlwaysCoversManyAppendsWithOneFsync) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kAlways, 1 << 16));
    constexpr int kThreads = 8, kEach = 1000;
    std::atomic<int> durable{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) {
                uint64_t seq = j->append(payload(static_cast<uint64_t>(i)));
                ASSERT_NE(seq, 0u);
                j->whenDurable(seq, [&](bool) { durable.fetch_add(1); });
            }
        });
    }
    for (auto& t : threads) t.join();
    ASSERT_TRUE(waitFor([&] { return durable.load() == kThreads * kEach; }));
    auto st = j->stats();
    EXPECT_GT(st.fsyncs, 0u);
    EXPECT_LT(st.fsyncs, uint64_t{kThreads * kEach});
    RecordProperty("fsyncs", static_cast<int>(st.fsyncs));
}

TEST(JournalTest, EverySecRunsWhenDurableAtOnceAndFsyncsInTheBackground) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a"}, Fsync::kEverySec));
    uint64_t before = j->stats().fsyncs;
    bool ran = false;
    j->whenDurable(j->append("x"), [&](bool) { ran = true; });
    EXPECT_TRUE(ran);
    EXPECT_TRUE(waitFor([&] { return j->stats().fsyncs > before; }));
}

TEST(JournalTest, NoRunsWhenDurableAtOnceAndNeverFsyncs) {
    TempDir dir(false);
    auto o = options(dir.path(), {"a"}, Fsync::kNo, 100);
    {
        auto j = openOrDie(o);
        for (uint64_t i = 1; i <= 20; ++i) {
            bool ran = false;
            j->whenDurable(j->append(payload(i)), [&](bool) { ran = true; });
            EXPECT_TRUE(ran);
        }
        j->ack("a", 20);
        EXPECT_TRUE(waitFor([&] { return segmentFiles(dir.path()).size() == 1; }));
        EXPECT_EQ(j->stats().fsyncs, 0u);
    }
    auto j = openOrDie(o);
    EXPECT_EQ(j->acked("a"), 20u);
}

TEST(JournalTest, ConcurrentAppendsReadsAndAcksLoseAndRepeatNothing) {
    TempDir dir(false);
    auto o = options(dir.path(), {"r1", "r2"}, Fsync::kEverySec, 4096);
    auto j = openOrDie(o);
    constexpr int kWriters = 4, kEach = 2000, kTotal = kWriters * kEach;
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
        threads.emplace_back([&, w] {
            for (int i = 0; i < kEach; ++i) {
                ASSERT_NE(j->append(std::to_string(w) + ":" + std::to_string(i)), 0u);
            }
        });
    }
    std::vector<std::vector<Record>> seen(2);
    for (int r = 0; r < 2; ++r) {
        threads.emplace_back([&, r] {
            std::string target = r == 0 ? "r1" : "r2";
            uint64_t after = 0;
            auto deadline = std::chrono::steady_clock::now() + 60s;
            while (seen[r].size() < kTotal && std::chrono::steady_clock::now() < deadline) {
                std::vector<Record> got;
                ASSERT_TRUE(j->read(target, after, 50, got));
                if (got.empty()) {
                    std::this_thread::yield();
                    continue;
                }
                after = got.back().seq;
                j->ack(target, after);
                for (auto& rec : got) seen[r].push_back(std::move(rec));
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& records : seen) {
        ASSERT_EQ(records.size(), size_t{kTotal});
        std::vector<int> next(kWriters, 0);
        for (size_t i = 0; i < records.size(); ++i) {
            ASSERT_EQ(records[i].seq, i + 1);
            auto colon = records[i].data.find(':');
            int w = std::stoi(records[i].data.substr(0, colon));
            EXPECT_EQ(std::stoi(records[i].data.substr(colon + 1)), next[w]++);  // each writer's order kept
        }
    }
    EXPECT_TRUE(waitFor([&] { return segmentFiles(dir.path()).size() == 1; }));
    EXPECT_TRUE(j->error().empty());
}

TEST(JournalTest, StatsCountEachTargetsBacklog) {
    TempDir dir(false);
    auto j = openOrDie(options(dir.path(), {"a", "b"}));
    j->append("one");
    j->append("twotwo");
    j->append("three");
    j->ack("a", 1);
    auto records = readAll(*j, "a", 0);
    ASSERT_EQ(records.size(), 3u);

    auto st = j->stats();
    EXPECT_EQ(st.appended, 3u);
    EXPECT_EQ(st.last_seq, 3u);
    EXPECT_EQ(st.bytes, 3 * kFrame + 3 + 6 + 5);
    EXPECT_EQ(st.rejected, 0u);
    ASSERT_EQ(st.targets.size(), 2u);
    EXPECT_EQ(st.targets["a"].acked, 1u);
    EXPECT_EQ(st.targets["a"].records, 2u);
    EXPECT_EQ(st.targets["a"].bytes, 2 * kFrame + 6 + 5);
    EXPECT_EQ(st.targets["a"].oldest_ms, records[1].unix_ms);
    EXPECT_EQ(st.targets["b"].records, 3u);
    EXPECT_EQ(st.targets["b"].bytes, st.bytes);
    EXPECT_EQ(st.targets["b"].oldest_ms, records[0].unix_ms);

    j->ack("a", 3);
    j->ack("b", 99);  // past the end: counts as the end
    st = j->stats();
    EXPECT_EQ(st.targets["a"].records, 0u);
    EXPECT_EQ(st.targets["a"].bytes, 0u);
    EXPECT_EQ(st.targets["a"].oldest_ms, 0);
    EXPECT_EQ(st.targets["b"].acked, 3u);
}

TEST(JournalTest, RefusesBadOptions) {
    TempDir dir(false);
    std::string error;
    EXPECT_FALSE(Journal::open(options(dir.path(), {"has space"}), error));
    EXPECT_NE(error.find("has space"), std::string::npos);
    EXPECT_FALSE(Journal::open(options(dir.path(), {"a"}, Fsync::kNo, 0), error));
    EXPECT_NE(error.find("segment_bytes"), std::string::npos);
}

}  // namespace
}  // namespace laminar::queue

namespace laminar::queue {
namespace {

// whenPersisted: called once the cursor on disk reaches the seq, ahead of the 100 ms tick, and a
// journal opened after that (a crash right then) resumes past it.
TEST(JournalPersisted, ACallbackRunsOnceTheCursorIsOnDiskAndARestartResumesPastIt) {
    TempDir dir(false);
    std::promise<bool> told;
    auto future = told.get_future();
    {
        auto j = openOrDie(options(dir.path(), {"new", "old"}));
        for (int i = 0; i < 5; ++i) ASSERT_EQ(j->append("r" + std::to_string(i)), static_cast<uint64_t>(i + 1));
        j->ack("old", 3);
        j->whenPersisted("old", 3, [&](bool ok) { told.set_value(ok); });
        ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
        EXPECT_TRUE(future.get());
        // Already on disk: at once, on this thread.
        bool now = false;
        j->whenPersisted("old", 2, [&](bool ok) { now = ok; });
        EXPECT_TRUE(now);
        // The file says so before the journal is closed (which persists everything anyway).
        std::ifstream in(dir.path() / "cursors");
        std::stringstream text;
        text << in.rdbuf();
        EXPECT_NE(text.str().find("old 3"), std::string::npos) << text.str();
    }
    auto again = openOrDie(options(dir.path(), {"new", "old"}));
    EXPECT_EQ(again->acked("old"), 3u);
    EXPECT_EQ(again->acked("new"), 0u);
}

}  // namespace
}  // namespace laminar::queue

// SPDX-License-Identifier: Apache-2.0
#include "backend/health_board.h"

#include "obs/logging.h"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace laminar::backend {
namespace {

using namespace std::chrono_literals;

TEST(LatencyRingTest, AnEmptyRingHasNoP99) {
    LatencyRing ring;
    EXPECT_EQ(ring.count(), 0u);
    EXPECT_EQ(ring.p99(), 0u);
}

// Under 100 samples, the 99th percentile is the slowest of them.
TEST(LatencyRingTest, WithFewerThanAHundredSamplesP99IsTheSlowest) {
    LatencyRing ring;
    for (uint32_t v : {30u, 10u, 900u, 20u, 40u}) ring.add(v);
    EXPECT_EQ(ring.count(), 5u);
    EXPECT_EQ(ring.p99(), 900u);
}

// The nearest rank: of 1..100, the 99th smallest is 99 (it once gave the largest, 100).
TEST(LatencyRingTest, P99IsTheNearestRank) {
    LatencyRing hundred, two_hundred;
    for (uint32_t v = 1; v <= 100; ++v) hundred.add(v);
    for (uint32_t v = 1; v <= 200; ++v) two_hundred.add(v);
    EXPECT_EQ(hundred.p99(), 99u);
    EXPECT_EQ(two_hundred.p99(), 198u);
}

// A full ring holds 512 samples: 5 slow ones are under 1% of them, 6 are over.
TEST(LatencyRingTest, AFullRingIgnoresTheSlowestOnePercent) {
    LatencyRing five, six;
    for (int i = 0; i < 512; ++i) {
        five.add(i < 5 ? 1'000'000 : 100);
        six.add(i < 6 ? 1'000'000 : 100);
    }
    EXPECT_EQ(five.count(), 512u);
    EXPECT_EQ(five.p99(), 100u);
    EXPECT_EQ(six.p99(), 1'000'000u);
}

TEST(LatencyRingTest, NewSamplesReplaceTheOldestOnceFull) {
    LatencyRing ring;
    for (int i = 0; i < 512; ++i) ring.add(5000);
    ASSERT_EQ(ring.p99(), 5000u);
    for (int i = 0; i < 506; ++i) ring.add(10);
    EXPECT_EQ(ring.count(), 512u) << "the count stops at the ring's size";
    EXPECT_EQ(ring.p99(), 5000u) << "6 old samples are still there";
    for (int i = 0; i < 6; ++i) ring.add(10);
    EXPECT_EQ(ring.p99(), 10u) << "every old sample is forgotten";
}

TEST(HealthCellTest, ANewCellIsNeitherDownNorDegraded) {
    HealthCell cell;
    EXPECT_FALSE(cell.down()) << "no thread has tried to connect yet";
    EXPECT_FALSE(cell.degraded());
}

TEST(HealthCellTest, DownWhenEveryThreadThatTriedHasNoConnection) {
    HealthCell cell;
    cell.known_threads = 2;
    cell.up_threads = 0;
    EXPECT_TRUE(cell.down());
    cell.up_threads = 1;
    EXPECT_FALSE(cell.down());
}

TEST(HealthCellTest, AFailingCanaryMakesItDownEvenWithConnections) {
    HealthCell cell;
    cell.known_threads = 1;
    cell.up_threads = 1;
    cell.canary_failing = true;
    EXPECT_TRUE(cell.down());
}

TEST(HealthCellTest, DegradedAfterAFailureWithinTheWindowOnlyWhileUp) {
    HealthCell cell;
    cell.known_threads = 1;
    cell.up_threads = 1;
    cell.noteFailure();
    EXPECT_TRUE(cell.degraded());
    EXPECT_TRUE(cell.degraded(1h));
    EXPECT_FALSE(cell.degraded(0ms)) << "the failure is not in an empty window";
    cell.up_threads = 0;
    EXPECT_TRUE(cell.down());
    EXPECT_FALSE(cell.degraded()) << "down, not degraded";
}

TEST(HealthCellTest, P99IsTheWorstThreads) {
    HealthCell cell;
    EXPECT_EQ(cell.p99Micros(), 0u);
    cell.p99_us[0] = 300;
    cell.p99_us[HealthCell::kMaxThreads - 1] = 700;
    cell.p99_us[5] = 200;
    EXPECT_EQ(cell.p99Micros(), 700u);
}

// Two threads see the backend: only taking the count of threads up to zero, or back from it, is a
// transition. Each is counted; the log lines are the flap damper's (the first two at once, the
// rest held back for a summary).
TEST(HealthCellTest, EveryTransitionOfTheBackendAsAWholeIsCountedAndOnlyTheLogIsDamped) {
    std::ostringstream out;
    spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    log.set_pattern("%l %v");
    obs::setFlapInterval(std::chrono::hours(1));
    HealthCell cell;
    cell.known_threads = 2;
    cell.up_threads = 2;  // both optimistic at start
    cell.countThread(false, "backend 'b'", "refused", log);
    EXPECT_EQ(cell.went_down.load(), 0u) << "the other thread still sees it up";
    EXPECT_EQ(out.str(), "");
    cell.countThread(false, "backend 'b'", "reset", log);
    EXPECT_TRUE(cell.down());
    for (int i = 0; i < 10; ++i) {
        cell.countThread(true, "backend 'b'", "", log);
        cell.countThread(true, "backend 'b'", "", log);  // the second thread: no transition
        cell.countThread(false, "backend 'b'", "", log);
        cell.countThread(false, "backend 'b'", "gone", log);
    }
    EXPECT_EQ(cell.went_down.load(), 11u);
    EXPECT_EQ(cell.went_up.load(), 10u);
    EXPECT_TRUE(cell.down());
    EXPECT_EQ(out.str(), "warning backend 'b' is down: reset\ninfo backend 'b' is up\n");
    cell.logDue(log);
    EXPECT_EQ(out.str(), "warning backend 'b' is down: reset\ninfo backend 'b' is up\n") << "the interval has not ended";
    obs::setFlapInterval(std::chrono::milliseconds(0));  // a reload to 0: what is held back is due now
    cell.logDue(log);
    auto text = out.str();
    EXPECT_TRUE(text.starts_with("warning backend 'b' is down: reset\ninfo backend 'b' is up\n"
                                 "warning backend 'b' is flapping: down 10 times, up 9 times in the last "))
        << text;
    EXPECT_TRUE(text.ends_with(" s; now down: gone\n")) << text;
    obs::setFlapInterval(config::LogConfig{}.flap_interval);
}

TEST(HealthBoardTest, TheSameNameGivesTheSameCell) {
    HealthBoard board;
    auto a = board.cell("a");
    auto b = board.cell("b");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(board.cell("a"), a);
    EXPECT_NE(a, b);
    a->canary_failing = true;
    EXPECT_TRUE(board.cell("a")->canary_failing.load());
    EXPECT_FALSE(b->canary_failing.load());
}

// A cell outlives the board's other users: a reload's new snapshot finds the same one.
TEST(HealthBoardTest, ACellKeepsItsStateWhileNoOneHoldsIt) {
    HealthBoard board;
    board.cell("old")->noteFailure();
    EXPECT_NE(board.cell("old")->last_failure_ms.load(), 0);
    EXPECT_EQ(board.cell("new")->last_failure_ms.load(), 0);
}

}  // namespace
}  // namespace laminar::backend

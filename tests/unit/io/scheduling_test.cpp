// SPDX-License-Identifier: Apache-2.0
// The adaptive io_scheduling rule (io/scheduling.h), fed counters as /proc/thread-self/schedstat
// would give them, on a manual clock.
#include "io/scheduling.h"

#include <gtest/gtest.h>

namespace laminar::io {
namespace {

using namespace std::chrono_literals;
using Clock = SchedGovernor::Clock;

// A thread's counters, moved forward by slices of a given mean run-queue delay.
struct Thread {
    SchedGovernor::Sample s;
    Clock::time_point now{};
    void run(uint64_t slices, std::chrono::microseconds mean_delay, std::chrono::milliseconds elapsed = 250ms) {
        s.slices += slices;
        s.delay_ns += slices * static_cast<uint64_t>(std::chrono::nanoseconds(mean_delay).count());
        now += elapsed;
    }
};

TEST(SchedGovernor, StartsInBatch) {
    SchedGovernor g;
    Thread t;
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
    EXPECT_EQ(g.fallbacks(), 0u);
}

TEST(SchedGovernor, ShortWaitsKeepBatch) {
    SchedGovernor g;
    Thread t;
    g.step(t.now, t.s);
    for (int i = 0; i < 100; ++i) {
        t.run(500, 60us);  // a client on the same core: it finishes its batch first
        EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
    }
    t.run(500, SchedGovernor::kMaxMeanDelay);  // the limit itself is still short enough
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
    EXPECT_EQ(g.fallbacks(), 0u);
}

TEST(SchedGovernor, ALongMeanWaitGoesBackToNormalThenTriesAgainAfterTheBackoff) {
    SchedGovernor g;
    Thread t;
    g.step(t.now, t.s);
    t.run(200, 500us);  // CPU-bound work on the core: the thread waits for its slices
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kNormal);
    EXPECT_EQ(g.fallbacks(), 1u);
    EXPECT_EQ(g.hold(), SchedGovernor::kFirstBackoff);
    auto fell_at = t.now;
    // Under the normal policy nothing is judged: it holds until the back-off ends.
    while (t.now + 250ms < fell_at + SchedGovernor::kFirstBackoff) {
        t.run(200, 5000us);
        EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kNormal);
    }
    t.run(200, 20us);
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
}

TEST(SchedGovernor, OnlyTheSlicesSinceTheLastJudgementCount) {
    SchedGovernor g;
    Thread t;
    g.step(t.now, t.s);
    t.run(10'000, 500us);  // long waits before batch was tried must not count against it
    SchedGovernor fresh;
    fresh.step(t.now, t.s);
    t.run(100, 50us);
    EXPECT_EQ(fresh.step(t.now, t.s), SchedPolicy::kBatch);
}

TEST(SchedGovernor, FewSlicesWaitForMoreAndAQuietThreadIsNotJudged) {
    SchedGovernor g;
    Thread t;
    g.step(t.now, t.s);
    t.run(SchedGovernor::kMinSlices - 1, 3000us, 250ms);  // too few to judge yet
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
    t.run(1, 3000us, 250ms);  // now enough, within the window
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kNormal);

    // A quiet thread (its timers, four wake-ups a second) waiting behind other work on its core:
    // the windows start over without a judgement, however long it waits.
    SchedGovernor q;
    Thread u;
    q.step(u.now, u.s);
    for (int i = 0; i < 200; ++i) {
        u.run(1, 3000us);
        EXPECT_EQ(q.step(u.now, u.s), SchedPolicy::kBatch);
    }
    EXPECT_EQ(q.fallbacks(), 0u);
    u.now += SchedGovernor::kMaxWindow;  // the last quiet window ends
    EXPECT_EQ(q.step(u.now, u.s), SchedPolicy::kBatch);
    // Then traffic: judged on the slices of its own window only.
    u.run(100, 50us);
    EXPECT_EQ(q.step(u.now, u.s), SchedPolicy::kBatch);
    u.run(100, 400us);
    EXPECT_EQ(q.step(u.now, u.s), SchedPolicy::kNormal);
}

TEST(SchedGovernor, TheBackoffDoublesUpToItsMaximumAndIsForgivenAfterALongGoodRun) {
    SchedGovernor g;
    Thread t;
    g.step(t.now, t.s);
    auto expected = SchedGovernor::kFirstBackoff;
    for (int round = 0; round < 10; ++round) {
        t.run(200, 900us);
        ASSERT_EQ(g.step(t.now, t.s), SchedPolicy::kNormal);
        EXPECT_EQ(g.hold(), expected);
        expected = std::min(expected * 2, SchedGovernor::kMaxBackoff);
        t.now += g.hold();
        t.run(10, 900us);
        ASSERT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch) << "tried again once the hold is over";
    }
    EXPECT_EQ(g.hold(), SchedGovernor::kMaxBackoff);
    EXPECT_EQ(g.fallbacks(), 10u);

    // Batch holds for kForgiveAfter: the next fallback starts from the first back-off again.
    for (auto held = 0s; held < SchedGovernor::kForgiveAfter; held += 1s) {
        t.run(400, 40us, 1000ms);
        ASSERT_EQ(g.step(t.now, t.s), SchedPolicy::kBatch);
    }
    t.run(200, 900us);
    EXPECT_EQ(g.step(t.now, t.s), SchedPolicy::kNormal);
    EXPECT_EQ(g.hold(), SchedGovernor::kFirstBackoff);
}

TEST(SchedGovernor, CountersThatGoBackStartANewWindow) {
    SchedGovernor g;
    Thread t;
    t.run(1000, 900us);
    g.step(t.now, t.s);
    Thread reset;  // e.g. a counter read from another thread by mistake: no judgement from it
    reset.now = t.now + 250ms;
    EXPECT_EQ(g.step(reset.now, reset.s), SchedPolicy::kBatch);
    reset.run(100, 30us);
    EXPECT_EQ(g.step(reset.now, reset.s), SchedPolicy::kBatch);
    EXPECT_EQ(g.fallbacks(), 0u);
}

}  // namespace
}  // namespace laminar::io

// SPDX-License-Identifier: Apache-2.0
#include "backend/flap_damper.h"

#include <gtest/gtest.h>

#include <vector>

namespace laminar::backend {
namespace {

using namespace std::chrono_literals;
using Clock = FlapDamper::Clock;

constexpr std::string_view kOld = "backend 'old' at 127.0.0.1:6379";

// A damper and an injected clock, with every line it lets through.
struct Damped {
    FlapDamper damper{10s};
    Clock::time_point now = Clock::time_point{} + 1000h;
    std::vector<std::string> lines;
    std::vector<bool> warns;

    void take(const std::optional<FlapDamper::Line>& line) {
        if (!line) return;
        lines.push_back(line->text);
        warns.push_back(line->warn);
    }
    void down(std::string_view why = "connection refused") { take(damper.changed(false, kOld, why, now)); }
    void up() { take(damper.changed(true, kOld, "", now)); }
    // Advances the clock by `d` in 250 ms ticks, as the I/O threads' sweep calls due().
    void run(Clock::duration d) {
        auto end = now + d;
        while (now < end) {
            now = std::min(end, now + 250ms);
            take(damper.due(now));
        }
    }
    // n down/up pairs, one transition every `step`.
    void flap(int pairs, Clock::duration step, std::string_view why = "protocol error") {
        for (int i = 0; i < pairs; ++i) {
            down(why);
            now += step;
            up();
            now += step;
        }
    }
};

TEST(FlapDamperTest, ABackendThatIsNeverUpIsLoggedDownOnceAndNothingMore) {
    Damped d;
    d.down();
    d.run(1min);
    ASSERT_EQ(d.lines, (std::vector<std::string>{"backend 'old' at 127.0.0.1:6379 is down: connection refused"}));
    EXPECT_TRUE(d.warns[0]);
}

TEST(FlapDamperTest, AnOutageAndItsRecoveryAreTwoLinesWrittenWhenTheyHappen) {
    Damped d;
    d.down();
    EXPECT_EQ(d.lines.size(), 1u);
    d.now += 2s;
    d.up();
    ASSERT_EQ(d.lines.size(), 2u) << "the recovery waits for the interval";
    EXPECT_EQ(d.lines[1], "backend 'old' at 127.0.0.1:6379 is up");
    EXPECT_FALSE(d.warns[1]);
    d.run(1min);
    EXPECT_EQ(d.lines.size(), 2u);
    // Another outage a minute later is news again, written at once.
    d.down("connection reset by peer");
    d.now += 1s;
    d.up();
    ASSERT_EQ(d.lines.size(), 4u);
    EXPECT_EQ(d.lines[2], "backend 'old' at 127.0.0.1:6379 is down: connection reset by peer");
    EXPECT_EQ(d.lines[3], "backend 'old' at 127.0.0.1:6379 is up");
}

// The reproduction: 40 transitions in 2 s.
TEST(FlapDamperTest, FortyTransitionsInTwoSecondsAreTwoLinesThenOneSummaryAtTheEndOfTheInterval) {
    Damped d;
    d.flap(20, 50ms);  // down, up, ... up: 2 s
    ASSERT_EQ(d.lines.size(), 2u) << d.lines.back();
    d.run(7500ms);  // 9.5 s since the first line
    EXPECT_EQ(d.lines.size(), 2u) << d.lines.back();
    d.run(1s);
    ASSERT_EQ(d.lines.size(), 3u);
    EXPECT_EQ(d.lines[2], "backend 'old' at 127.0.0.1:6379 is flapping: down 19 times, up 19 times in the last 10 s; now up");
    EXPECT_TRUE(d.warns[2]);
    d.run(1min);
    EXPECT_EQ(d.lines.size(), 3u) << "it settled: the summary said so and nothing is left to say";
}

TEST(FlapDamperTest, WhileItKeepsFlappingThereIsOneLinePerIntervalEachWithItsCountsAndTheStateNow) {
    Damped d;
    // A transition every 100 ms for a minute, ending down.
    for (int i = 0; i < 300; ++i) {
        d.down(i == 299 ? "the last error" : "protocol error");
        d.now += 100ms;
        d.take(d.damper.due(d.now));
        if (i == 299) break;
        d.up();
        d.now += 100ms;
        d.take(d.damper.due(d.now));
    }
    // 59.9 s: two lines at once, a summary at 10, 20, 30, 40 and 50 s.
    ASSERT_EQ(d.lines.size(), 7u);
    for (size_t i = 2; i < 7; ++i) EXPECT_NE(d.lines[i].find(" is flapping: down "), std::string::npos) << d.lines[i];
    EXPECT_EQ(d.lines[2], "backend 'old' at 127.0.0.1:6379 is flapping: down 49 times, up 49 times in the last 9.9 s; now up");
    EXPECT_EQ(d.lines[3], "backend 'old' at 127.0.0.1:6379 is flapping: down 50 times, up 50 times in the last 10 s; now up");
    d.run(15s);
    ASSERT_EQ(d.lines.size(), 8u);
    EXPECT_EQ(d.lines[7], "backend 'old' at 127.0.0.1:6379 is flapping: down 50 times, up 49 times in the last 10 s; now down: the last error")
        << "the settled state is written, with the error that took it down last";
    d.run(1min);
    EXPECT_EQ(d.lines.size(), 8u);
}

// A flapping backend that comes to rest up between two summaries: the next summary says so.
TEST(FlapDamperTest, TheLineAfterTheFlappingStopsStatesTheSettledState) {
    Damped d;
    d.flap(5, 100ms);
    d.down("refused");
    d.now += 100ms;
    d.up();  // and stays up
    ASSERT_EQ(d.lines.size(), 2u);
    d.run(11s);
    ASSERT_EQ(d.lines.size(), 3u);
    EXPECT_EQ(d.lines.back(), "backend 'old' at 127.0.0.1:6379 is flapping: down 5 times, up 5 times in the last 10 s; now up");
    // Then a single outage: the window after the summary is still open, so it waits for its end.
    d.run(5s);
    d.down("gone");
    EXPECT_EQ(d.lines.size(), 3u);
    d.run(5s);
    ASSERT_EQ(d.lines.size(), 4u);
    EXPECT_EQ(d.lines.back(), "backend 'old' at 127.0.0.1:6379 is flapping: down 1 time, up 0 times in the last 10 s; now down: gone");
}

// No I/O thread called due() in time: the next transition brings the summary, counting itself.
TEST(FlapDamperTest, ATransitionAfterTheIntervalWritesTheDueSummaryIncludingItself) {
    Damped d;
    d.flap(3, 100ms);
    ASSERT_EQ(d.lines.size(), 2u);
    d.now += 20s;  // 20.5 s after the last line (the up at 100 ms)
    d.down("late");
    ASSERT_EQ(d.lines.size(), 3u);
    EXPECT_EQ(d.lines.back(), "backend 'old' at 127.0.0.1:6379 is flapping: down 3 times, up 2 times in the last 21 s; now down: late");
}

// A window in which nothing was counted ends without a line; what follows is logged at once.
TEST(FlapDamperTest, AQuietWindowClosesAndTheNextTransitionsAreWrittenAtOnce) {
    Damped d;
    d.down();
    d.now += 9s;
    d.up();
    d.now += 2s;  // 11 s: the window ended, nothing was counted in it
    d.down("again");
    d.now += 1s;
    d.up();
    ASSERT_EQ(d.lines.size(), 4u);
    EXPECT_EQ(d.lines[2], "backend 'old' at 127.0.0.1:6379 is down: again");
    EXPECT_EQ(d.lines[3], "backend 'old' at 127.0.0.1:6379 is up");
}

}  // namespace
}  // namespace laminar::backend

// SPDX-License-Identifier: Apache-2.0
// A route's counters (src/policy/route_stats.cpp): the names they are shown by, and the board
// that keeps one set per route name.
#include "policy/route_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace laminar::policy {
namespace {

TEST(RouteStatsTest, EveryCounterHasOneUniqueNameAndAHelpText) {
    std::set<std::string> names;
    std::vector<std::atomic<uint64_t> RouteStats::*> counters;  // member pointers have no order, only ==
    for (const auto& f : RouteStats::fields()) {
        EXPECT_TRUE(names.insert(f.name).second) << "twice: " << f.name;
        EXPECT_EQ(std::find(counters.begin(), counters.end(), f.counter), counters.end()) << "one counter shown twice, as " << f.name;
        counters.push_back(f.counter);
        EXPECT_NE(std::string(f.help), "") << f.name;
        EXPECT_TRUE(std::string(f.help).ends_with(".")) << f.name << ": " << f.help;
    }
    EXPECT_EQ(names.size(), 11u) << "a counter added to RouteStats must be added to fields() too";
}

TEST(RouteStatsTest, NamesAreWhatMetricsCanUse) {
    for (const auto& f : RouteStats::fields()) {
        std::string name = f.name;
        EXPECT_FALSE(name.empty());
        for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    }
}

TEST(RouteStatsTest, ValuesAreEveryCounterByNameInFieldOrder) {
    RouteStats s;
    RouteStats::add(s.fallbacks);
    RouteStats::add(s.fallbacks, 2);
    RouteStats::add(s.queue_rejects, 7);
    auto values = s.values();
    ASSERT_EQ(values.size(), RouteStats::fields().size());
    for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i].first, RouteStats::fields()[i].name);
    for (const auto& [name, v] : values) {
        if (name == "fallbacks") EXPECT_EQ(v, 3u);
        else if (name == "queue_rejects") EXPECT_EQ(v, 7u);
        else EXPECT_EQ(v, 0u) << name;
    }
}

TEST(RouteStatsTest, EachFieldReadsItsOwnCounter) {
    RouteStats s;
    uint64_t n = 1;
    for (const auto& f : RouteStats::fields()) RouteStats::add(s.*f.counter, n++);
    n = 1;
    for (const auto& [name, v] : s.values()) EXPECT_EQ(v, n++) << name;
    EXPECT_EQ(s.secondary_failures.load(), 1u);
    EXPECT_EQ(s.queue_rejects.load(), 11u);
}

TEST(StatsBoardTest, TheSameNameGivesTheSameCountersAndAnotherNameOthers) {
    StatsBoard board;
    auto a = board.route("a");
    RouteStats::add(a->syncs, 4);
    EXPECT_EQ(board.route("a"), a) << "kept across reloads by name";
    EXPECT_EQ(board.route("a")->syncs.load(), 4u);
    auto b = board.route("b");
    EXPECT_NE(b, a);
    EXPECT_EQ(b->syncs.load(), 0u);
    EXPECT_NE(board.route(""), a) << "an empty name is a name like another";
}

TEST(StatsBoardTest, ThreadsAskingForOneRouteAllGetTheSameCounters) {
    StatsBoard board;
    constexpr int kThreads = 4, kAdds = 1000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kAdds; ++i) RouteStats::add(board.route("r")->shadow_compared);
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(board.route("r")->shadow_compared.load(), uint64_t{kThreads * kAdds});
}

}  // namespace
}  // namespace laminar::policy

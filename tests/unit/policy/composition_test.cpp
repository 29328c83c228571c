// SPDX-License-Identifier: Apache-2.0
// The strategy hooks (sync pairs and the flip barrier, backfill, MULTI catch-up, serialisation)
// through every wrapper: a wrapped dual_write or dual_lookup keeps its machinery (issue 19, item 4).
#include <gtest/gtest.h>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "config/config.h"
#include "policy/route_stats.h"
#include "policy/snapshot.h"
#include "policy/sync_engine.h"

namespace laminar::policy {
namespace {

using testing::Cmd;
using testing::FakeEnv;
using testing::FakeSyncHost;
using testing::kNew;
using testing::kOld;

std::shared_ptr<const Snapshot> snapshotOf(const std::string& strategy, const Snapshot* previous = nullptr) {
    return std::make_shared<const Snapshot>(
        config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: s\n"
                           "    strategy: " + strategy + "\n",
                           "test.yaml"),
        previous ? previous->generation() + 1 : 1, previous);
}

const std::string kForward = "{type: dual_write, primary: old, secondary: new}";
const std::string kBackward = "{type: dual_write, primary: new, secondary: old}";

// Each wrapper around a forward dual_write, and the same wrapper around the backward one.
struct Wrapper {
    const char* name;
    std::string (*wrap)(const std::string& inner);
};

const Wrapper kWrappers[] = {
    {"condition_else", [](const std::string& in) { return "{type: condition, when: {backend_down: new}, then: old, else: " + in + "}"; }},
    {"condition_then", [](const std::string& in) { return "{type: condition, when: {backend_up: new}, then: " + in + ", else: old}"; }},
    {"shadow", [](const std::string& in) { return "{type: shadow, primary: " + in + ", shadow: new}"; }},
    {"timed_rollover", [](const std::string& in) {
         return "{type: timed_rollover, cutoff: '2030-01-01', key_date: '(\\d{4}-\\d{2}-\\d{2})', before: " + in + ", after: new}";
     }},
    {"convert", [](const std::string& in) { return "{type: convert, source: old, target: " + in + ", key: {prefix: 'a:', to: 'b:'}}"; }},
};

class CompositionTest : public ::testing::TestWithParam<Wrapper> {};

TEST_P(CompositionTest, TheWrappedDualWriteKeepsItsSyncPairAndBackfill) {
    auto snap = snapshotOf(GetParam().wrap(kForward));
    const Strategy& s = *snap->routes()[0].strategy;
    std::vector<std::pair<int, int>> pairs;
    s.syncPairs(pairs);
    EXPECT_EQ(pairs, (std::vector<std::pair<int, int>>{{kOld, kNew}})) << s.describe();
    SyncTask task;
    std::string why;
    EXPECT_TRUE(s.backfillTask(task, why)) << why;
    EXPECT_EQ(task.pair, "old>new");
}

TEST_P(CompositionTest, ReversingTheWrappedDualWriteRaisesTheFlipBarrier) {
    auto before = snapshotOf(GetParam().wrap(kForward));
    auto after = snapshotOf(GetParam().wrap(kBackward), before.get());
    EXPECT_EQ(after->routes()[0].barrier, std::vector<std::string>{"old>new"});
}

INSTANTIATE_TEST_SUITE_P(EveryWrapper, CompositionTest, ::testing::ValuesIn(kWrappers),
                         [](const ::testing::TestParamInfo<Wrapper>& p) { return std::string(p.param.name); });

TEST(CompositionHooks, AProxyOrAReadOnlyRouteHasNothingToBackfill) {
    for (std::string s : {"old", "{type: read_only, target: old}", "{type: shadow, primary: old, shadow: new}"}) {
        auto snap = snapshotOf(s);
        SyncTask task;
        std::string why;
        EXPECT_FALSE(snap->routes()[0].strategy->backfillTask(task, why)) << s;
        EXPECT_NE(why.find("not a dual write"), std::string::npos) << why;
    }
}

// A condition around a dual_lookup: a read-modify-write waits for the key's copy-in as it does
// unwrapped, so a pipelined command cannot overtake it.
TEST(CompositionHooks, AWrappedDualLookupStillSerializesItsReadModifyWrites) {
    auto snap = snapshotOf("{type: condition, when: {backend_down: new}, then: old, else: {type: dual_lookup, first: new, second: old}}");
    const Strategy& s = *snap->routes()[0].strategy;
    EXPECT_TRUE(s.serializes(Cmd({"INCR", "k"}).request()));
    EXPECT_FALSE(s.serializes(Cmd({"GET", "k"}).request()));
}

// A write inside MULTI/EXEC ran on the pinned connection: the dual_write under the condition's
// `else` (where the client is pinned) queues the key's copy.
TEST(CompositionHooks, AWriteInsideMultiIsCaughtUpThroughAConditionAndAShadow) {
    for (std::string s : {"{type: condition, when: {backend_down: new}, then: old, else: " + kForward + "}",
                          "{type: shadow, primary: " + kForward + ", shadow: new}"}) {
        auto snap = snapshotOf(s);
        FakeEnv env;
        FakeSyncHost host;
        SyncEngine engine({&host}, 4);
        RouteStats stats;
        env.ctx.snapshot = &snap;
        env.ctx.sync = &engine;
        env.ctx.stats = &stats;
        snap->routes()[0].strategy->afterPinnedWrite("k", env.ctx);
        EXPECT_EQ(engine.pending("old>new"), 1) << s;
        auto& d = host.dispatch;
        ASSERT_EQ(d.sent.size(), 2u) << "no copy of k started: " << s;
        EXPECT_EQ(d.sent[0].backend, kOld);
        d.answer(0, "$-1\r\n");  // gone on old: the copy deletes it on new
        d.answer(1, ":-2\r\n");
        ASSERT_EQ(d.sent.size(), 3u);
        EXPECT_EQ(d.sent[2].backend, kNew);
        d.answer(2, ":0\r\n");
        EXPECT_EQ(engine.pending("old>new"), 0);
        EXPECT_EQ(d.unanswered(), 0u);
    }
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/migration.h"

#include <gtest/gtest.h>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "policy/route_stats.h"
#include "policy/snapshot.h"
#include "policy/sync_engine.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::command;
using testing::dumpPayload;
using testing::FakeEnv;
using testing::FakeSyncHost;
using testing::restoreReplace;

using testing::kNew;
using testing::kOld;

std::string yamlFor(const std::string& phase) {
    return "backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: s\n"
           "    migration: {from: old, to: new, phase: " +
           phase + "}\n";
}

std::shared_ptr<const Snapshot> snapshotFor(const std::string& phase, const Snapshot* previous = nullptr, uint64_t generation = 1) {
    return std::make_shared<const Snapshot>(config::loadString(yamlFor(phase), "test.yaml"), generation, previous);
}

std::string buildError(const std::string& migration) {
    return laminar::testing::configError([&] {
        Snapshot s(config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n"
                                      "routes:\n  - name: s\n    migration: " + migration + "\n",
                                      "laminar.yaml"),
                   1);
    });
}

// One phase's route, executed over fakes with a real sync engine on a fake I/O thread.
class MigrationTest : public ::testing::Test {
protected:
    void TearDown() override {
        EXPECT_EQ(env.client.unanswered(), 0u);
        EXPECT_EQ(host.dispatch.unanswered(), 0u);
    }

    const Strategy& use(const std::string& phase) {
        snapshot = snapshotFor(phase);
        env.ctx.snapshot = &snapshot;
        env.ctx.sync = &engine;
        env.ctx.stats = &stats;
        return *snapshot->routes()[0].strategy;
    }
    std::vector<int> targets(const Strategy& s, std::vector<std::string> args, bool write) {
        Cmd c(std::move(args));
        std::vector<int> out;
        s.targets(c.request(), env.ctx, write, out);
        return out;
    }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) {
        auto req = c.request();
        s.execute(req, &client, env.ctx);
    }
    // Answers the key copy the engine has in flight: DUMP + PTTL on `from`, then RESTORE on the other.
    void answerCopy(int from, const std::string& key, const std::string& payload) {
        auto& d = host.dispatch;
        ASSERT_EQ(d.sent.size(), 2u);
        EXPECT_EQ(d.sent[0].backend, from);
        EXPECT_EQ(d.sent[0].raw, command({"DUMP", key}));
        EXPECT_EQ(d.sent[1].backend, from);
        EXPECT_EQ(d.sent[1].raw, command({"PTTL", key}));
        d.answer(0, bulk(payload));
        d.answer(1, ":-1\r\n");
        ASSERT_EQ(d.sent.size(), 3u);
        EXPECT_EQ(d.sent[2].backend, from == kOld ? kNew : kOld);
        EXPECT_EQ(d.sent[2].raw, restoreReplace(key, "0", payload));
        d.answer(2, "+OK\r\n");
    }

    FakeEnv env;
    RouteStats stats;
    FakeSyncHost host;
    SyncEngine engine{{&host}, 4};
    std::shared_ptr<const Snapshot> snapshot;
};

// The one-sided phases mirror each other: old_only on old, new_only on new.
struct OneSided {
    const char* phase;
    int side, other;
    const char* describe;
};

class OneSidedPhaseTest : public MigrationTest, public ::testing::WithParamInterface<OneSided> {};

TEST_P(OneSidedPhaseTest, ReadsAndWritesOneSideAndCopiesNothing) {
    const auto [phase, side, other, describe] = GetParam();
    const auto& s = use(phase);
    EXPECT_EQ(targets(s, {"GET", "k"}, false), std::vector<int>{side});
    EXPECT_EQ(targets(s, {"SET", "k", "v"}, true), std::vector<int>{side});
    EXPECT_EQ(s.describe(), describe);
    EXPECT_EQ(s.pinTarget(), side);

    Cmd set({"SET", "k", "v"}), get({"GET", "k"});
    ClientSink w, r;
    run(s, set, w);
    run(s, get, r);
    EXPECT_EQ(env.client.rawTo(side), (std::vector<std::string>{set.raw, get.raw}));
    EXPECT_TRUE(env.client.rawTo(other).empty());
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, bulk("v"));
    EXPECT_EQ(w.reply, "+OK\r\n");
    EXPECT_EQ(r.reply, bulk("v"));
    EXPECT_TRUE(host.dispatch.sent.empty()) << "nothing is copied in " << phase;
    std::vector<std::pair<int, int>> pairs;
    s.syncPairs(pairs);
    EXPECT_TRUE(pairs.empty());
}

INSTANTIATE_TEST_SUITE_P(Phases, OneSidedPhaseTest,
                         ::testing::Values(OneSided{"old_only", kOld, kNew, "migration(phase=old_only) = old"},
                                           OneSided{"new_only", kNew, kOld, "migration(phase=new_only) = new"}),
                         [](const auto& info) { return std::string(info.param.phase); });

// The dual-write phases mirror each other: read_old reads old and copies to new, read_new the
// reverse.
struct DualPhase {
    const char* phase;
    int primary, secondary;
    const char* pair;        // the copy direction
    const char* other_pair;  // the reverse one, idle
};

class DualWritePhaseTest : public MigrationTest, public ::testing::WithParamInterface<DualPhase> {};

TEST_P(DualWritePhaseTest, ReadsThePrimaryAndCopiesEveryWrittenKeyToTheSecondary) {
    const auto [phase, primary, secondary, pair, other_pair] = GetParam();
    const auto& s = use(phase);
    EXPECT_EQ(targets(s, {"GET", "k"}, false), std::vector<int>{primary});
    EXPECT_EQ(targets(s, {"SET", "k", "v"}, true), (std::vector<int>{primary, secondary}));
    EXPECT_EQ(s.pinTarget(), primary);
    std::vector<std::pair<int, int>> pairs;
    s.syncPairs(pairs);
    EXPECT_EQ(pairs, (std::vector<std::pair<int, int>>{{primary, secondary}}));

    // The exact mode: a write runs on the primary only, then k's state is copied...
    Cmd append({"APPEND", "k", "v"});
    ClientSink w;
    run(s, append, w);
    EXPECT_EQ(env.client.rawTo(primary), std::vector<std::string>{append.raw});
    EXPECT_TRUE(env.client.rawTo(secondary).empty());
    env.client.answer(0, ":1\r\n");
    EXPECT_EQ(w.reply, ":1\r\n");
    EXPECT_EQ(engine.pending(pair), 1);
    EXPECT_EQ(engine.pending(other_pair), 0);
    answerCopy(primary, "k", dumpPayload("v"));
    EXPECT_EQ(engine.pending(pair), 0);
    EXPECT_EQ(stats.syncs.load(), 1u);

    // ...but a plain SET is a copy of itself: sent to both sides at once, owed until both applied it.
    Cmd set({"SET", "k", "v"});
    ClientSink w2;
    run(s, set, w2);
    EXPECT_EQ(env.client.sent[1].backend, primary);
    EXPECT_EQ(env.client.sent[2].backend, secondary);
    EXPECT_EQ(env.client.sent[2].raw, set.raw);
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(w2.reply, "+OK\r\n");
    EXPECT_EQ(engine.pending(pair), 1);
    env.client.answer(2, "+OK\r\n");
    EXPECT_EQ(engine.pending(pair), 0);
    EXPECT_EQ(stats.syncs.load(), 2u);

    Cmd get({"GET", "k"});
    ClientSink r;
    run(s, get, r);
    EXPECT_EQ(env.client.sent.back().backend, primary);
    env.client.answer(3, bulk("v"));
    EXPECT_EQ(r.reply, bulk("v"));
}

INSTANTIATE_TEST_SUITE_P(Phases, DualWritePhaseTest,
                         ::testing::Values(DualPhase{"dual_write_read_old", kOld, kNew, "old>new", "new>old"},
                                           DualPhase{"dual_write_read_new", kNew, kOld, "new>old", "old>new"}),
                         [](const auto& info) { return std::string(info.param.phase); });

TEST_F(MigrationTest, DualWriteReadOldCopiesACounterByState) {
    const auto& s = use("dual_write_read_old");
    ClientSink w;
    run(s, Cmd({"INCR", "views"}), w);
    env.client.answer(0, ":42\r\n");
    EXPECT_EQ(w.reply, ":42\r\n");
    answerCopy(kOld, "views", dumpPayload("42"));
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
}

TEST_F(MigrationTest, ExposesItsPhaseAndTheCompiledStrategy) {
    const auto& s = use("dual_write_read_old");
    EXPECT_EQ(s.type(), "migration");
    EXPECT_EQ(Migration::phaseName(static_cast<const Migration&>(s).phase()), "dual_write_read_old");
    EXPECT_EQ(s.describe(), "migration(phase=dual_write_read_old) = dual_write(primary=old, secondary=new, mode=sync, ack=primary)");
}

TEST_F(MigrationTest, APinnedWriteIsCopiedInTheDirectionOfThePhase) {
    const auto& s = use("dual_write_read_new");
    s.afterPinnedWrite("k", env.ctx);
    answerCopy(kNew, "k", dumpPayload("v"));
    EXPECT_EQ(engine.pending("new>old"), 0);
}

// Every step back is valid at any time; a change of copy direction raises the flip barrier.
TEST_F(MigrationTest, EveryPhaseCanFollowEveryOther) {
    const std::vector<std::string> phases = {"old_only", "dual_write_read_old", "dual_write_read_new", "new_only"};
    for (const auto& from : phases) {
        for (const auto& to : phases) {
            SCOPED_TRACE(from + " -> " + to);
            auto before = snapshotFor(from);
            std::shared_ptr<const Snapshot> after;
            EXPECT_NO_THROW(after = snapshotFor(to, before.get(), 2));
        }
    }
}

TEST_F(MigrationTest, AStepThatDropsACopyDirectionWaitsForItToDrain) {
    auto barrier = [](const std::string& from, const std::string& to) {
        auto before = snapshotFor(from);
        return snapshotFor(to, before.get(), 2)->routes()[0].barrier;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(barrier("dual_write_read_old", "dual_write_read_new"), V{"old>new"});
    EXPECT_EQ(barrier("dual_write_read_new", "dual_write_read_old"), V{"new>old"});
    EXPECT_EQ(barrier("dual_write_read_new", "new_only"), V{"new>old"});
    EXPECT_EQ(barrier("dual_write_read_old", "old_only"), V{"old>new"});
    EXPECT_EQ(barrier("old_only", "dual_write_read_old"), V{});
    EXPECT_EQ(barrier("new_only", "dual_write_read_new"), V{});
    EXPECT_EQ(barrier("dual_write_read_old", "dual_write_read_old"), V{});
}

TEST_F(MigrationTest, RejectsAnUnknownPhaseNamingThePath) {
    auto err = buildError("{from: old, to: new, phase: sideways}");
    EXPECT_NE(err.find("laminar.yaml:6: routes[0].migration.phase: must be old_only, dual_write_read_old, "
                       "dual_write_read_new or new_only, got 'sideways'"),
              std::string::npos)
        << err;
    auto missing = buildError("{from: old, to: new}");
    EXPECT_NE(missing.find("routes[0].migration.phase: must be old_only"), std::string::npos) << missing;
}

TEST_F(MigrationTest, RejectsTheSameBackendOnBothSides) {
    auto err = buildError("{from: old, to: old, phase: old_only}");
    EXPECT_NE(err.find("routes[0].migration.to: must differ from `from`"), std::string::npos) << err;
}

TEST_F(MigrationTest, RejectsAnUnknownBackend) {
    auto err = buildError("{from: old, to: newer, phase: old_only}");
    EXPECT_NE(err.find("routes[0].migration.to: unknown backend 'newer'"), std::string::npos) << err;
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/snapshot.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

Snapshot make() {
    return Snapshot(config::loadString(R"(backends:
  old: {address: 127.0.0.1:1}
  new: {address: 127.0.0.1:2}
routes:
  - name: users
    match: {keys: ["user:*"]}
    strategy: {type: proxy, target: new}
  - name: writes
    match: {commands: [write]}
    strategy: new
  - name: default
    strategy: old
)", "x"), 1);
}

const Route* routeOf(const Snapshot& s, std::vector<std::string_view> argv, std::string* err = nullptr) {
    const auto* cmd = resp::lookupCommand(argv);
    std::vector<int> keys;
    resp::keyIndices(*cmd, argv, keys);
    std::string e;
    const Route* r = s.route(*cmd, argv, keys, e);
    if (err) *err = e;
    return r;
}

TEST(SnapshotTest, FirstMatchingRouteWins) {
    auto s = make();
    EXPECT_EQ(routeOf(s, {"GET", "user:1"})->name, "users");
    EXPECT_EQ(routeOf(s, {"SET", "user:1", "x"})->name, "users");
    EXPECT_EQ(routeOf(s, {"SET", "other", "x"})->name, "writes");
    EXPECT_EQ(routeOf(s, {"GET", "other"})->name, "default");
}

TEST(SnapshotTest, KeylessCommandsGoToTheCatchAll) {
    auto s = make();
    EXPECT_EQ(routeOf(s, {"DBSIZE"})->name, "default");
    EXPECT_EQ(routeOf(s, {"SCAN", "0"})->name, "default");
}

TEST(SnapshotTest, RefusesACommandWhoseKeysSpanRoutesNamingThem) {
    auto s = make();
    std::string err;
    EXPECT_EQ(routeOf(s, {"MGET", "user:1", "other"}, &err), nullptr);
    EXPECT_EQ(err, "ERR laminar: 'mget' has keys in routes 'users' and 'default'; send them separately");
    EXPECT_EQ(routeOf(s, {"MGET", "user:1", "user:2"})->name, "users");
}

TEST(SnapshotTest, DescribesEachRouteStrategy) {
    auto s = make();
    EXPECT_EQ(s.routes()[0].strategy->describe(), "new");
    EXPECT_EQ(s.routes()[2].strategy->describe(), "old");
}

TEST(SnapshotTest, KnowsEveryBackendARouteCanSendToButNotOnesAConditionOnlyWatches) {
    auto s = Snapshot(config::loadString(R"(backends:
  old: {address: 127.0.0.1:1}
  new: {address: 127.0.0.1:2}
  spare: {address: 127.0.0.1:3}
routes:
  - name: guarded
    match: {keys: ["g:*"]}
    strategy: {type: condition, when: {backend_down: spare}, then: old, else: {type: read_only, target: new}}
  - name: moving
    match: {keys: ["m:*"]}
    migration: {from: old, to: new, phase: dual_write_read_new}
  - name: default
    strategy: {type: shadow, primary: new, shadow: old}
)", "x"), 1);
    EXPECT_EQ(s.routes()[0].backends, (std::vector<int>{0, 1}));
    EXPECT_EQ(s.routes()[1].backends, (std::vector<int>{0, 1}));
    EXPECT_EQ(s.catchAll().backends, (std::vector<int>{0, 1}));
    EXPECT_EQ(make().catchAll().backends, std::vector<int>{0});
}

std::string buildError(const std::string& yaml) {
    return laminar::testing::configError([&] { Snapshot s(config::loadString(yaml, "laminar.yaml"), 1); });
}

TEST(SnapshotTest, RejectsAnUnknownBackendNamingFileLineAndPath) {
    auto err = buildError("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: {type: proxy, target: nope}\n");
    EXPECT_EQ(err, "laminar.yaml:5: routes[0].strategy.target: unknown backend 'nope'");
}

TEST(SnapshotTest, RejectsAnUnknownStrategyTypeListingTheKnownOnes) {
    auto err = buildError("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: {type: teleport}\n");
    EXPECT_NE(err.find("laminar.yaml:5: routes[0].strategy.type: unknown strategy type 'teleport' (known: "), std::string::npos) << err;
}

TEST(SnapshotTest, RejectsAnUnknownStrategyField) {
    auto err = buildError("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: {type: proxy, target: old, colour: red}\n");
    EXPECT_NE(err.find("routes[0].strategy.colour: unknown key"), std::string::npos) << err;
}

TEST(SnapshotTest, RejectsStrategiesNestedTooDeep) {
    std::string nested = "old";
    for (int i = 0; i < 20; ++i) nested = "{type: read_only, target: " + nested + "}";
    auto err = buildError("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: " + nested + "\n");
    EXPECT_NE(err.find("nested deeper than 16"), std::string::npos) << err;
}

TEST(SnapshotTest, CompilesTheMigrationShorthandPerPhase) {
    auto make = [](const std::string& phase) {
        return Snapshot(config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: s\n    migration: {from: old, to: new, phase: " + phase + "}\n", "x"), 1);
    };
    EXPECT_EQ(make("old_only").routes()[0].strategy->describe(), "migration(phase=old_only) = old");
    EXPECT_EQ(make("dual_write_read_old").routes()[0].strategy->describe(),
              "migration(phase=dual_write_read_old) = dual_write(primary=old, secondary=new, mode=sync, ack=primary)");
    EXPECT_EQ(make("dual_write_read_new").routes()[0].strategy->describe(),
              "migration(phase=dual_write_read_new) = dual_write(primary=new, secondary=old, mode=sync, ack=primary)");
    EXPECT_EQ(make("new_only").routes()[0].strategy->describe(), "migration(phase=new_only) = new");
    auto err = buildError("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: s\n    migration: {from: old, to: new, phase: sideways}\n");
    EXPECT_NE(err.find("routes[0].migration.phase: must be old_only, dual_write_read_old, dual_write_read_new or new_only"), std::string::npos) << err;
}

TEST(SnapshotTest, AFlipOfTheCopyDirectionRaisesABarrierForThatRouteOnly) {
    auto cfg = [](const std::string& phase) {
        return config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: s\n    match: {keys: ['s:*']}\n    migration: {from: old, to: new, phase: " + phase + "}\n  - name: d\n    strategy: old\n", "x");
    };
    Snapshot before(cfg("dual_write_read_old"), 1);
    Snapshot after(cfg("dual_write_read_new"), 2, &before);
    EXPECT_EQ(after.routes()[0].barrier, std::vector<std::string>{"old>new"});
    EXPECT_TRUE(after.routes()[1].barrier.empty());
    Snapshot same(cfg("dual_write_read_old"), 3, &before);
    EXPECT_TRUE(same.routes()[0].barrier.empty());
}

}  // namespace
}  // namespace laminar::policy

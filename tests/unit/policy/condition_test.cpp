// SPDX-License-Identifier: Apache-2.0
#include "policy/condition.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <filesystem>

#include "policy/fakes.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;
using testing::twoBackends;
using State = Health::State;
using Strings = std::vector<std::string>;

using testing::kNew;
using testing::kOld;

// Builds through the make-function itself (children through the Builder), so these tests do not
// depend on the strategy table.
std::unique_ptr<Strategy> make(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    r.take("type");
    auto s = makeCondition(r, b);
    r.finish();
    return s;
}

std::unique_ptr<Strategy> buildYaml(const std::string& yaml) {
    auto cfg = twoBackends();
    Builder b(cfg, "r");
    return make(YAML::Load(yaml), "routes[0].strategy", b);
}

// A condition route with `when`, then: new, else: old.
std::unique_ptr<Strategy> build(const std::string& when) { return buildYaml("{type: condition, when: " + when + ", then: new, else: old}"); }

// The backend `cmd` is sent to (answering it, so nothing is left pending).
int sideOf(const Strategy& s, FakeEnv& env, const Cmd& cmd) {
    ClientSink sink;
    size_t before = env.client.sent.size();
    s.execute(cmd.request(), &sink, env.ctx);
    EXPECT_EQ(env.client.sent.size(), before + 1) << cmd.raw;
    if (env.client.sent.size() != before + 1) return -1;
    env.client.answer(before, "+OK\r\n");
    EXPECT_EQ(sink.reply, "+OK\r\n");
    return env.client.sent[before].backend;
}

std::string buildError(const std::string& yaml) {
    return laminar::testing::configError([&] { buildYaml(yaml); });
}

// Case 1.
TEST(ConditionTest, SendsACommandToThenWhenTheConditionHoldsAndPassesItsReplyBack) {
    auto s = build("{backend_down: old}");
    FakeEnv env;
    env.health.states[kOld] = State::kDown;
    Cmd get({"GET", "k"}), set({"SET", "k", "v"});
    ClientSink a, b;
    s->execute(get.request(), &a, env.ctx);
    s->execute(set.request(), &b, env.ctx);
    EXPECT_EQ(env.client.rawTo(kNew), (Strings{get.raw, set.raw}));
    EXPECT_TRUE(env.client.rawTo(kOld).empty());
    env.client.answer(0, bulk("v1"));
    env.client.answer(1, "-ERR OOM\r\n");
    EXPECT_EQ(a.reply, bulk("v1"));
    EXPECT_EQ(b.reply, "-ERR OOM\r\n");
}

// Case 1.
TEST(ConditionTest, SendsACommandToElseWhenTheConditionDoesNotHold) {
    auto s = build("{backend_down: old}");
    FakeEnv env;
    Cmd get({"GET", "k"}), set({"SET", "k", "v"});
    ClientSink a, b;
    s->execute(get.request(), &a, env.ctx);
    s->execute(set.request(), &b, env.ctx);
    EXPECT_EQ(env.client.rawTo(kOld), (Strings{get.raw, set.raw}));
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answerAll(kOld, "$-1\r\n");
    EXPECT_EQ(a.reply, "$-1\r\n");
    EXPECT_EQ(b.reply, "$-1\r\n");
}

// Case 2: health is re-read for every command.
TEST(ConditionTest, BackendDownHoldsOnlyWhileTheBackendIsDown) {
    auto s = build("{backend_down: old}");
    FakeEnv env;
    Cmd get({"GET", "k"});
    EXPECT_EQ(sideOf(*s, env, get), kOld);
    env.health.states[kOld] = State::kDegraded;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
    env.health.states[kOld] = State::kDown;
    EXPECT_EQ(sideOf(*s, env, get), kNew);
    env.health.states[kOld] = State::kUp;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
}

// Case 2.
TEST(ConditionTest, BackendDegradedHoldsWhileTheBackendIsDegradedOrDown) {
    auto s = build("{backend_degraded: old}");
    FakeEnv env;
    Cmd get({"GET", "k"});
    EXPECT_EQ(sideOf(*s, env, get), kOld);
    env.health.states[kOld] = State::kDegraded;
    EXPECT_EQ(sideOf(*s, env, get), kNew);
    env.health.states[kOld] = State::kDown;
    EXPECT_EQ(sideOf(*s, env, get), kNew);
}

// Case 2.
TEST(ConditionTest, BackendUpHoldsOnlyWhileTheBackendIsUp) {
    auto s = build("{backend_up: new}");
    FakeEnv env;
    Cmd get({"GET", "k"});
    EXPECT_EQ(sideOf(*s, env, get), kNew);
    env.health.states[kNew] = State::kDegraded;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
    env.health.states[kNew] = State::kDown;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
}

// Case 3.
TEST(ConditionTest, LatencyAboveHoldsWhileTheP99IsAboveTheThreshold) {
    auto s = build("{latency_above: {backend: old, p99: 5ms}}");
    FakeEnv env;
    Cmd get({"GET", "k"});
    EXPECT_EQ(sideOf(*s, env, get), kOld);  // nothing measured yet
    env.health.p99[kOld] = 5.0;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
    env.health.p99[kOld] = 5.5;
    EXPECT_EQ(sideOf(*s, env, get), kNew);
    env.health.p99[kNew] = 100;  // only the named backend counts
    env.health.p99[kOld] = 1;
    EXPECT_EQ(sideOf(*s, env, get), kOld);
}

// Case 7, without a write queue (the integration tests have one: queue_test.cpp's CanaryTest).
TEST(ConditionTest, WithoutAWriteQueueQueueStaleHoldsAndQueueLagAboveDoesNot) {
    FakeEnv env;
    ASSERT_EQ(env.ctx.queue, nullptr);
    Cmd set({"SET", "k", "v"});
    EXPECT_EQ(sideOf(*build("{queue_stale: new}"), env, set), kNew) << "no queue: nothing comes through, the fail-safe holds";
    EXPECT_EQ(sideOf(*build("{queue_lag_above: {target: new, lag: 10s}}"), env, set), kOld);
    EXPECT_EQ(build("{any: [{queue_stale: new}, {queue_lag_above: {target: new, lag: 10s}}]}")->describe(),
              "condition(any(queue_stale(new), queue_lag_above(new, lag=10s)), then=new, else=old)");
    auto e = buildError("{type: condition, when: {queue_lag_above: {target: new}}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.queue_lag_above.lag: is required (a duration like 10s)"), std::string::npos) << e;
    e = buildError("{type: condition, when: {queue_stale: nope}, then: new, else: old}");
    EXPECT_NE(e.find("unknown backend 'nope'"), std::string::npos) << e;
}

// Case 4.
TEST(ConditionTest, PercentSelectsTheKeysWhoseHashFallsBelowItsShare) {
    auto s = build("{percent: 12.5}");
    FakeEnv env;
    int selected = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string key = "user:" + std::to_string(i);
        bool expected = XXH64(key.data(), key.size(), 0) % 10000 < 1250;
        int side = sideOf(*s, env, Cmd({"GET", key}));
        EXPECT_EQ(side, expected ? kNew : kOld) << key;
        selected += side == kNew;
    }
    EXPECT_GT(selected, 200);  // 12.5% of 2000 is 250
    EXPECT_LT(selected, 300);
}

// Case 4: key-consistent, reads and writes alike, and by the first key of a multi-key command.
TEST(ConditionTest, PercentAlwaysSendsOneKeyToTheSameSide) {
    auto s = build("{percent: 50}");
    FakeEnv env;
    for (int i = 0; i < 20; ++i) {
        std::string key = "user:" + std::to_string(i);
        int side = sideOf(*s, env, Cmd({"GET", key}));
        EXPECT_EQ(sideOf(*s, env, Cmd({"SET", key, "v"})), side) << key;
        EXPECT_EQ(sideOf(*s, env, Cmd({"HGETALL", key})), side) << key;
        EXPECT_EQ(sideOf(*s, env, Cmd({"MGET", key, "other"})), side) << key;
    }
}

// Case 4.
TEST(ConditionTest, PercentZeroSelectsNoKeyAndHundredEveryKey) {
    auto none = build("{percent: 0}");
    auto all = build("{percent: 100}");
    FakeEnv env;
    for (int i = 0; i < 200; ++i) {
        Cmd get({"GET", "k" + std::to_string(i)});
        EXPECT_EQ(sideOf(*none, env, get), kOld);
        EXPECT_EQ(sideOf(*all, env, get), kNew);
    }
}

// Case 4.
TEST(ConditionTest, PercentNeverSelectsAKeylessCommand) {
    auto all = build("{percent: 100}");
    auto negated = build("{not: {percent: 100}}");
    FakeEnv env;
    Cmd dbsize({"DBSIZE"});
    EXPECT_EQ(sideOf(*all, env, dbsize), kOld);
    EXPECT_EQ(sideOf(*negated, env, dbsize), kNew);
}

// Case 5.
TEST(ConditionTest, CommandsSelectsByClass) {
    auto reads = build("{commands: [read]}");
    auto writes = build("{commands: [WRITE]}");
    FakeEnv env;
    Cmd get({"GET", "k"}), set({"SET", "k", "v"}), del({"DEL", "k"}), ping({"DBSIZE"});
    EXPECT_EQ(sideOf(*reads, env, get), kNew);
    EXPECT_EQ(sideOf(*reads, env, ping), kNew);  // not a write, so a read
    EXPECT_EQ(sideOf(*reads, env, set), kOld);
    EXPECT_EQ(sideOf(*writes, env, set), kNew);
    EXPECT_EQ(sideOf(*writes, env, del), kNew);
    EXPECT_EQ(sideOf(*writes, env, get), kOld);
}

// Case 5.
TEST(ConditionTest, CommandsSelectsByNameAndAContainerCoversItsSubcommands) {
    auto s = build("{commands: [HGETALL, xinfo, object|encoding]}");
    FakeEnv env;
    EXPECT_EQ(sideOf(*s, env, Cmd({"hgetall", "h"})), kNew);
    EXPECT_EQ(sideOf(*s, env, Cmd({"XINFO", "STREAM", "s"})), kNew);
    EXPECT_EQ(sideOf(*s, env, Cmd({"OBJECT", "ENCODING", "k"})), kNew);
    EXPECT_EQ(sideOf(*s, env, Cmd({"OBJECT", "FREQ", "k"})), kOld);
    EXPECT_EQ(sideOf(*s, env, Cmd({"HGET", "h", "f"})), kOld);
}

// Case 6.
TEST(ConditionTest, AllAnyAndNotCompose) {
    auto all = build("{all: [{backend_up: new}, {commands: [read]}]}");
    auto any = build("{any: [{backend_down: old}, {commands: [write]}]}");
    auto nested = build("{not: {any: [{backend_down: new}, {all: [{commands: [write]}, {percent: 100}]}]}}");
    FakeEnv env;
    Cmd get({"GET", "k"}), set({"SET", "k", "v"});
    EXPECT_EQ(sideOf(*all, env, get), kNew);
    EXPECT_EQ(sideOf(*all, env, set), kOld);
    EXPECT_EQ(sideOf(*any, env, get), kOld);
    EXPECT_EQ(sideOf(*any, env, set), kNew);
    EXPECT_EQ(sideOf(*nested, env, get), kNew);
    EXPECT_EQ(sideOf(*nested, env, set), kOld);
    env.health.states[kNew] = State::kDown;
    env.health.states[kOld] = State::kDown;
    EXPECT_EQ(sideOf(*all, env, get), kOld);
    EXPECT_EQ(sideOf(*any, env, get), kNew);
    EXPECT_EQ(sideOf(*nested, env, get), kOld);
}

TEST(ConditionTest, ChildrenMayBeStrategies) {
    auto s = buildYaml("{type: condition, when: {backend_down: new}, then: {type: read_only, target: old}, else: new}");
    FakeEnv env;
    env.health.states[kNew] = State::kDown;
    Cmd set({"SET", "k", "v"});
    ClientSink sink;
    s->execute(set.request(), &sink, env.ctx);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_EQ(sink.reply, "-READONLY laminar: route 'r' is read-only\r\n");
}

TEST(ConditionTest, PinsToElseAndReportsTheTargetsExecuteWouldUseNow) {
    auto s = build("{any: [{backend_down: old}, {commands: [write]}]}");
    FakeEnv env;
    EXPECT_EQ(s->pinTarget(), kOld);
    Cmd get({"GET", "k"});
    auto targets = [&](bool write) {
        std::vector<int> out;
        s->targets(get.request(), env.ctx, write, out);
        return out;
    };
    EXPECT_EQ(targets(false), std::vector<int>{kOld});
    EXPECT_EQ(targets(true), std::vector<int>{kNew});  // asked about a write, the class is a write's
    env.health.states[kOld] = State::kDown;
    EXPECT_EQ(targets(false), std::vector<int>{kNew});
}

TEST(ConditionTest, DescribesItsConditionAndSides) {
    EXPECT_EQ(build("{backend_down: old}")->describe(), "condition(backend_down(old), then=new, else=old)");
    EXPECT_EQ(build("{all: [{backend_degraded: new}, {latency_above: {backend: old, p99: 5ms}}, {not: {percent: 12.5}}, "
                    "{any: [{backend_up: old}, {commands: [write, GET]}]}]}")
                  ->describe(),
              "condition(all(backend_degraded(new), latency_above(old, p99=5ms), not(percent(12.5)), "
              "any(backend_up(old), commands(write, get))), then=new, else=old)");
}

// Build errors name the YAML path.
TEST(ConditionTest, RejectsAPercentOutsideZeroToHundred) {
    for (const char* bad : {"150", "-1", "ten", "nan", "[10]"}) {
        auto e = buildError(std::string("{type: condition, when: {percent: ") + bad + "}, then: new, else: old}");
        EXPECT_NE(e.find("test.yaml:1: routes[0].strategy.when.percent: must be a number from 0 to 100"), std::string::npos) << e;
    }
}

// Found by fuzz_config: a condition named by a list or mapping escaped as a yaml-cpp exception.
TEST(ConditionTest, RejectsAConditionNamedByAListOrMapping) {
    auto e = buildError("{type: condition, when: {? [percent]: 10}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when: a key must be a name, not a list or mapping"), std::string::npos) << e;
}

TEST(ConditionTest, RejectsAnUnknownConditionNamingIt) {
    auto e = buildError("{type: condition, when: {percnt: 10}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.percnt: unknown condition 'percnt' (known: all, any, backend_degraded"),
              std::string::npos)
        << e;
}

TEST(ConditionTest, RejectsAnUnknownKeyInsideACondition) {
    auto e = buildError("{type: condition, when: {latency_above: {backend: old, p90: 5ms}}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.latency_above.p99: is required"), std::string::npos) << e;
    e = buildError("{type: condition, when: {latency_above: {backend: old, p99: 5ms, p90: 1ms}}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.latency_above.p90: unknown key"), std::string::npos) << e;
    e = buildError("{type: condition, when: {backend_up: old}, then: new, else: old, otherwise: old}");
    EXPECT_NE(e.find("routes[0].strategy.otherwise: unknown key"), std::string::npos) << e;
}

TEST(ConditionTest, RejectsAnUnknownBackend) {
    auto e = buildError("{type: condition, when: {backend_down: older}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.backend_down: unknown backend 'older'"), std::string::npos) << e;
    e = buildError("{type: condition, when: {backend_down: old}, then: newer, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.then: unknown backend 'newer'"), std::string::npos) << e;
}

TEST(ConditionTest, RejectsAWhenWithoutExactlyOneCondition) {
    auto two = buildError("{type: condition, when: {backend_down: old, percent: 5}, then: new, else: old}");
    EXPECT_NE(two.find("routes[0].strategy.when: must be a mapping with exactly one condition"), std::string::npos) << two;
    auto none = buildError("{type: condition, when: {}, then: new, else: old}");
    EXPECT_NE(none.find("routes[0].strategy.when: must be a mapping with exactly one condition"), std::string::npos) << none;
    auto missing = buildError("{type: condition, then: new, else: old}");
    EXPECT_NE(missing.find("routes[0].strategy.when: is required"), std::string::npos) << missing;
}

TEST(ConditionTest, RejectsABadNestedConditionWithItsFullPath) {
    auto e = buildError("{type: condition, when: {all: [{backend_down: old}, {not: {percent: 200}}]}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.all[1].not.percent: must be a number"), std::string::npos) << e;
    e = buildError("{type: condition, when: {any: []}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.any: must be a non-empty list of conditions"), std::string::npos) << e;
}

TEST(ConditionTest, RejectsAnUnknownCommandName) {
    auto e = buildError("{type: condition, when: {commands: [read, gett]}, then: new, else: old}");
    EXPECT_NE(e.find("routes[0].strategy.when.commands[1]: unknown command 'gett'"), std::string::npos) << e;
}

TEST(ConditionExampleTest, TheExampleConfigLoadsAndBuilds) {
    auto path = std::filesystem::path(__FILE__).parent_path() / "../../../config/examples/condition.yaml";
    auto cfg = config::loadFile(path.string());
    std::vector<std::string> described;
    for (const auto& route : cfg.routes) {
        Builder b(cfg, route.name);
        const auto& node = route.strategy.node;
        bool mine = node.IsMap() && node["type"].Scalar() == "condition";
        described.push_back((mine ? make(node, route.strategy.yaml_path, b) : b.build(node, route.strategy.yaml_path))->describe());
    }
    EXPECT_EQ(described, (Strings{"condition(all(commands(read), percent(10), not(any(backend_degraded(new), "
                                  "latency_above(new, p99=5ms)))), then=new, else=old)",
                                  "old"}));
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/timed_rollover.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <filesystem>

#include "policy/fakes.h"
#include "policy/route_stats.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;
using testing::twoBackends;
using Strings = std::vector<std::string>;

using testing::kNew;
using testing::kOld;

// The stats route of the contract: daily keys "stats:...#YYYY-MM-DD".
const char* kStats = R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(\d{4}-\d{2}-\d{2})$', before: old, after: new})";

std::chrono::system_clock::time_point at(std::string_view utc) {
    auto t = TimedRollover::parseDate(utc);
    EXPECT_TRUE(t.has_value()) << utc;
    return t.value_or(TimedRollover::Time());
}

// Builds through the make-function itself (children through the Builder), so these tests do not
// depend on the strategy table.
std::unique_ptr<Strategy> make(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    r.take("type");
    auto s = makeTimedRollover(r, b);
    r.finish();
    return s;
}

std::unique_ptr<Strategy> build(const std::string& yaml) {
    auto cfg = twoBackends();
    Builder b(cfg, "r");
    return make(YAML::Load(yaml), "routes[0].strategy", b);
}

// Runs `args` through `s` at time `now`; the test answers the backends through env.client.
void run(const Strategy& s, FakeEnv& env, const Cmd& cmd, ClientSink& sink, std::string_view now) {
    env.clock.set(at(now));
    s.execute(cmd.request(), &sink, env.ctx);
}

std::string buildError(const std::string& yaml) {
    return laminar::testing::configError([&] { build(yaml); });
}

// Case 1.
TEST(TimedRolloverTest, ReadsAKeyDatedBeforeTheCutoffFromBefore) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd get({"GET", "stats:clicks#2015-05-12"});
    ClientSink sink;
    run(*s, env, get, sink, "2015-06-01");  // long after the cutoff: the key's date decides a read
    EXPECT_EQ(env.client.rawTo(kOld), Strings{get.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, bulk("41"));
    EXPECT_EQ(sink.reply, bulk("41"));
}

// Case 2.
TEST(TimedRolloverTest, ReadsAKeyDatedOnOrAfterTheCutoffFromAfter) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd get({"GET", "stats:clicks#2015-05-13"});
    ClientSink sink;
    run(*s, env, get, sink, "2015-05-01");  // before the cutoff: still the key's date decides
    EXPECT_EQ(env.client.rawTo(kNew), Strings{get.raw});
    EXPECT_TRUE(env.client.rawTo(kOld).empty());
    env.client.answer(0, "$-1\r\n");
    EXPECT_EQ(sink.reply, "$-1\r\n");
}

TEST(TimedRolloverTest, ComparesADatetimeInTheKeyWithADatetimeCutoff) {
    auto s = build(R"({type: timed_rollover, cutoff: "2015-05-13T10:00:00Z", key_date: '@(\S+)', before: old, after: new})");
    FakeEnv env;
    Cmd early({"GET", "ev@2015-05-13T09:59:59"}), late({"GET", "ev@2015-05-13T10:00:00Z"});
    ClientSink a, b;
    run(*s, env, early, a, "2015-05-13T12:00:00Z");
    run(*s, env, late, b, "2015-05-13T12:00:00Z");
    EXPECT_EQ(env.client.rawTo(kOld), Strings{early.raw});
    EXPECT_EQ(env.client.rawTo(kNew), Strings{late.raw});
    env.client.answer(0, bulk("a"));
    env.client.answer(1, bulk("b"));
}

// Case 3, default `undated: now`.
TEST(TimedRolloverTest, ReadsAnUndatedKeyFromWhereItsWritesGoNow) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd get({"GET", "stats:total"});
    ClientSink before, after;
    run(*s, env, get, before, "2015-05-12T23:59:59Z");
    run(*s, env, get, after, "2015-05-13");
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[1].backend, kNew);
    env.client.answer(0, bulk("1"));
    env.client.answer(1, bulk("2"));
    EXPECT_EQ(before.reply, bulk("1"));
    EXPECT_EQ(after.reply, bulk("2"));
}

// Case 3, `undated: before` / `after`.
TEST(TimedRolloverTest, ReadsAnUndatedKeyFromTheConfiguredSide) {
    auto on_old = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)$', undated: before, before: old, after: new})");
    auto on_new = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)$', undated: after, before: old, after: new})");
    FakeEnv env;
    Cmd get({"GET", "stats:total"});
    ClientSink a, b;
    run(*on_old, env, get, a, "2015-06-01");
    run(*on_new, env, get, b, "2015-05-01");
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[1].backend, kNew);
    env.client.answerAll(kOld, bulk("x"));
    env.client.answerAll(kNew, bulk("y"));
}

// Case 3: a capture that is no date, a key too long to search, a keyless command.
TEST(TimedRolloverTest, TreatsAnInvalidDateATooLongKeyAndAKeylessCommandAsUndated) {
    auto s = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)$', undated: after, before: old, after: new})");
    FakeEnv env;
    Cmd feb30({"GET", "stats#2015-02-30"});
    Cmd long_key({"GET", std::string(TimedRollover::kMaxDatedKey, 'k') + "#2015-05-01"});
    Cmd keyless({"DBSIZE"});
    Cmd dated({"GET", "stats#2015-05-01"});  // the same pattern does find a real date
    ClientSink a, b, c, d;
    run(*s, env, feb30, a, "2015-05-01");
    run(*s, env, long_key, b, "2015-05-01");
    run(*s, env, keyless, c, "2015-05-01");
    run(*s, env, dated, d, "2015-05-01");
    EXPECT_EQ(env.client.rawTo(kNew), (Strings{feb30.raw, long_key.raw, keyless.raw}));
    EXPECT_EQ(env.client.rawTo(kOld), Strings{dated.raw});
    env.client.answerAll(kOld, bulk("x"));
    env.client.answerAll(kNew, bulk("y"));
}

// Case 4.
TEST(TimedRolloverTest, WritesGoToBeforeUntilTheCutoffAndToAfterFromIt) {
    auto s = build(kStats);
    FakeEnv env;
    // The key's date does not matter for a write: the clock does.
    Cmd set({"INCRBY", "stats:clicks#2015-05-20", "3"});
    ClientSink early, late;
    run(*s, env, set, early, "2015-05-12T23:59:59Z");
    run(*s, env, set, late, "2015-05-13");
    EXPECT_EQ(env.client.rawTo(kOld), Strings{set.raw});
    EXPECT_EQ(env.client.rawTo(kNew), Strings{set.raw});
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    env.client.answer(0, ":3\r\n");
    env.client.answer(1, ":6\r\n");
    EXPECT_EQ(early.reply, ":3\r\n");
    EXPECT_EQ(late.reply, ":6\r\n");
}

// The window staggers each key's cutoff by XXH64(key) % window.
TEST(TimedRolloverTest, WithAWindowEachKeySwitchesAtItsOwnMomentWithinTheWindow) {
    auto s = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)$', window: 1h, before: old, after: new})");
    const auto cutoff = at("2015-05-13");
    int switched_midway = 0;
    for (int i = 0; i < 50; ++i) {
        std::string key = "stats:" + std::to_string(i);
        auto offset = std::chrono::milliseconds(XXH64(key.data(), key.size(), 0) % 3'600'000);
        FakeEnv env;
        Cmd set({"SET", key, "v"});
        ClientSink a, b, c;
        env.clock.set(cutoff + offset - std::chrono::milliseconds(1));
        s->execute(set.request(), &a, env.ctx);
        env.clock.set(cutoff + offset);
        s->execute(set.request(), &b, env.ctx);
        env.clock.set(cutoff + std::chrono::minutes(30));
        s->execute(set.request(), &c, env.ctx);
        ASSERT_EQ(env.client.sent.size(), 3u);
        EXPECT_EQ(env.client.sent[0].backend, kOld) << key;
        EXPECT_EQ(env.client.sent[1].backend, kNew) << key;
        switched_midway += env.client.sent[2].backend == kNew;
        env.client.answerAll(kOld, "+OK\r\n");
        env.client.answerAll(kNew, "+OK\r\n");
    }
    EXPECT_GT(switched_midway, 10);  // about half of the keys have switched halfway through
    EXPECT_LT(switched_midway, 40);
}

TEST(TimedRolloverTest, WithAWindowAKeyDatedWithinItReadsFromWhereItWasWritten) {
    auto s = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '@(\S+)', window: 1h, before: old, after: new})");
    // A key dated at the moment it is written reads from the side that write went to.
    for (int minute = 0; minute < 60; minute += 7) {
        std::string when = fmt::format("2015-05-13T00:{:02}:00", minute);
        FakeEnv env;
        Cmd set({"SET", "ev@" + when, "v"}), get({"GET", "ev@" + when});
        ClientSink a, b;
        run(*s, env, set, a, when);
        run(*s, env, get, b, when);
        ASSERT_EQ(env.client.sent.size(), 2u);
        EXPECT_EQ(env.client.sent[0].backend, env.client.sent[1].backend) << when;
        env.client.answer(0, "+OK\r\n");
        env.client.answer(1, bulk("v"));
    }
}

// Case 5: after the cutoff, an old key's delete reaches both; the reply is old's, where it is read.
TEST(TimedRolloverTest, DeletesGoToBothSidesAndAnswerFromTheSideTheKeyReadsFrom) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd del({"DEL", "stats:clicks#2015-05-01"});
    ClientSink sink;
    run(*s, env, del, sink, "2015-06-01");
    EXPECT_EQ(env.client.rawTo(kOld), Strings{del.raw});
    EXPECT_EQ(env.client.rawTo(kNew), Strings{del.raw});
    // new (where the key would be written now) does not have it; old does.
    for (size_t i = 0; i < env.client.sent.size(); ++i)
        if (env.client.sent[i].backend == kNew) env.client.answer(i, ":0\r\n");
    EXPECT_FALSE(sink.reply.has_value());
    env.client.answerAll(kOld, ":1\r\n");
    EXPECT_EQ(sink.reply, ":1\r\n");
}

// Case 5: whatever the time, and without waiting for the other side.
TEST(TimedRolloverTest, DeletesBeforeTheCutoffAlsoReachBothAndDoNotWaitForTheOtherSide) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd unlink({"UNLINK", "stats:clicks#2015-05-20"});  // reads from new, written to old today
    ClientSink sink;
    run(*s, env, unlink, sink, "2015-05-01");
    ASSERT_EQ(env.client.sent.size(), 2u);
    env.client.answerAll(kNew, ":1\r\n");
    EXPECT_EQ(sink.reply, ":1\r\n");
    EXPECT_EQ(env.client.unanswered(), 1u);
    env.client.answerAll(kOld, ":0\r\n");  // the other side's reply is dropped
    EXPECT_EQ(sink.reply, ":1\r\n");
}

// Case 5: the client is not told of the other side's failure; the route counts it.
TEST(TimedRolloverTest, CountsAFailedDeleteOnTheOtherSideAsASecondaryFailure) {
    auto s = build(kStats);
    FakeEnv env;
    RouteStats stats;
    env.ctx.stats = &stats;
    Cmd del({"DEL", "stats:clicks#2015-05-01"});
    ClientSink sink;
    run(*s, env, del, sink, "2015-05-01");
    env.client.answerAll(kOld, ":1\r\n");
    for (size_t i = 0; i < env.client.sent.size(); ++i)
        if (env.client.sent[i].backend == kNew)
            env.client.answer(i, "-ERR laminar: backend 'new' unavailable: connection refused\r\n", true);
    EXPECT_EQ(sink.reply, ":1\r\n");
    EXPECT_FALSE(sink.failed);
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

// Case 6.
TEST(TimedRolloverTest, RoutesAMultiKeyCommandByItsFirstKeyWhenAllKeysAgree) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd mget({"MGET", "stats:a#2015-05-13", "stats:b#2015-05-14"});
    ClientSink sink;
    run(*s, env, mget, sink, "2015-05-01");
    EXPECT_EQ(env.client.rawTo(kNew), Strings{mget.raw});
    env.client.answer(0, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    EXPECT_EQ(sink.reply, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

// Case 6.
TEST(TimedRolloverTest, RefusesAMultiKeyCommandWhoseKeysFallOnBothSides) {
    auto s = build(kStats);
    FakeEnv env;
    Cmd mget({"MGET", "stats:a#2015-05-12", "stats:b#2015-05-13"});
    ClientSink sink;
    run(*s, env, mget, sink, "2015-05-20");
    EXPECT_TRUE(env.client.sent.empty());
    ASSERT_TRUE(sink.reply.has_value());
    EXPECT_EQ(*sink.reply, "-ERR laminar: 'mget' has keys on both sides of the timed_rollover cutoff; send them separately\r\n");
}

TEST(TimedRolloverTest, ChildrenMayBeStrategies) {
    auto s = build(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)$', before: {type: read_only, target: old}, after: new})");
    FakeEnv env;
    Cmd set({"SET", "stats#2015-05-01", "v"});
    ClientSink frozen, open;
    run(*s, env, set, frozen, "2015-05-01");
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_EQ(frozen.reply, "-READONLY laminar: route 'r' is read-only\r\n");
    run(*s, env, set, open, "2015-05-13");
    EXPECT_EQ(env.client.rawTo(kNew), Strings{set.raw});
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(open.reply, "+OK\r\n");
}

TEST(TimedRolloverTest, PinsToBeforeAndReportsTheTargetsExecuteWouldUse) {
    auto s = build(kStats);
    FakeEnv env;
    EXPECT_EQ(s->pinTarget(), kOld);
    env.clock.set(at("2015-06-01"));
    auto targets = [&](const Cmd& c, bool write) {
        std::vector<int> out;
        s->targets(c.request(), env.ctx, write, out);
        return out;
    };
    Cmd get({"GET", "stats#2015-05-01"}), set({"SET", "stats#2015-05-01", "v"}), del({"DEL", "stats#2015-05-01"});
    Cmd split({"MGET", "stats#2015-05-01", "stats#2015-05-20"});
    EXPECT_EQ(targets(get, false), std::vector<int>{kOld});
    EXPECT_EQ(targets(set, true), std::vector<int>{kNew});
    EXPECT_EQ(targets(del, true), (std::vector<int>{kOld, kNew}));
    EXPECT_TRUE(targets(split, false).empty());
}

TEST(TimedRolloverTest, DescribesItsCutoffAndSides) {
    EXPECT_EQ(build(kStats)->describe(), "timed_rollover(cutoff=2015-05-13, before=old, after=new)");
    EXPECT_EQ(build(R"({type: timed_rollover, cutoff: "2015-05-13T10:00:00Z", key_date: '#(.*)', window: 2h, undated: before,
                        before: old, after: {type: read_only, target: new}})")
                  ->describe(),
              "timed_rollover(cutoff=2015-05-13T10:00:00Z, window=2h, undated=before, before=old, after=read_only(new))");
}

TEST(TimedRolloverTest, ParsesOnlyValidUtcDates) {
    EXPECT_EQ(at("2015-05-13T10:00:00Z"), at("2015-05-13") + std::chrono::hours(10));
    EXPECT_EQ(TimedRollover::parseDate("2015-05-13T10:00:00").value(), TimedRollover::parseDate("2015-05-13T10:00:00Z").value());
    for (const char* bad : {"2015-5-13", "2015-02-29", "2015-05-13 10:00:00", "2015-05-13T24:00:00", "2015-05-13T10:00:00+02:00",
                            "2015-05-13Z", "20150513", ""})
        EXPECT_FALSE(TimedRollover::parseDate(bad).has_value()) << bad;
    EXPECT_TRUE(TimedRollover::parseDate("2016-02-29").has_value());
}

// Build errors name the YAML path.
TEST(TimedRolloverTest, RejectsAnInvalidRegexNamingItsPath) {
    auto e = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(\d{4}', before: old, after: new})");
    EXPECT_NE(e.find("test.yaml:1: routes[0].strategy.key_date: is not a valid regex"), std::string::npos) << e;
}

TEST(TimedRolloverTest, RejectsARegexWithoutACaptureGroup) {
    auto e = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#\d+', before: old, after: new})");
    EXPECT_NE(e.find("routes[0].strategy.key_date: needs a capture group"), std::string::npos) << e;
}

TEST(TimedRolloverTest, RejectsAMissingOrInvalidCutoff) {
    auto missing = buildError(R"({type: timed_rollover, key_date: '#(.*)', before: old, after: new})");
    EXPECT_NE(missing.find("routes[0].strategy.cutoff: is required"), std::string::npos) << missing;
    auto bad = buildError(R"({type: timed_rollover, cutoff: 2015-13-01, key_date: '#(.*)', before: old, after: new})");
    EXPECT_NE(bad.find("routes[0].strategy.cutoff: must be a UTC date"), std::string::npos) << bad;
}

TEST(TimedRolloverTest, RejectsAnUnknownBackend) {
    auto e = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)', before: old, after: newer})");
    EXPECT_NE(e.find("routes[0].strategy.after: unknown backend 'newer'"), std::string::npos) << e;
}

TEST(TimedRolloverTest, RejectsAnInvalidUndatedSideAndWindow) {
    auto undated = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)', undated: later, before: old, after: new})");
    EXPECT_NE(undated.find("routes[0].strategy.undated: must be now, before or after, got 'later'"), std::string::npos) << undated;
    auto window = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)', window: 9000h, before: old, after: new})");
    EXPECT_NE(window.find("routes[0].strategy.window: must be at most 8760h (a year), got 9000h"), std::string::npos) << window;
    auto unitless = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)', window: 60, before: old, after: new})");
    EXPECT_NE(unitless.find("routes[0].strategy.window: must be a duration"), std::string::npos) << unitless;
}

TEST(TimedRolloverTest, RejectsAnUnknownKey) {
    auto e = buildError(R"({type: timed_rollover, cutoff: 2015-05-13, key_date: '#(.*)', windw: 1h, before: old, after: new})");
    EXPECT_NE(e.find("routes[0].strategy.windw: unknown key"), std::string::npos) << e;
}

TEST(TimedRolloverExampleTest, TheExampleConfigLoadsAndBuilds) {
    auto path = std::filesystem::path(__FILE__).parent_path() / "../../../config/examples/timed_rollover.yaml";
    auto cfg = config::loadFile(path.string());
    std::vector<std::string> described;
    for (const auto& route : cfg.routes) {
        Builder b(cfg, route.name);
        const auto& node = route.strategy.node;
        bool mine = node.IsMap() && node["type"].Scalar() == "timed_rollover";
        described.push_back((mine ? make(node, route.strategy.yaml_path, b) : b.build(node, route.strategy.yaml_path))->describe());
    }
    EXPECT_EQ(described, (Strings{"timed_rollover(cutoff=2015-05-13, window=1h, before=old, after=new)", "old"}));
}

}  // namespace
}  // namespace laminar::policy

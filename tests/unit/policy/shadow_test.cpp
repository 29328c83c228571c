// SPDX-License-Identifier: Apache-2.0
#include "policy/shadow.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "obs/logging.h"
#include "fakes.h"  // tests/unit/policy/fakes.h
#include "policy/route_stats.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;

using testing::kNew;
using testing::kOld;

// `{type: shadow, ...}` built by makeShadow itself, so these tests do not depend on the type table.
std::unique_ptr<Strategy> buildShadow(const std::string& yaml, const config::Config& cfg) {
    Builder b(cfg, "r");
    YAML::Node node = YAML::Load(yaml);
    config::MapReader r(b.ctx(), node, "routes[0].strategy");
    r.take("type");
    auto s = makeShadow(r, b);
    r.finish();
    return s;
}

class ShadowTest : public ::testing::Test {
protected:
    void SetUp() override { env.ctx.stats = &stats; }

    std::unique_ptr<Strategy> build(const std::string& yaml) { return buildShadow(yaml, cfg); }

    void run(const Strategy& s, const Cmd& c, ClientSink& client) {
        auto req = c.request();
        s.execute(req, &client, env.ctx);
    }

    // Whether `key` is shadowed by `s`, found by sending GET key and answering both sides.
    bool shadowsKey(const Strategy& s, const std::string& key) {
        size_t before = env.background.sent.size();
        ClientSink client;
        run(s, Cmd({"GET", key}), client);
        env.client.answerAll(kOld, bulk("v"));
        env.background.answerAll(kNew, bulk("v"));
        return env.background.sent.size() > before;
    }

    uint64_t compared() const { return stats.shadow_compared.load(); }
    uint64_t mismatches() const { return stats.shadow_mismatches.load(); }
    uint64_t failures() const { return stats.shadow_failures.load(); }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
    RouteStats stats;
};

// 1
TEST_F(ShadowTest, TheClientGetsThePrimaryReplyBeforeTheShadowAnswers) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);

    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{get.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    EXPECT_EQ(env.background.rawTo(kNew), std::vector<std::string>{get.raw});
    EXPECT_TRUE(env.background.rawTo(kOld).empty());

    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(compared(), 0u);

    env.background.answer(0, bulk("v"));
    EXPECT_EQ(compared(), 1u);
    EXPECT_EQ(mismatches(), 0u);
    EXPECT_EQ(failures(), 0u);
}

TEST_F(ShadowTest, TheClientGetsThePrimaryReplyExactlyAsItCame) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    std::string with_attribute = "|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.19\r\n$1\r\nv\r\n";
    env.client.answer(0, with_attribute);
    env.background.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, with_attribute);
    EXPECT_EQ(compared(), 1u);
    EXPECT_EQ(mismatches(), 0u);
}

// 3
TEST_F(ShadowTest, AMismatchIsCountedWhenTheShadowAnswersLater) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, bulk("v1"));
    EXPECT_EQ(client.reply, bulk("v1"));
    env.background.answer(0, bulk("v2"));
    EXPECT_EQ(compared(), 1u);
    EXPECT_EQ(mismatches(), 1u);
    EXPECT_EQ(client.reply, bulk("v1"));
}

TEST_F(ShadowTest, AShadowThatAnsweredFirstIsComparedWhenThePrimaryAnswers) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.background.answer(0, "$-1\r\n");
    EXPECT_FALSE(client.reply.has_value());
    EXPECT_EQ(compared(), 0u);

    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_EQ(compared(), 1u);
    EXPECT_EQ(mismatches(), 1u);
}

TEST_F(ShadowTest, OrderInsensitiveRepliesAreEqualInAnyOrder) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"SMEMBERS", "s"}), client);
    env.background.answer(0, "*2\r\n$1\r\nb\r\n$1\r\na\r\n");
    env.client.answer(0, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    EXPECT_EQ(client.reply, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    EXPECT_EQ(compared(), 1u);
    EXPECT_EQ(mismatches(), 0u);
}

// 4
TEST_F(ShadowTest, AFailedShadowIsCountedAndTheClientIsUnaffected) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink first, second;
    run(*s, Cmd({"GET", "k"}), first);
    run(*s, Cmd({"GET", "k"}), second);
    // One fails after the primary answered, one before.
    env.client.answer(0, bulk("v"));
    env.background.answer(0, "-ERR laminar: backend 'new' unavailable: connection refused\r\n", true);
    env.background.answer(1, "-ERR laminar: backend 'new' timed out after 1000 ms\r\n", true);
    env.client.answer(1, bulk("v"));

    EXPECT_EQ(first.reply, bulk("v"));
    EXPECT_FALSE(first.failed);
    EXPECT_EQ(second.reply, bulk("v"));
    EXPECT_FALSE(second.failed);
    EXPECT_EQ(failures(), 2u);
    EXPECT_EQ(compared(), 0u);
    EXPECT_EQ(mismatches(), 0u);
}

TEST_F(ShadowTest, AShadowThatLaminarRefusesCountsAsAFailure) {
    // The nested read_only answers the write itself, at once, with a "laminar:" error.
    auto s = build("{type: shadow, primary: old, shadow: {type: read_only, target: new}, writes: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_TRUE(env.background.sent.empty());
    EXPECT_EQ(failures(), 1u);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_EQ(compared(), 0u);
}

TEST_F(ShadowTest, NothingIsComparedWhenThePrimaryFails) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    std::string down = "-ERR laminar: backend 'old' unavailable: connection refused\r\n";
    env.client.answer(0, down, true);
    env.background.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, down);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(compared(), 0u);
    EXPECT_EQ(failures(), 0u);
}

// 2
TEST_F(ShadowTest, SampleZeroSendsNothingToTheShadow) {
    auto s = build("{type: shadow, primary: old, shadow: new, sample: 0, writes: both}");
    for (int i = 0; i < 100; ++i) {
        ClientSink read, write;
        run(*s, Cmd({"GET", "k" + std::to_string(i)}), read);
        run(*s, Cmd({"SET", "k" + std::to_string(i), "v"}), write);
        env.client.answerAll(kOld, "+OK\r\n");
        EXPECT_TRUE(read.reply.has_value());
        EXPECT_TRUE(write.reply.has_value());
    }
    EXPECT_EQ(env.client.sent.size(), 200u);
    EXPECT_TRUE(env.background.sent.empty());
}

TEST_F(ShadowTest, SamplingIsKeyConsistent) {
    auto s = build("{type: shadow, primary: old, shadow: new, sample: 0.5}");
    for (int k = 0; k < 10; ++k) {
        std::string key = "user:" + std::to_string(k);
        bool first = shadowsKey(*s, key);
        for (int i = 0; i < 100; ++i) ASSERT_EQ(shadowsKey(*s, key), first) << key << " on try " << i;
    }
    int shadowed = 0;
    for (int k = 0; k < 1000; ++k) shadowed += shadowsKey(*s, "key:" + std::to_string(k));
    EXPECT_GT(shadowed, 400);
    EXPECT_LT(shadowed, 600);
    EXPECT_EQ(env.client.unanswered() + env.background.unanswered(), 0u);
}

TEST_F(ShadowTest, AReadWithSeveralKeysIsShadowedOnlyWhenAllAreSampled) {
    auto s = build("{type: shadow, primary: old, shadow: new, sample: 0.5, writes: both}");
    std::vector<std::string> in, out;
    for (int k = 0; in.size() < 2 || out.empty(); ++k) {
        std::string key = "k" + std::to_string(k);
        (shadowsKey(*s, key) ? in : out).push_back(key);
    }
    size_t before = env.background.sent.size();
    ClientSink a, b, c;
    run(*s, Cmd({"MGET", in[0], out[0]}), a);
    EXPECT_EQ(env.background.sent.size(), before);
    run(*s, Cmd({"MGET", in[0], in[1]}), b);
    EXPECT_EQ(env.background.sent.size(), before + 1);
    // A write with any sampled key goes to both, so that key's shadow copy misses no write.
    run(*s, Cmd({"MSET", out[0], "1", in[0], "2"}), c);
    EXPECT_EQ(env.background.sent.size(), before + 2);
    env.client.answerAll(kOld, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    env.background.answerAll(kNew, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

TEST_F(ShadowTest, KeylessAndUncomparableReadsAreNotShadowed) {
    auto s = build("{type: shadow, primary: old, shadow: new, writes: both}");
    std::vector<std::vector<std::string>> commands = {
        {"PING"}, {"DBSIZE"}, {"KEYS", "*"}, {"SCAN", "0"}, {"SRANDMEMBER", "s"}, {"SSCAN", "s", "0"},
        {"DUMP", "k"}, {"OBJECT", "ENCODING", "k"}, {"BLPOP", "l", "1"}, {"XREAD", "STREAMS", "x", "0"}};
    for (const auto& argv : commands) {
        ClientSink client;
        run(*s, Cmd(argv), client);
        env.client.answerAll(kOld, ":1\r\n");
        EXPECT_TRUE(client.reply.has_value()) << argv[0];
        EXPECT_TRUE(env.background.sent.empty()) << argv[0];
    }
    EXPECT_EQ(env.client.sent.size(), commands.size());
}

// 5
TEST_F(ShadowTest, WritesGoToThePrimaryOnlyByDefault) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    Cmd set({"SET", "k", "v"}), del({"DEL", "k"});
    ClientSink a, b;
    run(*s, set, a);
    run(*s, del, b);
    EXPECT_EQ(env.client.rawTo(kOld), (std::vector<std::string>{set.raw, del.raw}));
    EXPECT_TRUE(env.background.sent.empty());
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, ":1\r\n");
    EXPECT_EQ(a.reply, "+OK\r\n");
    EXPECT_EQ(b.reply, ":1\r\n");
    EXPECT_EQ(compared(), 0u);
}

TEST_F(ShadowTest, WritesGoToBothWithWritesBothAndTheirRepliesAreCompared) {
    auto s = build("{type: shadow, primary: old, shadow: new, writes: both}");
    Cmd set({"SET", "k", "v"}), incr({"INCR", "n"});
    ClientSink a, b;
    run(*s, set, a);
    run(*s, incr, b);
    EXPECT_EQ(env.client.rawTo(kOld), (std::vector<std::string>{set.raw, incr.raw}));
    EXPECT_EQ(env.background.rawTo(kNew), (std::vector<std::string>{set.raw, incr.raw}));

    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, ":2\r\n");
    EXPECT_EQ(a.reply, "+OK\r\n");
    EXPECT_EQ(b.reply, ":2\r\n");
    env.background.answer(0, "+OK\r\n");
    env.background.answer(1, ":1\r\n");  // the shadow's counter started later
    EXPECT_EQ(compared(), 2u);
    EXPECT_EQ(mismatches(), 1u);
}

TEST_F(ShadowTest, UncomparableWritesOnlyCountFailures) {
    auto s = build("{type: shadow, primary: old, shadow: new, writes: both}");
    ClientSink a, b;
    run(*s, Cmd({"SPOP", "s"}), a);
    run(*s, Cmd({"SPOP", "s"}), b);
    env.client.answerAll(kOld, bulk("a"));
    env.background.answer(0, bulk("b"));
    env.background.answer(1, "-ERR laminar: backend 'new' unavailable: connection refused\r\n", true);
    EXPECT_EQ(compared(), 0u);
    EXPECT_EQ(mismatches(), 0u);
    EXPECT_EQ(failures(), 1u);
}

// Fire-and-forget work owns what it uses: the strategy (a reload) may go before the shadow answers.
TEST_F(ShadowTest, AComparisonOutlivesItsStrategy) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, bulk("v"));
    s.reset();
    env.background.answer(0, bulk("w"));
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_EQ(mismatches(), 1u);
}

TEST_F(ShadowTest, MismatchesAreLoggedAtMostOncePerSecondWithoutWholeValues) {
    std::ostringstream lines;
    auto logger = obs::logger("shadow");
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
    sink->set_pattern("%v");
    logger->sinks().push_back(sink);

    auto s = build("{type: shadow, primary: old, shadow: new}");
    std::string big(1000, 'x');
    for (int i = 0; i < 3; ++i) {
        ClientSink client;
        run(*s, Cmd({"GET", "user:\"42\""}), client);
        env.client.answerAll(kOld, bulk(big));
        env.background.answerAll(kNew, bulk(big + "y"));
    }
    logger->sinks().pop_back();

    EXPECT_EQ(mismatches(), 3u);
    std::string text = lines.str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    EXPECT_NE(text.find("route 'r'"), std::string::npos) << text;
    EXPECT_NE(text.find("get key \"user:\\u002242\\u0022\""), std::string::npos) << text;
    EXPECT_EQ(text.find(std::string(100, 'x')), std::string::npos) << text;
    EXPECT_LT(text.size(), 400u) << text;
}

// 6
TEST_F(ShadowTest, PinsToThePrimaryAndDescribesItself) {
    auto s = build("{type: shadow, primary: old, shadow: new, sample: 0.1}");
    EXPECT_EQ(s->type(), "shadow");
    EXPECT_EQ(s->pinTarget(), kOld);
    EXPECT_EQ(s->describe(), "shadow(primary=old, shadow=new, sample=0.1)");
    auto both = build("{type: shadow, primary: new, shadow: {type: read_only, target: old}, writes: both}");
    EXPECT_EQ(both->pinTarget(), kNew);
    EXPECT_EQ(both->describe(), "shadow(primary=new, shadow=read_only(old), sample=1, writes=both)");
}

TEST_F(ShadowTest, TargetsNameTheShadowForShadowedCommands) {
    auto s = build("{type: shadow, primary: old, shadow: new}");
    auto w = build("{type: shadow, primary: old, shadow: new, writes: both}");
    Cmd get({"GET", "k"}), set({"SET", "k", "v"});
    std::vector<int> out;
    s->targets(get.request(), env.ctx, false, out);
    EXPECT_EQ(out, (std::vector<int>{kOld, kNew}));
    out.clear();
    s->targets(set.request(), env.ctx, true, out);
    EXPECT_EQ(out, (std::vector<int>{kOld}));
    out.clear();
    w->targets(set.request(), env.ctx, true, out);
    EXPECT_EQ(out, (std::vector<int>{kOld, kNew}));
}

TEST_F(ShadowTest, RejectsBadFieldsNamingThem) {
    auto error = [&](const std::string& yaml) { return laminar::testing::configError([&] { build(yaml); }); };
    EXPECT_NE(error("{type: shadow, primary: old, shadow: new, sample: 1.5}").find("routes[0].strategy.sample: must be a number from 0 to 1"),
              std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old, shadow: new, sample: half}").find("got 'half'"), std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old, shadow: new, writes: shadow}").find("routes[0].strategy.writes: must be primary or both"),
              std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old, shadow: old}").find("routes[0].strategy.shadow: must differ from primary"),
              std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old}").find("routes[0].strategy.shadow: is required"), std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old, shadow: nowhere}").find("unknown backend 'nowhere'"), std::string::npos);
    EXPECT_NE(error("{type: shadow, primary: old, shadow: new, smaple: 0.1}").find("routes[0].strategy.smaple: unknown key"),
              std::string::npos);
}

TEST(ShadowExampleTest, TheExampleConfigLoadsAndBuilds) {
    auto path = std::filesystem::path(__FILE__).parent_path() / "../../../config/examples/shadow.yaml";
    auto cfg = config::loadFile(path.string());
    ASSERT_EQ(cfg.routes.size(), 2u);
    std::vector<std::string> described;
    for (const auto& route : cfg.routes) {
        Builder b(cfg, route.name);
        const auto& node = route.strategy.node;
        if (node.IsMap() && node["type"].Scalar() == "shadow") {
            config::MapReader r(b.ctx(), node, route.strategy.yaml_path);
            r.take("type");
            auto s = makeShadow(r, b);
            r.finish();
            described.push_back(s->describe());
        } else {
            described.push_back(b.build(node, route.strategy.yaml_path)->describe());
        }
    }
    EXPECT_EQ(described, (std::vector<std::string>{"shadow(primary=old, shadow=new, sample=0.1, writes=both)", "old"}));
}

}  // namespace
}  // namespace laminar::policy

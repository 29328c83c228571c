// SPDX-License-Identifier: Apache-2.0
// Proxied access (src/policy/proxy.cpp): every command goes to `target` as it came and its reply
// comes back as it went, the strategy's hooks name only `target`, and `proxy {target}` is refused
// without a known backend.
#include "policy/proxy.h"

#include <gtest/gtest.h>

#include "fakes.h"  // tests/unit/policy/fakes.h
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::buildStrategy;
using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;
using testing::kDownNew;
using testing::kNew;
using testing::kOld;

class ProxyTest : public ::testing::Test {
protected:
    std::unique_ptr<Strategy> build(const std::string& yaml) { return buildStrategy(yaml, cfg); }
    std::string buildError(const std::string& yaml) { return laminar::testing::configError([&] { build(yaml); }); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) { s.execute(c.request(), &client, env.ctx); }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
};

// 1
TEST_F(ProxyTest, SendsAReadToTheTargetAsItCameAndReturnsTheReplyAsItWent) {
    auto s = build("{type: proxy, target: new}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);

    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].backend, kNew);
    EXPECT_EQ(env.client.sent[0].raw, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    EXPECT_TRUE(env.background.sent.empty());
    EXPECT_FALSE(client.reply.has_value()) << "no reply before the target's";

    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, "$1\r\nv\r\n");
    EXPECT_FALSE(client.failed);
}

// 1
TEST_F(ProxyTest, SendsAWriteToTheTargetOnlyAndPassesItsErrorReplyThrough) {
    auto s = build("{type: proxy, target: old}");
    Cmd set({"SET", "k", "a\r\nb"});
    ClientSink client;
    run(*s, set, client);

    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[0].raw, set.raw) << "binary values are not touched";
    EXPECT_TRUE(env.client.rawTo(kNew).empty());

    env.client.answer(0, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    EXPECT_EQ(client.reply, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    EXPECT_FALSE(client.failed) << "the backend's own error is a reply, not a failure";
}

// 1: each command has its own sink, so pipelined replies reach the right client command.
TEST_F(ProxyTest, EachCommandOfAPipelineGetsItsOwnReply) {
    auto s = build("{type: proxy, target: new}");
    ClientSink first, second;
    run(*s, Cmd({"INCR", "n"}), first);
    run(*s, Cmd({"GET", "n"}), second);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.rawTo(kNew), (std::vector<std::string>{Cmd({"INCR", "n"}).raw, Cmd({"GET", "n"}).raw}));

    env.client.answer(0, ":1\r\n");
    EXPECT_EQ(first.reply, ":1\r\n");
    EXPECT_FALSE(second.reply.has_value());
    env.client.answer(1, bulk("1"));
    EXPECT_EQ(second.reply, "$1\r\n1\r\n");
}

// 2
TEST_F(ProxyTest, WhenTheTargetCannotAnswerTheClientGetsTheErrorThatNamesIt) {
    auto s = build("{type: proxy, target: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
}

TEST_F(ProxyTest, ABareBackendNameIsAProxyToIt) {
    auto s = build("new");
    EXPECT_EQ(s->type(), "proxy");
    ASSERT_NE(dynamic_cast<const Proxy*>(s.get()), nullptr);
    EXPECT_EQ(dynamic_cast<const Proxy&>(*s).target(), kNew);
    EXPECT_EQ(s->describe(), "new");
}

TEST_F(ProxyTest, PinsReportsAndDescribesOnlyTheTarget) {
    auto s = build("{type: proxy, target: old}");
    EXPECT_EQ(s->type(), "proxy");
    EXPECT_EQ(s->pinTarget(), kOld);
    EXPECT_EQ(s->describe(), "old");

    Cmd set({"SET", "k", "v"});
    std::vector<int> reads, writes;
    s->targets(set.request(), env.ctx, false, reads);
    s->targets(set.request(), env.ctx, true, writes);
    EXPECT_EQ(reads, std::vector<int>{kOld});
    EXPECT_EQ(writes, std::vector<int>{kOld});
    EXPECT_FALSE(s->serializes(set.request())) << "nothing to wait for: one send, one reply";
    EXPECT_FALSE(s->refusesWrites());
}

TEST_F(ProxyTest, TheTargetIsTheOnlyBackendTheBuilderReaches) {
    Builder b(cfg, "r");
    auto s = b.build(YAML::Load("{type: proxy, target: new}"), "routes[0].strategy");
    EXPECT_EQ(b.reached(), std::vector<int>{kNew});
}

TEST_F(ProxyTest, WithoutATargetTheConfigurationIsRefused) {
    EXPECT_EQ(buildError("{type: proxy}"), "test.yaml:1: routes[0].strategy.target: is required (a backend name)");
}

TEST_F(ProxyTest, ATargetThatIsNoBackendIsRefused) {
    EXPECT_EQ(buildError("{type: proxy, target: nope}"), "test.yaml:1: routes[0].strategy.target: unknown backend 'nope'");
    EXPECT_EQ(buildError("{type: proxy, target: [old, new]}"), "test.yaml:1: routes[0].strategy.target: must be a backend name");
}

TEST_F(ProxyTest, AnUnknownSettingIsRefused) {
    EXPECT_TRUE(laminar::testing::failsWithConfigError([&] { build("{type: proxy, target: old, mode: fast}"); }, "mode"));
}

}  // namespace
}  // namespace laminar::policy

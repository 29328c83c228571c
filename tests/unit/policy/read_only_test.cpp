// SPDX-License-Identifier: Apache-2.0
#include "policy/read_only.h"

#include <gtest/gtest.h>

#include "fakes.h"  // tests/unit/policy/fakes.h

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::buildStrategy;
using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;

using testing::kNew;
using testing::kOld;

class ReadOnlyTest : public ::testing::Test {
protected:
    std::unique_ptr<Strategy> build(const std::string& yaml) { return buildStrategy(yaml, cfg); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) {
        auto req = c.request();
        s.execute(req, &client, env.ctx);
    }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
};

// 1
TEST_F(ReadOnlyTest, ForwardsAReadToTheTargetUnchangedAndReturnsItsReplyUnchanged) {
    auto s = build("{type: read_only, target: old}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);

    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[0].raw, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    EXPECT_TRUE(env.background.sent.empty());
    EXPECT_FALSE(client.reply.has_value());

    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, "$1\r\nv\r\n");
    EXPECT_FALSE(client.failed);
}

TEST_F(ReadOnlyTest, PassesATargetFailureToTheClient) {
    auto s = build("{type: read_only, target: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    std::string down = "-ERR laminar: backend 'new' unavailable: connection refused\r\n";
    env.client.answer(0, down, true);
    EXPECT_EQ(client.reply, down);
    EXPECT_TRUE(client.failed);
}

TEST_F(ReadOnlyTest, ReadsThroughANestedStrategy) {
    auto s = build("{type: read_only, target: {type: dual_lookup, first: new, second: old}}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{get.raw});
    env.client.answer(0, "$-1\r\n");
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{get.raw});
    env.client.answer(1, bulk("from-old"));
    EXPECT_EQ(client.reply, bulk("from-old"));
    EXPECT_EQ(s->describe(), "read_only(dual_lookup(first=new, second=old, writes=first, warm=false))");
    EXPECT_EQ(s->pinTarget(), kNew);
}

TEST_F(ReadOnlyTest, ReportsTheTargetForReadsAndNoBackendForWrites) {
    auto s = build("{type: read_only, target: new}");
    Cmd get({"GET", "k"}), set({"SET", "k", "v"});
    std::vector<int> reads, writes;
    s->targets(get.request(), env.ctx, false, reads);
    s->targets(set.request(), env.ctx, true, writes);
    EXPECT_EQ(reads, std::vector<int>{kNew});
    EXPECT_TRUE(writes.empty());
    EXPECT_EQ(s->describe(), "read_only(new)");
}

// 2
TEST_F(ReadOnlyTest, RefusesAWriteNamingTheRouteAndSendsItNowhere) {
    auto s = build("{type: read_only, target: old}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_EQ(client.reply, "-READONLY laminar: route 'r' is read-only\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_TRUE(env.background.sent.empty());
}

TEST_F(ReadOnlyTest, RefusesEveryKindOfWrite) {
    auto s = build("{type: read_only, target: old}");
    for (auto args : std::vector<std::vector<std::string>>{{"DEL", "k"}, {"INCR", "k"}, {"LPUSH", "l", "x"},
                                                           {"EXPIRE", "k", "10"}, {"MSET", "a", "1", "b", "2"},
                                                           {"FLUSHALL"}}) {
        SCOPED_TRACE(args[0]);
        ClientSink client;
        run(*s, Cmd(args), client);
        EXPECT_EQ(client.reply, "-READONLY laminar: route 'r' is read-only\r\n");
    }
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_TRUE(env.background.sent.empty());
}

TEST_F(ReadOnlyTest, RefusesAWriteEvenWhenTheTargetIsANestedDualWrite) {
    auto s = build("{type: read_only, target: {type: dual_write, primary: old, secondary: new, mode: command}}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_EQ(client.reply, "-READONLY laminar: route 'r' is read-only\r\n");
    EXPECT_TRUE(env.client.sent.empty());
}

}  // namespace
}  // namespace laminar::policy

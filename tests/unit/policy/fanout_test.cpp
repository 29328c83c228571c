// SPDX-License-Identifier: Apache-2.0
#include "policy/fanout.h"

#include <gtest/gtest.h>

#include "fakes.h"  // tests/unit/policy/fakes.h
#include "policy/proxy.h"

namespace laminar::policy {
namespace {

using testing::ClientSink;
using testing::Cmd;
using testing::FakeEnv;
using testing::kDownNew;
using testing::kNew;
using testing::kOld;

// sendToBoth between proxies to old (first) and new (second), over fake connections.
class FanoutTest : public ::testing::Test {
protected:
    void TearDown() override { EXPECT_EQ(env.client.unanswered(), 0u); }

    void send(const Cmd& c, ClientSink& client, Merge merge) {
        auto req = c.request();
        sendToBoth(req, &client, env.ctx, old_, new_, merge, &failures);
    }

    FakeEnv env;
    std::atomic<uint64_t> failures{0};
    Proxy old_{kOld, "old"};
    Proxy new_{kNew, "new"};
};

TEST_F(FanoutTest, SendsTheCommandToBothBeforeEitherReplies) {
    Cmd del({"DEL", "k"});
    ClientSink client;
    send(del, client, Merge::kFirst);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[1].backend, kNew);
    EXPECT_EQ(env.client.sent[0].raw, del.raw);
    EXPECT_EQ(env.client.sent[1].raw, del.raw);
    env.client.answer(0, ":1\r\n");
    env.client.answer(1, ":1\r\n");
}

TEST_F(FanoutTest, FirstAnswersWithTheFirstReplyAsSoonAsItArrives) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirst);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n") << "the second is not waited for";
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(failures.load(), 0u);
}

TEST_F(FanoutTest, FirstIgnoresAnEarlierSecondReply) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirst);
    env.client.answer(1, "-ERR from new\r\n");
    EXPECT_FALSE(client.reply);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_EQ(failures.load(), 1u);
}

TEST_F(FanoutTest, ASecondSideThatFailsIsCounted) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirst);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(failures.load(), 1u);
}

TEST_F(FanoutTest, FirstAfterBothWaitsForBothThenAnswersTheFirst) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirstAfterBoth);
    env.client.answer(0, "+OK\r\n");
    EXPECT_FALSE(client.reply) << "ack: both waits for the second";
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
}

TEST_F(FanoutTest, FirstAfterBothAnswersTheSecondsFailure) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirstAfterBoth);
    env.client.answer(1, kDownNew, true);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(failures.load(), 1u);
}

TEST_F(FanoutTest, FirstAfterBothPrefersTheFirstsOwnError) {
    ClientSink client;
    send(Cmd({"SET", "k", "v"}), client, Merge::kFirstAfterBoth);
    env.client.answer(0, "-ERR old\r\n");
    env.client.answer(1, "-ERR new\r\n");
    EXPECT_EQ(client.reply, "-ERR old\r\n");
}

// The per-command state is recycled: a failure of the last command must not leak into the next.
TEST_F(FanoutTest, AFailureDoesNotCarryOverToTheNextCommand) {
    ClientSink a, b;
    send(Cmd({"SET", "k", "1"}), a, Merge::kFirstAfterBoth);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, "-ERR new\r\n");
    send(Cmd({"SET", "k", "2"}), b, Merge::kFirstAfterBoth);
    env.client.answer(2, "+OK\r\n");
    env.client.answer(3, "+OK\r\n");
    EXPECT_EQ(a.reply, "-ERR new\r\n");
    EXPECT_EQ(b.reply, "+OK\r\n");
}

TEST_F(FanoutTest, MaxIntegerAnswersTheLargerCount) {
    ClientSink a, b;
    send(Cmd({"DEL", "k"}), a, Merge::kMaxInteger);
    env.client.answer(0, ":1\r\n");
    EXPECT_FALSE(a.reply);
    env.client.answer(1, ":0\r\n");
    EXPECT_EQ(a.reply, ":1\r\n");
    send(Cmd({"DEL", "x", "y"}), b, Merge::kMaxInteger);
    env.client.answer(3, ":2\r\n");
    env.client.answer(2, ":0\r\n");
    EXPECT_EQ(b.reply, ":2\r\n");
}

TEST_F(FanoutTest, MaxIntegerPassesOnTheErrorOfEitherSide) {
    ClientSink a, b;
    send(Cmd({"DEL", "k"}), a, Merge::kMaxInteger);
    env.client.answer(0, ":1\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(a.reply, kDownNew);
    EXPECT_TRUE(a.failed);
    send(Cmd({"DEL", "k"}), b, Merge::kMaxInteger);
    env.client.answer(2, "-ERR old\r\n");
    env.client.answer(3, ":1\r\n");
    EXPECT_EQ(b.reply, "-ERR old\r\n");
}

TEST_F(FanoutTest, WithoutACounterASecondFailureIsOnlyLogged) {
    ClientSink client;
    auto c = Cmd({"SET", "k", "v"});
    auto req = c.request();
    sendToBoth(req, &client, env.ctx, old_, new_, Merge::kFirst, nullptr);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, "-ERR new\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_EQ(failures.load(), 0u);
}

}  // namespace
}  // namespace laminar::policy

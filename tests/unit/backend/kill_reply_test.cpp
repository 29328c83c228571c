// SPDX-License-Identifier: Apache-2.0
// KillReplies: the one reply a SCRIPT KILL or FUNCTION KILL sent to several servers gets.
#include "backend/kill_reply.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace laminar::backend {
namespace {

struct Client final : ReplySink {
    std::optional<std::string> reply;
    bool failed = false;
    int calls = 0;
    void complete(std::string_view raw, bool f) override {
        reply = std::string(raw);
        failed = f;
        ++calls;
    }
};

// Sends n parts, answers them in order with `replies` (reply, failed), and returns what the client got.
Client gather(const std::vector<std::pair<std::string, bool>>& replies) {
    Client client;
    auto* job = new KillReplies(replies.size(), &client);
    for (size_t i = 0; i < replies.size(); ++i) job->part(i).complete(replies[i].first, replies[i].second);
    job->sent();
    return client;
}

TEST(KillRepliesTest, AnyServerThatKilledAScriptMakesTheReplyOk) {
    auto c = gather({{"-NOTBUSY No scripts in execution right now.\r\n", false}, {"+OK\r\n", false}});
    EXPECT_EQ(c.reply, "+OK\r\n");
    EXPECT_EQ(c.calls, 1);
}

TEST(KillRepliesTest, WithoutAKillTheFirstAnswerOtherThanNotBusyWins) {
    auto c = gather({{"-NOTBUSY No scripts in execution right now.\r\n", false},
                     {"-UNKILLABLE Sorry the script already executed write commands\r\n", false},
                     {"-ERR laminar: backend 'b' is unavailable\r\n", true}});
    EXPECT_EQ(c.reply, "-UNKILLABLE Sorry the script already executed write commands\r\n");
    EXPECT_FALSE(c.failed);
}

TEST(KillRepliesTest, AFailureIsPassedOnWithItsFlag) {
    auto c = gather({{"-NOTBUSY No scripts in execution right now.\r\n", false}, {"-ERR laminar: backend 'b' is unavailable\r\n", true}});
    EXPECT_EQ(c.reply, "-ERR laminar: backend 'b' is unavailable\r\n");
    EXPECT_TRUE(c.failed);
}

TEST(KillRepliesTest, WhenNoServerRunsAScriptTheFirstNotBusyIsTheReply) {
    auto c = gather({{"-NOTBUSY first\r\n", false}, {"-NOTBUSY second\r\n", false}});
    EXPECT_EQ(c.reply, "-NOTBUSY first\r\n");
}

TEST(KillRepliesTest, TheClientIsAnsweredOnlyOnceEveryPartIsInAndAllAreSent) {
    Client client;
    std::vector<size_t> answered;
    auto* job = new KillReplies(2, &client, [&](size_t i) { answered.push_back(i); });
    job->part(1).complete("+OK\r\n", false);
    EXPECT_EQ(client.calls, 0);
    job->part(0).complete("-NOTBUSY x\r\n", false);
    EXPECT_EQ(client.calls, 0) << "not every part was sent yet";
    job->sent();
    EXPECT_EQ(client.calls, 1);
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_EQ(answered, (std::vector<size_t>{1, 0}));
}

}  // namespace
}  // namespace laminar::backend

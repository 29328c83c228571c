// SPDX-License-Identifier: Apache-2.0
// The proxy in front of one real redis-server: commands and replies pass through unchanged.
#include <gtest/gtest.h>

#include "support/harness.h"

namespace laminar::test {
namespace {

class ProxyTest : public ::testing::Test {
protected:
    RedisServer redis_;
    Laminar laminar_{proxyConfig(redis_.port())};
};

TEST_F(ProxyTest, ForwardsStringCommandsAndReplies) {
    Client c(laminar_.port());
    ASSERT_TRUE(c.connected()) << c.error();
    EXPECT_EQ(c.cmd({"SET", "k", "v"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", "k"}).str, "v");
    EXPECT_TRUE(c.cmd({"GET", "missing"}).isNil());
    Client direct(redis_.port());
    EXPECT_EQ(direct.cmd({"GET", "k"}).str, "v");
}

TEST_F(ProxyTest, PassesBackendErrorsThroughUnchanged) {
    Client c(laminar_.port());
    c.cmd({"SET", "s", "x"});
    auto r = c.cmd({"LPUSH", "s", "a"});
    ASSERT_TRUE(r.isError());
    EXPECT_EQ(r.str, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST_F(ProxyTest, AnswersUnknownCommandWithRedisTextAndKeepsTheConnection) {
    Client c(laminar_.port());
    auto r = c.cmd({"NOSUCHCMD", "a", "b"});
    EXPECT_EQ(r.str, "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ");
    EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
}

TEST_F(ProxyTest, RedisCliWorksThroughTheProxy) {
    auto port = std::to_string(laminar_.port());
    EXPECT_EQ(run("redis-cli -p " + port + " SET cli hello"), "OK\n");
    EXPECT_EQ(run("redis-cli -p " + port + " GET cli"), "hello\n");
    EXPECT_EQ(run("redis-cli -p " + port + " PING"), "PONG\n");
}

}  // namespace
}  // namespace laminar::test

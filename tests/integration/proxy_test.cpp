// SPDX-License-Identifier: Apache-2.0
// The proxy in front of one real redis-server: commands and replies pass through unchanged.
#include <gtest/gtest.h>

#include "support/harness.h"
#include "support/more.h"

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

namespace laminar::test {
namespace {

// A backend may be given by host name (a container's, in compose): resolved at each connect. One
// that does not resolve answers with an error that says so, and the other routes keep working.
TEST(ProxyHostNames, AnUnresolvableBackendAnswersWithTheReasonAndOtherRoutesWork) {
    RedisServer redis;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nbackends:\n  old: {address: 127.0.0.1:", redis.port(),
                    "}\n  gone: {address: no-such-host.invalid:6379}\nroutes:\n  - name: g\n    match: {keys: ['g:*']}\n    strategy: gone\n"
                    "  - name: default\n    strategy: old\n"));
    Client c(lam.port());
    auto r = show(c.cmd({"GET", "g:1"}));
    EXPECT_NE(r.find("backend 'gone' unavailable: cannot resolve 'no-such-host.invalid'"), std::string::npos) << r;
    EXPECT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");
}

}  // namespace
}  // namespace laminar::test

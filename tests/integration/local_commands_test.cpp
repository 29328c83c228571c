// SPDX-License-Identifier: Apache-2.0
// The commands laminar answers itself (PING, ECHO, AUTH, HELLO, SELECT, CLIENT ..., RESET, the
// transaction commands) check their arguments as redis-server 7.0 does, with its error texts:
// each malformed call is sent through laminar and to redis-server directly, and the replies
// compared.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

TEST(LocalCommandsTest, MalformedCallsGetRedisOwnErrors) {
    RedisServer redis;
    Laminar lam(proxyConfig(redis.port(), "client: {allow_admin: true}\n"));  // CLIENT LIST and UNBLOCK are admin commands
    const std::vector<std::vector<std::string>> calls = {
        {"PING", "a", "b"}, {"ECHO"}, {"ECHO", "a", "b"}, {"RESET", "x"},
        {"AUTH", "a", "b", "c"}, {"AUTH", "pw"}, {"AUTH", "nobody", "pw"},
        {"HELLO", "x"}, {"HELLO", "4"}, {"HELLO", "2", "SETNAME"}, {"HELLO", "3", "AUTH", "x"}, {"HELLO", "2", "FOO"},
        {"SELECT"}, {"SELECT", "abc"}, {"SELECT", "-1"}, {"SELECT", "99999999999"}, {"SELECT", "16"}, {"SELECT", "1", "2"},
        {"CLIENT"}, {"CLIENT", "SETNAME", "a", "b"}, {"CLIENT", "SETNAME", "a b"}, {"CLIENT", "GETNAME", "x"},
        {"CLIENT", "ID", "x"}, {"CLIENT", "INFO", "x"}, {"CLIENT", "LIST", "x"}, {"CLIENT", "LIST", "TYPE"},
        {"CLIENT", "LIST", "TYPE", "x"}, {"CLIENT", "LIST", "TYPE", "normal", "x"}, {"CLIENT", "LIST", "TYPE", "master"},
        {"CLIENT", "LIST", "ID", "abc"}, {"CLIENT", "LIST", "ID", "0"}, {"CLIENT", "LIST", "ID", "-1"}, {"CLIENT", "LIST", "ID", "1x"}, {"CLIENT", "LIST", "ID", "999999"},
        {"CLIENT", "REPLY"}, {"CLIENT", "REPLY", "x"}, {"CLIENT", "UNBLOCK"}, {"CLIENT", "UNBLOCK", "abc"},
        {"CLIENT", "UNBLOCK", "1", "FOO"}, {"CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"}, {"CLIENT", "UNBLOCK", "999999"},
        {"CLIENT", "NOSUCH"}, {"MULTI", "x"}, {"EXEC", "x"}, {"MULTI"}, {"EXEC", "x"}, {"EXEC"}, {"DISCARD", "x"}, {"WATCH"}, {"UNWATCH", "x"}, {"SUBSCRIBE"},
    };
    Client through(lam.port()), direct(redis.port());
    for (const auto& argv : calls) {
        std::string line;
        for (const auto& a : argv) line += a + " ";
        EXPECT_EQ(show(through.cmd(argv)), show(direct.cmd(argv))) << line;
    }
    // QUIT takes any arguments, answers OK and closes.
    EXPECT_EQ(show(through.cmd({"QUIT", "x"})), "+OK");
    EXPECT_TRUE(peerClosed(through, std::chrono::seconds(2)));
}

}  // namespace
}  // namespace laminar::test

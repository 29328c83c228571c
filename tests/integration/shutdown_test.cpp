// SPDX-License-Identifier: Apache-2.0
// Graceful shutdown on SIGTERM / SIGINT (stop accepting, let in-flight commands finish, exit 0
// within shutdown_timeout) and the command line: --check-config, --version, config errors.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long long commandsProcessed(int laminar_port) { return infoNumber(laminar_port, "laminar", "total_commands_processed"); }

// SIGTERM or SIGINT while a client has commands in flight (redis-server is stopped, so they
// cannot finish before the signal): laminar stops accepting, keeps the busy client until its
// replies are written, closes idle clients, and exits 0.
void drainsInFlightCommandsAndExitsZero(int signo) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "shutdown_timeout: 5s\n", "timeout: 10s"));
    Client busy(laminar.port()), idle(laminar.port());
    ASSERT_EQ(show(busy.cmd({"SET", "n", "0"})), "+OK");
    ASSERT_EQ(show(idle.cmd({"PING"})), "+PONG");

    redis.pause();
    long long before = commandsProcessed(laminar.port());
    constexpr int kInFlight = 100;
    for (int i = 0; i < kInFlight; ++i) busy.append({"INCR", "n"});
    int done = 0;
    while (!done) ASSERT_EQ(redisBufferWrite(busy.ctx(), &done), REDIS_OK);
    // Laminar has read them all (INFO laminar is answered by laminar itself).
    ASSERT_TRUE(waitFor([&] { return commandsProcessed(laminar.port()) >= before + kInFlight; }, 5s));

    laminar.process().signal(signo);
    auto signalled = Clock::now();
    EXPECT_TRUE(waitFor([&] { return !portOpen(laminar.port()); }, 3s)) << "still accepting connections";
    Client late(laminar.port(), 2s);
    EXPECT_FALSE(late.connected()) << "a new connection was accepted during shutdown";
    EXPECT_TRUE(peerClosed(idle, 3s)) << "the idle client was not closed";
    EXPECT_TRUE(laminar.process().running()) << "exited with commands in flight";

    redis.resume();
    for (int i = 1; i <= kInFlight; ++i) {
        auto r = busy.read();
        ASSERT_EQ(r.type, REDIS_REPLY_INTEGER) << "reply " << i << ": " << show(r);
        ASSERT_EQ(r.integer, i);
    }
    EXPECT_TRUE(peerClosed(busy, 3s)) << "the busy client was not closed after its replies";
    EXPECT_EQ(laminar.process().wait(8s), 0) << laminar.log();
    EXPECT_LT(Clock::now() - signalled, 8s);
    EXPECT_NE(laminar.log().find(signo == SIGTERM ? "received SIGTERM" : "received SIGINT"), std::string::npos) << laminar.log();
    Client direct(redis.port());
    EXPECT_EQ(show(direct.cmd({"GET", "n"})), "$100");
}

TEST(ShutdownTest, SigtermLetsInFlightCommandsFinishThenExitsWithStatusZero) { drainsInFlightCommandsAndExitsZero(SIGTERM); }

TEST(ShutdownTest, SigintLetsInFlightCommandsFinishThenExitsWithStatusZero) { drainsInFlightCommandsAndExitsZero(SIGINT); }

TEST(ShutdownTest, AClientStillBlockedAfterShutdownTimeoutIsClosedAndLaminarExitsZero) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "shutdown_timeout: 1s\n"));
    Client blocked(laminar.port());
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "never", "0"}));
    ASSERT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 1; }, 5s));

    auto start = Clock::now();
    laminar.process().signal(SIGTERM);
    EXPECT_EQ(laminar.process().wait(4s), 0) << laminar.log();  // 1 s + margin
    EXPECT_LT(Clock::now() - start, 4s);
    EXPECT_TRUE(peerClosed(blocked, 2s));
    EXPECT_NE(laminar.log().find("still busy after shutdown_timeout"), std::string::npos) << laminar.log();
}

TEST(ShutdownTest, IdleClientsDoNotDelayShutdown) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "shutdown_timeout: 10s\n"));
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 5; ++i) {
        clients.push_back(std::make_unique<Client>(laminar.port()));
        ASSERT_EQ(show(clients.back()->cmd({"SET", "k", "v"})), "+OK");
    }
    auto start = Clock::now();
    laminar.process().signal(SIGTERM);
    EXPECT_EQ(laminar.process().wait(3s), 0) << laminar.log();
    EXPECT_LT(Clock::now() - start, 3s);
    for (auto& c : clients) EXPECT_TRUE(peerClosed(*c, 1s));
}

// A client that went away while its commands were still waiting on the backend is forgotten once
// their replies arrive: it does not count as busy at shutdown.
TEST(ShutdownTest, AClientThatLeftWithCommandsInFlightDoesNotDelayShutdown) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "shutdown_timeout: 4s\n", "timeout: 10s"));
    {
        Client gone(laminar.port());
        ASSERT_EQ(show(gone.cmd({"SET", "n", "0"})), "+OK");
        redis.pause();
        long long before = commandsProcessed(laminar.port());
        for (int i = 0; i < 10; ++i) gone.append({"INCR", "n"});
        int done = 0;
        while (!done) ASSERT_EQ(redisBufferWrite(gone.ctx(), &done), REDIS_OK);
        ASSERT_TRUE(waitFor([&] { return commandsProcessed(laminar.port()) >= before + 10; }, 5s));
    }  // disconnects with 10 commands in flight
    redis.resume();
    Client direct(redis.port());
    ASSERT_TRUE(waitFor([&] { return show(direct.cmd({"GET", "n"})) == "$10"; }, 5s));
    // Laminar has had the replies; its own view of the client is gone.
    ASSERT_TRUE(waitFor([&] { return infoNumber(laminar.port(), "laminar", "connected_clients") == 1; }, 5s));

    auto start = Clock::now();
    laminar.process().signal(SIGTERM);
    EXPECT_EQ(laminar.process().wait(2s), 0) << laminar.log();  // shutdown_timeout is 4 s
    EXPECT_LT(Clock::now() - start, 2s);
    laminar.process().wait(5s);
    EXPECT_EQ(laminar.log().find("still busy"), std::string::npos) << laminar.log();
}

// ------------------------------------------------------------------ command line

std::string writeFile(const std::string& name, const std::string& text) {
    auto path = tempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
}

std::string laminarCmd(const std::string& args) { return std::string(LAMINAR_BINARY) + " " + args + " 2>&1"; }

TEST(CommandLineTest, CheckConfigOnAGoodFileExitsZero) {
    auto path = writeFile("good.yaml",
                          "listen: 127.0.0.1:6399\n"
                          "backends:\n"
                          "  old: {type: redis, address: 127.0.0.1:6379}\n"
                          "routes:\n"
                          "  - name: default\n"
                          "    strategy: {type: proxy, target: old}\n");
    int status = -1;
    auto out = run(laminarCmd("--check-config " + path), &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out.rfind(path + ": ok", 0), 0u) << out;
}

TEST(CommandLineTest, CheckConfigOnABadFileExitsNonZeroNamingFileLinePathAndProblem) {
    auto path = writeFile("bad.yaml",
                          "listen: 127.0.0.1:6399\n"
                          "backends:\n"
                          "  old: {type: redis, address: 127.0.0.1:6379}\n"
                          "routes:\n"
                          "  - name: default\n"
                          "    strategy: {type: proxy, target: nope}\n");
    int status = -1;
    auto out = run(laminarCmd("--check-config " + path), &status);
    EXPECT_NE(status, 0) << out;
    EXPECT_EQ(out, path + ":6: routes[0].strategy.target: unknown backend 'nope'\n");
}

TEST(CommandLineTest, AnUnknownKeyIsAnErrorNamingTheKeyAndItsLine) {
    auto path = writeFile("typo.yaml",
                          "listen: 127.0.0.1:6399\n"
                          "client:\n"
                          "  max_clientz: 5\n"
                          "backends:\n"
                          "  old: {type: redis, address: 127.0.0.1:6379}\n"
                          "routes:\n"
                          "  - name: default\n"
                          "    strategy: old\n");
    int status = -1;
    auto out = run(laminarCmd("--check-config " + path), &status);
    EXPECT_NE(status, 0) << out;
    EXPECT_EQ(out, path + ":3: client.max_clientz: unknown key\n");

    // The daemon refuses the same file the same way.
    out = run("timeout 10 " + laminarCmd("-c " + path), &status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find(path + ":3: client.max_clientz: unknown key"), std::string::npos) << out;
}

TEST(CommandLineTest, AnUnknownTopLevelKeyIsAnErrorNamingTheKeyAndItsLine) {
    auto path = writeFile("typo2.yaml",
                          "listen: 127.0.0.1:6399\n"
                          "backends:\n"
                          "  old: {type: redis, address: 127.0.0.1:6379}\n"
                          "shutdown_timout: 1s\n"
                          "routes:\n"
                          "  - name: default\n"
                          "    strategy: old\n");
    int status = -1;
    auto out = run(laminarCmd("--check-config " + path), &status);
    EXPECT_NE(status, 0) << out;
    EXPECT_EQ(out, path + ":4: shutdown_timout: unknown key\n");
}

TEST(CommandLineTest, VersionPrintsTheVersion) {
    int status = -1;
    auto out = run(laminarCmd("--version"), &status);
    EXPECT_EQ(status, 0);
    EXPECT_EQ(out, std::string("laminar ") + LAMINAR_VERSION + "\n");
    EXPECT_EQ(run(laminarCmd("-v"), &status), out);
}

}  // namespace
}  // namespace laminar::test

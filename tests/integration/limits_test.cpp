// SPDX-License-Identifier: Apache-2.0
// Limits and failures: malformed RESP, client.max_bulk, client.max_clients, client.max_output
// (a client that never reads), a dead backend, a restarted backend, a stalled backend
// (backend timeout), and client.idle_timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// What redis-server itself answers to the same bytes, for comparison.
std::string redisAnswerTo(const std::string& bytes) {
    RedisServer redis;
    Client c(redis.port());
    c.sendRaw(bytes);
    return c.readRawUntilClose(5s);
}

// ------------------------------------------------------------------ malformed RESP

class MalformedTest : public ::testing::Test {
protected:
    RedisServer redis_;
    Laminar laminar_{proxyConfig(redis_.port())};
};

TEST_F(MalformedTest, InvalidBulkLengthGetsAProtocolErrorAndTheConnectionIsClosed) {
    const std::string bytes = "*2\r\n$3\r\nGET\r\n$abc\r\n";
    Client c(laminar_.port());
    c.sendRaw(bytes);
    auto start = Clock::now();
    auto got = c.readRawUntilClose(5s);
    EXPECT_LT(Clock::now() - start, 3s) << "the connection was not closed";
    EXPECT_TRUE(startsWith(got, "-ERR Protocol error: ")) << got;
    EXPECT_TRUE(peerClosed(c, 1s));
    EXPECT_EQ(got, redisAnswerTo(bytes));
}

TEST_F(MalformedTest, InvalidMultibulkLengthGetsAProtocolErrorAndTheConnectionIsClosed) {
    const std::string bytes = "*x\r\n";
    Client c(laminar_.port());
    c.sendRaw(bytes);
    auto start = Clock::now();
    auto got = c.readRawUntilClose(5s);
    EXPECT_LT(Clock::now() - start, 3s) << "the connection was not closed";
    EXPECT_TRUE(startsWith(got, "-ERR Protocol error: ")) << got;
    EXPECT_TRUE(peerClosed(c, 1s));
    EXPECT_EQ(got, redisAnswerTo(bytes));
}

TEST_F(MalformedTest, CommandsBeforeTheMalformedOneAreStillAnswered) {
    Client c(laminar_.port());
    c.sendRaw(respCommand({"SET", "k", "v"}) + respCommand({"GET", "k"}) + "*1\r\n+PING\r\n" + respCommand({"SET", "after", "x"}));
    auto got = c.readRawUntilClose(5s);
    EXPECT_TRUE(startsWith(got, "+OK\r\n$1\r\nv\r\n-ERR Protocol error: ")) << got;
    EXPECT_TRUE(peerClosed(c, 1s));
    // Nothing after the malformed request was executed.
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"EXISTS", "after"})), ":0");
    // Other clients are unaffected.
    Client other(laminar_.port());
    EXPECT_EQ(show(other.cmd({"GET", "k"})), "$v");
}

// ------------------------------------------------------------------ client.max_bulk

TEST(MaxBulkTest, ABulkOverMaxBulkIsRefusedAtOnceWithoutWaitingForTheBody) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {max_bulk: 1kb}\n"));
    Client c(laminar.port());
    // Only the header of a 100 MB value: the body never comes.
    c.sendRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n");
    auto start = Clock::now();
    auto got = c.readRawUntilClose(5s);
    EXPECT_LT(Clock::now() - start, 3s) << "laminar waited for the body";
    EXPECT_TRUE(startsWith(got, "-ERR Protocol error: ")) << got;
    EXPECT_TRUE(peerClosed(c, 1s));

    Client ok(laminar.port());
    EXPECT_EQ(show(ok.cmd({"SET", "small", std::string(1000, 'x')})), "+OK");
    EXPECT_EQ(ok.cmd({"GET", "small"}).str.size(), 1000u);

    Client big(laminar.port());
    big.sendRaw(respCommand({"SET", "big", std::string(2000, 'x')}));
    auto refused = big.readRawUntilClose(5s);
    EXPECT_TRUE(startsWith(refused, "-ERR Protocol error: ")) << refused;
    EXPECT_TRUE(peerClosed(big, 1s));
    Client direct(redis.port());
    EXPECT_EQ(show(direct.cmd({"EXISTS", "big", "k"})), ":0");
}

// ------------------------------------------------------------------ client.max_clients

TEST(MaxClientsTest, TheConnectionOverMaxClientsGetsAnErrorAndIsClosedWhileTheOthersWork) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {max_clients: 5}\n"));
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 5; ++i) {
        clients.push_back(std::make_unique<Client>(laminar.port()));
        ASSERT_EQ(show(clients.back()->cmd({"PING"})), "+PONG") << "client " << i;
    }
    Client sixth(laminar.port());
    ASSERT_TRUE(sixth.connected()) << sixth.error();  // the TCP accept itself succeeds
    auto got = sixth.readRawUntilClose(5s);
    EXPECT_EQ(got, "-ERR max number of clients reached\r\n");
    EXPECT_TRUE(peerClosed(sixth, 1s));

    for (size_t i = 0; i < clients.size(); ++i) {
        std::string key = "k";
        key += std::to_string(i);
        EXPECT_EQ(show(clients[i]->cmd({"SET", key, "v"})), "+OK") << "client " << i;
        EXPECT_EQ(show(clients[i]->cmd({"GET", key})), "$v") << "client " << i;
    }

    // A slot freed by a client that leaves is taken by the next one.
    clients.pop_back();
    EXPECT_TRUE(waitFor(
        [&] {
            Client next(laminar.port(), 2s);
            return show(next.cmd({"PING"})) == "+PONG";
        },
        5s));
}

// ------------------------------------------------------------------ client.max_output

TEST(MaxOutputTest, AClientThatNeverReadsIsDisconnectedAndLaminarStaysSmall) {
    RedisServer redis;
    // (shutdown_timeout only bounds the teardown)
    Laminar laminar(proxyConfig(redis.port(), "shutdown_timeout: 1s\nclient: {max_output: 1mb}\n"));
    Client setup(laminar.port());
    const std::string value(100 * 1024, 'v');
    ASSERT_EQ(show(setup.cmd({"SET", "big", value})), "+OK");
    long long rss_before = procStatusKb(laminar.pid(), "VmRSS");
    ASSERT_GT(rss_before, 0);

    // 1000 pipelined GETs of a 100 KB value (100 MB of replies), never read.
    Client slow(laminar.port());
    std::string pipeline;
    for (int i = 0; i < 1000; ++i) pipeline += respCommand({"GET", "big"});
    slow.sendRaw(pipeline);

    // Laminar says why it let the client go; only then does the test read (peerClosed reads and
    // discards, and a client that reads is never over max_output). Waiting on connected_clients
    // first could pass before the slow connection was even counted.
    ASSERT_TRUE(waitFor([&] { return laminar.log().find("client.max_output") != std::string::npos; }, 15s)) << laminar.log();
    EXPECT_TRUE(peerClosed(slow, 10s));
    // Only `setup` is left (and the connection that asks).
    EXPECT_TRUE(waitFor([&] { return infoNumber(laminar.port(), "laminar", "connected_clients") == 2; }, 15s))
        << "connected_clients " << infoNumber(laminar.port(), "laminar", "connected_clients");

    // Laminar keeps serving others.
    Client other(laminar.port());
    EXPECT_EQ(other.cmd({"GET", "big"}).str.size(), value.size());
    EXPECT_EQ(show(setup.cmd({"PING"})), "+PONG");

    // Growth, not an absolute size: where transparent huge pages are "always", laminar's idle
    // threads alone hold well over 100 MB resident (168 MB seen on a CI machine). 100 MB of
    // replies held for the client would be far over this bound.
    long long rss_after = procStatusKb(laminar.pid(), "VmRSS");
    long long peak = procStatusKb(laminar.pid(), "VmHWM");
    EXPECT_LT(rss_after - rss_before, 48 * 1024) << "VmRSS before " << rss_before << " kB, after " << rss_after << " kB";
    EXPECT_LT(peak - rss_before, 48 * 1024) << "VmRSS before " << rss_before << " kB, VmHWM " << peak << " kB";
}

// ------------------------------------------------------------------ backend failures

TEST(DeadBackendTest, CommandsFailFastWithUnavailableIncludingThoseInFlight) {
    RedisServer redis;
    // A long reply timeout, so the errors below come from the dead connection, not the timer.
    Laminar laminar(proxyConfig(redis.port(), "", "timeout: 10s"));
    Client c(laminar.port(), 5s), blocked(laminar.port(), 5s);
    ASSERT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "q", "0"}));
    ASSERT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 1; }, 5s));

    // In flight: redis-server is kept busy by a script that never ends (it answers nothing for
    // lua-time-limit, 5 s), the GETs are sent, then it dies.
    Client script(laminar.port(), 5s);
    ASSERT_TRUE(sendOnly(script, {"EVAL", "while true do end", "0"}));
    ASSERT_TRUE(waitFor(
        [&] {
            Client probe(redis.port(), 100ms);
            return probe.cmd({"PING"}).type == -1;  // no answer: the script runs
        },
        5s));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(sendOnly(c, {"GET", "k"}));
    std::this_thread::sleep_for(100ms);  // not needed for the outcome: queued or sent, they fail alike
    redis.kill();

    const std::string unavailable = "ERR laminar: backend 'old' unavailable: ";
    auto start = Clock::now();
    for (int i = 0; i < 3; ++i) {
        auto r = c.read();
        EXPECT_TRUE(r.isError()) << i << ": " << show(r);
        EXPECT_TRUE(startsWith(r.str, unavailable)) << i << ": " << r.str;
    }
    auto b = blocked.read();
    EXPECT_TRUE(startsWith(b.str, unavailable)) << show(b);
    auto e = script.read();
    EXPECT_TRUE(startsWith(e.str, unavailable)) << show(e);
    EXPECT_LT(Clock::now() - start, 2s);
    // A client whose dedicated connection died is closed after the error, as Redis would.
    EXPECT_TRUE(peerClosed(blocked, 2s));

    // New commands while it is down: an error at once, no hang.
    for (int i = 0; i < 3; ++i) {
        auto t = Clock::now();
        auto r = c.cmd({"GET", "k"});
        EXPECT_TRUE(startsWith(r.str, unavailable)) << show(r);
        EXPECT_LT(Clock::now() - t, 2s);
    }
    Client fresh(laminar.port(), 5s);
    auto t = Clock::now();
    // MULTI is held until the transaction's first key; that command gets the error.
    ASSERT_EQ(show(fresh.cmd({"MULTI"})), "+OK");
    auto r = fresh.cmd({"SET", "k", "v"});
    EXPECT_TRUE(startsWith(r.str, unavailable)) << show(r);
    EXPECT_LT(Clock::now() - t, 2s);
    EXPECT_TRUE(laminar.process().running());
}

TEST(DeadBackendTest, ARestartedBackendIsUsedAgainWithoutRestartingLaminar) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port()));
    Client c(laminar.port(), 5s);
    ASSERT_EQ(show(c.cmd({"SET", "k", "before"})), "+OK");
    redis.kill();
    auto down = c.cmd({"GET", "k"});
    EXPECT_TRUE(startsWith(down.str, "ERR laminar: backend 'old' unavailable: ")) << show(down);

    redis.restart();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"SET", "k", "after"})) == "+OK"; }, 10s));
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$after");
    // New connections and dedicated connections work too.
    Client fresh(laminar.port());
    EXPECT_EQ(show(fresh.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(fresh.cmd({"GET", "k"})), "+QUEUED");
    EXPECT_EQ(show(fresh.cmd({"EXEC"})), "[$after]");
    auto info = c.cmd({"INFO", "laminar"});
    EXPECT_NE(info.str.find("backend_old:type=redis,address=127.0.0.1:" + std::to_string(redis.port()) + ",db=0,status=up"),
              std::string::npos)
        << info.str;
}

TEST(SlowBackendTest, AStalledBackendTimesOutAndWorksAgainWhenResumed) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "", "timeout: 300ms"));
    Client c(laminar.port(), 5s);
    ASSERT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");

    redis.pause();
    auto start = Clock::now();
    auto r = c.cmd({"GET", "k"});
    EXPECT_LT(Clock::now() - start, 3s);
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("timed out"), std::string::npos) << r.str;
    EXPECT_EQ(r.str, "ERR laminar: backend 'old' timed out after 300ms");

    redis.resume();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"GET", "k"})) == "$v"; }, 10s));
    EXPECT_EQ(show(c.cmd({"SET", "k2", "v2"})), "+OK");
}

// ------------------------------------------------------------------ client.idle_timeout

TEST(IdleTimeoutTest, AnIdleClientIsDisconnectedWhileABlockedClientIsNot) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {idle_timeout: 1s}\n"));
    Client blocked(laminar.port());
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "q", "10"}));
    ASSERT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 1; }, 5s));

    Client idle(laminar.port());
    ASSERT_EQ(show(idle.cmd({"PING"})), "+PONG");
    auto start = Clock::now();
    EXPECT_TRUE(peerClosed(idle, 5s)) << "the idle client was not disconnected";
    auto after = Clock::now() - start;
    EXPECT_GE(after, 800ms);
    EXPECT_LE(after, 5s);

    // The blocked client has been idle longer, yet it is still waiting and gets its element.
    EXPECT_EQ(blockedClients(redis.port()), 1);
    Client pusher(laminar.port());
    EXPECT_EQ(show(pusher.cmd({"RPUSH", "q", "x"})), ":1");
    EXPECT_EQ(show(blocked.read()), "[$q, $x]");
}

TEST(IdleTimeoutTest, ASubscribedClientIsNotDisconnected) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {idle_timeout: 1s}\n"));
    Client sub(laminar.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "ch"})), "[$subscribe, $ch, :1]");

    Client idle(laminar.port());
    ASSERT_EQ(show(idle.cmd({"PING"})), "+PONG");
    EXPECT_TRUE(peerClosed(idle, 5s)) << "the idle client was not disconnected";

    // The subscriber has been idle longer and is still subscribed.
    Client pub(laminar.port());
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "ch", "still-here"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $ch, $still-here]");
}

// The same, apart from the two pub/sub defects the test above also trips over (a fresh dedicated
// connection's handshake reply relayed to the subscriber, and the backend reply timeout applied to
// a subscribed connection): one I/O thread and a warmed dedicated connection, a long backend timeout.
TEST(IdleTimeoutTest, ASubscribedClientOnAWarmedConnectionIsNotDisconnected) {
    RedisServer redis;
    Laminar laminar("listen: 127.0.0.1:{port}\nthreads: 1\nclient: {idle_timeout: 1s}\nbackends:\n  old: {type: redis, address: 127.0.0.1:" +
                    std::to_string(redis.port()) + ", timeout: 10s}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n");
    {
        Client warm(laminar.port());
        ASSERT_EQ(show(warm.cmd({"WATCH", "warm"})), "+OK");
        ASSERT_EQ(show(warm.cmd({"UNWATCH"})), "+OK");
    }
    Client sub(laminar.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "ch"})), "[$subscribe, $ch, :1]");

    Client idle(laminar.port());
    ASSERT_EQ(show(idle.cmd({"PING"})), "+PONG");
    EXPECT_TRUE(peerClosed(idle, 5s)) << "the idle client was not disconnected";

    Client pub(laminar.port());
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "ch", "still-here"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $ch, $still-here]");
}

TEST(IdleTimeoutTest, AnActiveClientIsNotDisconnected) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {idle_timeout: 1s}\n"));
    Client active(laminar.port()), idle(laminar.port());
    ASSERT_EQ(show(idle.cmd({"PING"})), "+PONG");
    // Commands every 200 ms until the idle one is dropped.
    auto deadline = Clock::now() + 5s;
    bool idle_closed = false;
    while (Clock::now() < deadline && !idle_closed) {
        EXPECT_EQ(show(active.cmd({"PING"})), "+PONG");
        idle_closed = peerClosed(idle, 200ms);
    }
    EXPECT_TRUE(idle_closed);
    EXPECT_EQ(show(active.cmd({"PING"})), "+PONG");
}

}  // namespace
}  // namespace laminar::test

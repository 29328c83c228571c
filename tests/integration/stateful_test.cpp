// SPDX-License-Identifier: Apache-2.0
// Per-client state through the proxy: transactions, WATCH, blocking commands, pub/sub, SELECT,
// CLIENT REPLY / SETNAME / ID / UNBLOCK, HELLO 3, INFO, and the pinning of a stateful client to a
// dedicated backend connection that ends with the state (INFO laminar pinned_clients).
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

class StatefulTest : public ::testing::Test {
protected:
    long long pinnedClients() { return infoNumber(laminar_.port(), "laminar", "pinned_clients"); }
    // Waits until redis-server itself reports `n` clients blocked in a blocking command.
    bool waitBlocked(long long n) { return waitFor([&] { return blockedClients(redis_.port()) == n; }, 5s); }
    bool waitPinned(long long n) { return waitFor([&] { return pinnedClients() == n; }, 3s); }

    RedisServer redis_;
    Laminar laminar_{proxyConfig(redis_.port())};
};

// ------------------------------------------------------------------ MULTI / EXEC / DISCARD

TEST_F(StatefulTest, MultiQueuesCommandsAndExecReturnsTheirRepliesInAnArray) {
    Client c(laminar_.port());
    ASSERT_TRUE(c.connected()) << c.error();
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "tx", "1"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"INCR", "tx"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"GET", "tx"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK, :2, $2]");
    EXPECT_EQ(show(c.cmd({"GET", "tx"})), "$2");
}

// A command laminar refuses while a transaction is queued aborts it, as Redis does: EXEC answers
// EXECABORT and nothing runs. The same commands sent to redis-server directly give the same
// replies. Before, laminar answered the unknown command itself, the backend never knew, and EXEC
// ran both SETs.
TEST_F(StatefulTest, ACommandRefusedInsideMultiAbortsTheTransactionAsOnRedis) {
    auto run = [](int port, const std::string& prefix) {
        Client c(port);
        std::vector<std::string> replies;
        for (const auto& argv : std::vector<std::vector<std::string>>{
                 {"MULTI"}, {"SET", prefix + "foo", "bar"}, {"NOSUCHCOMMAND"}, {"SET", prefix + "foo2", "bar"}, {"EXEC"}})
            replies.push_back(show(c.cmd(argv)));
        replies.push_back(show(c.cmd({"EXISTS", prefix + "foo", prefix + "foo2"})));
        replies.push_back(show(c.cmd({"PING"})));  // the connection is usable after
        return replies;
    };
    auto direct = run(redis_.port(), "direct:");
    auto through = run(laminar_.port(), "through:");
    ASSERT_EQ(through.size(), direct.size());
    EXPECT_EQ(through[4], "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(through[5], ":0") << "nothing of the transaction may run";
    for (size_t i = 0; i < direct.size(); ++i) {
        if (i == 2) continue;  // the unknown command's error: checked below
        EXPECT_EQ(through[i], direct[i]) << "reply " << i;
    }
    EXPECT_EQ(through[2].rfind("-ERR unknown command 'NOSUCHCOMMAND'", 0), 0u) << through[2];
    // Wrong arity while queued aborts it too, and a later transaction runs normally.
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET"})), "-ERR wrong number of arguments for 'get' command");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "after", "1"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK]");
}

// PING and ECHO inside MULTI are queued and answered in EXEC's array, as on Redis (laminar
// answered them at once, and EXEC's array lacked them).
TEST_F(StatefulTest, PingAndEchoInsideMultiAreQueuedAsOnRedis) {
    auto run = [](int port, const std::string& list) {
        Client c(port);
        std::vector<std::string> replies;
        for (const auto& argv : std::vector<std::vector<std::string>>{
                 {"RPUSH", list, "a", "b"}, {"MULTI"}, {"LRANGE", list, "0", "-1"}, {"PING"}, {"ECHO", "hi"}, {"EXEC"},
                 {"WATCH", list}, {"MULTI"}, {"PING"}, {"EXEC"}})
            replies.push_back(show(c.cmd(argv)));
        return replies;
    };
    auto direct = run(redis_.port(), "direct:list");
    auto through = run(laminar_.port(), "through:list");
    EXPECT_EQ(through, direct);
    EXPECT_EQ(through[3], "+QUEUED");
    EXPECT_EQ(through[5], "[[$a, $b], +PONG, $hi]");
    EXPECT_EQ(through[9], "[+PONG]");
}

// PING takes at most one message (its arity, -1, does not say so); Redis refuses more.
TEST_F(StatefulTest, PingWithMoreThanOneArgumentIsRefusedAsOnRedis) {
    Client direct(redis_.port()), through(laminar_.port());
    EXPECT_EQ(show(through.cmd({"PING", "x", "y", "z"})), show(direct.cmd({"PING", "x", "y", "z"})));
    EXPECT_EQ(show(through.cmd({"PING", "x", "y", "z"})), "-ERR wrong number of arguments for 'ping' command");
    EXPECT_EQ(show(through.cmd({"PING", "x"})), "$x");
}

TEST_F(StatefulTest, DiscardDropsTheQueuedCommands) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "d", "1"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"DISCARD"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "d"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-ERR EXEC without MULTI");
}

TEST_F(StatefulTest, PipelinedTransactionKeepsRepliesInOrderWithPlainCommandsAround) {
    Client c(laminar_.port());
    c.append({"SET", "before", "b"});
    c.append({"MULTI"});
    c.append({"SET", "in", "i"});
    c.append({"EXEC"});
    c.append({"GET", "in"});
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "+QUEUED");
    EXPECT_EQ(show(c.read()), "[+OK]");
    EXPECT_EQ(show(c.read()), "$i");
}

// ------------------------------------------------------------------ WATCH

TEST_F(StatefulTest, ExecReturnsNilWhenAWatchedKeyIsChangedByAnotherClient) {
    Client c(laminar_.port()), other(laminar_.port());
    EXPECT_EQ(show(c.cmd({"SET", "w", "start"})), "+OK");
    EXPECT_EQ(show(c.cmd({"WATCH", "w"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "w"})), "$start");
    EXPECT_EQ(show(other.cmd({"SET", "w", "theirs"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "w", "mine"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "(nil)");  // *-1: the transaction was aborted
    EXPECT_EQ(show(c.cmd({"GET", "w"})), "$theirs");
}

TEST_F(StatefulTest, ExecRunsWhenNoWatchedKeyChanged) {
    Client c(laminar_.port()), other(laminar_.port());
    EXPECT_EQ(show(c.cmd({"WATCH", "w"})), "+OK");
    EXPECT_EQ(show(other.cmd({"SET", "unrelated", "x"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "w", "mine"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK]");
    EXPECT_EQ(show(other.cmd({"GET", "w"})), "$mine");
}

// ------------------------------------------------------------------ blocking commands

TEST_F(StatefulTest, BlpopIsServedByAnRpushFromAnotherClient) {
    Client blocked(laminar_.port()), pusher(laminar_.port());
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "q", "5"}));
    ASSERT_TRUE(waitBlocked(1)) << "BLPOP never reached redis-server";
    EXPECT_EQ(show(pusher.cmd({"RPUSH", "q", "hello"})), ":1");
    EXPECT_EQ(show(blocked.read()), "[$q, $hello]");
    EXPECT_EQ(show(blocked.cmd({"LLEN", "q"})), ":0");
}

TEST_F(StatefulTest, BlpopWithATimeoutReturnsNilWhenNothingArrives) {
    Client c(laminar_.port());
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(show(c.cmd({"BLPOP", "empty", "1"})), "(nil)");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
    EXPECT_EQ(show(c.cmd({"SET", "after", "1"})), "+OK");
}

TEST_F(StatefulTest, OtherClientsKeepGettingRepliesWhileOneWaitsInBlpop) {
    Client blocked(laminar_.port());
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "slowq", "5"}));
    ASSERT_TRUE(waitBlocked(1));

    // Several clients, so some share the blocked client's I/O thread and its shared backend
    // connection: a block there would stall them.
    std::vector<std::unique_ptr<Client>> others;
    for (int i = 0; i < 4; ++i) others.push_back(std::make_unique<Client>(laminar_.port(), 3s));
    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < others.size(); ++i) {
        auto key = "other" + std::to_string(i);
        EXPECT_EQ(show(others[i]->cmd({"SET", key, "v"})), "+OK") << "client " << i;
        EXPECT_EQ(show(others[i]->cmd({"GET", key})), "$v") << "client " << i;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    // All of that happened while the BLPOP was still waiting on redis-server.
    EXPECT_EQ(blockedClients(redis_.port()), 1);

    EXPECT_EQ(show(others[0]->cmd({"RPUSH", "slowq", "x"})), ":1");
    EXPECT_EQ(show(blocked.read()), "[$slowq, $x]");
}

TEST_F(StatefulTest, ClientUnblockReleasesAClientBlockedInBlpop) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {allow_admin: true}\n"));
    Client blocked(laminar.port()), admin(laminar.port());
    auto id = blocked.cmd({"CLIENT", "ID"});
    ASSERT_EQ(id.type, REDIS_REPLY_INTEGER);
    EXPECT_EQ(show(admin.cmd({"CLIENT", "UNBLOCK", std::to_string(id.integer)})), ":0");  // not blocked yet

    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "never", "0"}));
    ASSERT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 1; }, 5s));

    EXPECT_EQ(show(admin.cmd({"CLIENT", "UNBLOCK", std::to_string(id.integer)})), ":1");
    EXPECT_EQ(show(blocked.read()), "(nil)");  // unblocked as by a timeout
    EXPECT_EQ(blockedClients(redis.port()), 0);

    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "never", "0"}));
    ASSERT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 1; }, 5s));
    EXPECT_EQ(show(admin.cmd({"CLIENT", "UNBLOCK", std::to_string(id.integer), "ERROR"})), ":1");
    auto r = blocked.read();
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_EQ(r.str.rfind("UNBLOCKED", 0), 0u) << r.str;
    EXPECT_EQ(show(blocked.cmd({"PING"})), "+PONG");
}

// WAIT counts the replicas that have the client's writes, though those went over the shared
// connection and WAIT runs on a dedicated one.
TEST(StatefulWait, WaitCountsOnlyReplicasThatHaveTheClientsWrites) {
    RedisServer master({"--repl-diskless-sync-delay", "0"});
    RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
    auto online = [&] {
        auto info = Client(master.port()).cmd({"INFO", "replication"}).str;
        return infoField(info, "slave0").find("state=online") != std::string::npos;
    };
    ASSERT_TRUE(waitFor(online, 10s));
    Laminar laminar(proxyConfig(master.port()));
    Client c(laminar.port());
    EXPECT_EQ(show(c.cmd({"SET", "w:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"WAIT", "1", "5000"})), ":1");
    EXPECT_EQ(show(Client(replica.port()).cmd({"GET", "w:1"})), "$a");
    replica.pause();  // it gets nothing more, and acknowledges nothing more
    EXPECT_EQ(show(c.cmd({"SET", "w:2", "b"})), "+OK");
    EXPECT_EQ(show(c.cmd({"WAIT", "1", "300"})), ":0") << "the paused replica does not have w:2";
    replica.resume();
    EXPECT_EQ(show(c.cmd({"WAIT", "1", "5000"})), ":1");
    EXPECT_EQ(show(Client(replica.port()).cmd({"GET", "w:2"})), "$b");
}

// ------------------------------------------------------------------ pub/sub

TEST_F(StatefulTest, SubscriberReceivesMessagesPublishedByAnotherClient) {
    Client sub(laminar_.port()), pub(laminar_.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "news"})), "[$subscribe, $news, :1]");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "news", "hello"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $news, $hello]");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "news", "again"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $news, $again]");
}

TEST_F(StatefulTest, PatternSubscriberReceivesMatchingMessages) {
    Client sub(laminar_.port()), pub(laminar_.port());
    EXPECT_EQ(show(sub.cmd({"PSUBSCRIBE", "sport.*"})), "[$psubscribe, $sport.*, :1]");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "weather.today", "rain"})), ":0");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "sport.football", "goal"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$pmessage, $sport.*, $sport.football, $goal]");
}

// One I/O thread, so every client uses the same pool of dedicated backend connections.
std::string oneThreadConfig(int redis_port, const std::string& backend_extra = "") {
    return "listen: 127.0.0.1:{port}\nthreads: 1\nbackends:\n  old: {type: redis, address: 127.0.0.1:" + std::to_string(redis_port) +
           backend_extra + "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n";
}

// A finished WATCH hands its dedicated connection, handshake done, back to the idle pool (an empty
// MULTI/EXEC never reaches a backend).
void warmDedicatedConnection(int laminar_port) {
    Client warm(laminar_port);
    EXPECT_EQ(show(warm.cmd({"WATCH", "warm"})), "+OK");
    EXPECT_EQ(show(warm.cmd({"UNWATCH"})), "+OK");
}

// The same subscription on a dedicated connection that already finished its handshake (one a
// finished transaction handed back to the idle pool; one I/O thread so the client gets it):
// separates "pub/sub relays wrongly" from "a fresh dedicated connection relays its handshake".
TEST(StatefulWarmTest, SubscribeOnAReusedDedicatedConnectionReceivesMessages) {
    RedisServer redis;
    Laminar laminar(oneThreadConfig(redis.port()));
    warmDedicatedConnection(laminar.port());
    Client sub(laminar.port()), pub(laminar.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "news"})), "[$subscribe, $news, :1]");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "news", "hello"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $news, $hello]");
    EXPECT_EQ(show(sub.cmd({"UNSUBSCRIBE"})), "[$unsubscribe, $news, :0]");
    EXPECT_EQ(show(sub.cmd({"PING"})), "+PONG");
    EXPECT_EQ(show(sub.cmd({"SET", "k", "v"})), "+OK");
}

// A subscriber waits for messages for as long as it likes: the backend's reply timeout applies
// to commands awaiting a reply, not to a subscribed connection.
TEST(StatefulWarmTest, SubscriberStillReceivesMessagesLongAfterTheBackendTimeout) {
    RedisServer redis;
    Laminar laminar(oneThreadConfig(redis.port(), ", timeout: 300ms"));
    warmDedicatedConnection(laminar.port());
    Client sub(laminar.port()), pub(laminar.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "slow"})), "[$subscribe, $slow, :1]");
    std::this_thread::sleep_for(1s);  // > 3 x the backend timeout, no traffic
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "slow", "late"})), ":1");
    EXPECT_EQ(show(sub.read()), "[$message, $slow, $late]");
}

TEST_F(StatefulTest, Resp3SubscriberGetsPushMessagesAndRepliesToOtherCommands) {
    Client sub(laminar_.port()), pub(laminar_.port());
    EXPECT_EQ(show(pub.cmd({"SET", "k3", "v3"})), "+OK");
    sub.sendRaw(respCommand({"HELLO", "3"}));
    auto hello = readRawFrames(sub, 1);
    ASSERT_FALSE(hello.empty());
    ASSERT_EQ(hello[0], '%') << hello;
    sub.sendRaw(respCommand({"SUBSCRIBE", "r3"}));
    EXPECT_EQ(readRawFrames(sub, 1), ">3\r\n$9\r\nsubscribe\r\n$2\r\nr3\r\n:1\r\n");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "r3", "hi"})), ":1");
    EXPECT_EQ(readRawFrames(sub, 1), ">3\r\n$7\r\nmessage\r\n$2\r\nr3\r\n$2\r\nhi\r\n");
    // RESP3 allows any command while subscribed.
    sub.sendRaw(respCommand({"GET", "k3"}));
    EXPECT_EQ(readRawFrames(sub, 1), "$2\r\nv3\r\n");
    sub.sendRaw(respCommand({"UNSUBSCRIBE", "r3"}));
    EXPECT_EQ(readRawFrames(sub, 1), ">3\r\n$11\r\nunsubscribe\r\n$2\r\nr3\r\n:0\r\n");
    sub.sendRaw(respCommand({"GET", "k3"}));
    EXPECT_EQ(readRawFrames(sub, 1), "$2\r\nv3\r\n");
    // Nothing is left waiting for a reply on the client's backend connection: past the backend
    // timeout (1 s, checked every 250 ms) it still answers, with no error in between.
    std::this_thread::sleep_for(1500ms);
    sub.sendRaw(respCommand({"GET", "k3"}));
    EXPECT_EQ(readRawFrames(sub, 1), "$2\r\nv3\r\n");
}

TEST_F(StatefulTest, UnsubscribingFromEverythingReturnsTheConnectionToNormalCommands) {
    Client sub(laminar_.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "a", "b"})), "[$subscribe, $a, :1]");
    EXPECT_EQ(show(sub.read()), "[$subscribe, $b, :2]");
    auto refused = sub.cmd({"GET", "k"});
    EXPECT_TRUE(refused.isError()) << show(refused);
    EXPECT_NE(refused.str.find("only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed"), std::string::npos)
        << refused.str;

    EXPECT_EQ(show(sub.cmd({"UNSUBSCRIBE", "a"})), "[$unsubscribe, $a, :1]");
    EXPECT_EQ(show(sub.cmd({"UNSUBSCRIBE"})), "[$unsubscribe, $b, :0]");
    EXPECT_EQ(show(sub.cmd({"SET", "k", "v"})), "+OK");
    EXPECT_EQ(show(sub.cmd({"GET", "k"})), "$v");
    EXPECT_EQ(show(sub.cmd({"PING"})), "+PONG");
}

TEST_F(StatefulTest, UnsubscribeThenGetPipelinedGetsTheGetReplyAfterTheConfirmation) {
    Client sub(laminar_.port()), setup(laminar_.port());
    EXPECT_EQ(show(setup.cmd({"SET", "pk", "pv"})), "+OK");
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "only"})), "[$subscribe, $only, :1]");
    sub.append({"UNSUBSCRIBE", "only"});
    sub.append({"GET", "pk"});
    EXPECT_EQ(show(sub.read()), "[$unsubscribe, $only, :0]");
    EXPECT_EQ(show(sub.read()), "$pv");
}

// ------------------------------------------------------------------ SELECT

TEST_F(StatefulTest, SelectIsolatesDatabasesAndSelectZeroReturnsToTheFirst) {
    Client c(laminar_.port()), other(laminar_.port());
    EXPECT_EQ(show(c.cmd({"SET", "k", "db0"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SELECT", "1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"SET", "k", "db1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$db1");
    EXPECT_EQ(show(other.cmd({"GET", "k"})), "$db0");  // other clients stay in db 0
    EXPECT_EQ(show(c.cmd({"SELECT", "0"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$db0");

    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"SELECT", "1"})), "+OK");
    EXPECT_EQ(show(direct.cmd({"GET", "k"})), "$db1");
}

TEST_F(StatefulTest, SelectOfAnInvalidDbIsAnErrorAndTheClientStaysInItsDb) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"SET", "k", "db0"})), "+OK");
    auto r = c.cmd({"SELECT", "100000"});
    EXPECT_EQ(show(r), "-ERR DB index is out of range");
    EXPECT_EQ(show(c.cmd({"SELECT", "x"})), "-ERR value is not an integer or out of range");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$db0");
}

// ------------------------------------------------------------------ CLIENT ...

TEST_F(StatefulTest, ClientReplyOffSilencesRepliesUntilClientReplyOn) {
    Client c(laminar_.port());
    c.append({"CLIENT", "REPLY", "OFF"});
    c.append({"SET", "r", "1"});
    c.append({"INCR", "r"});
    c.append({"PING"});
    c.append({"CLIENT", "REPLY", "ON"});
    EXPECT_EQ(show(c.read()), "+OK");  // the first reply is CLIENT REPLY ON's
    EXPECT_EQ(show(c.cmd({"GET", "r"})), "$2");
}

TEST_F(StatefulTest, ClientReplySkipSilencesOnlyTheNextCommand) {
    Client c(laminar_.port());
    c.append({"SET", "s1", "a"});
    c.append({"CLIENT", "REPLY", "SKIP"});
    c.append({"SET", "s2", "b"});
    c.append({"GET", "s2"});
    c.append({"GET", "s1"});
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "$b");
    EXPECT_EQ(show(c.read()), "$a");
}

TEST_F(StatefulTest, ClientSetnameIsReturnedByGetname) {
    Client c(laminar_.port()), other(laminar_.port());
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"CLIENT", "SETNAME", "worker-1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "$worker-1");
    EXPECT_EQ(show(other.cmd({"CLIENT", "GETNAME"})), "(nil)");
    auto bad = c.cmd({"CLIENT", "SETNAME", "has space"});
    EXPECT_TRUE(bad.isError()) << show(bad);
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "$worker-1");
}

TEST_F(StatefulTest, ClientIdIsStablePerConnectionAndDistinctAcrossConnections) {
    Client a(laminar_.port()), b(laminar_.port());
    auto ida = a.cmd({"CLIENT", "ID"});
    auto idb = b.cmd({"CLIENT", "ID"});
    ASSERT_EQ(ida.type, REDIS_REPLY_INTEGER);
    ASSERT_EQ(idb.type, REDIS_REPLY_INTEGER);
    EXPECT_GT(ida.integer, 0);
    EXPECT_NE(ida.integer, idb.integer);
    EXPECT_EQ(a.cmd({"CLIENT", "ID"}).integer, ida.integer);
}

// ------------------------------------------------------------------ HELLO

TEST_F(StatefulTest, Hello3ReturnsAMapAndRepliesInResp3UntilHello2) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"SET", "h", "v"})), "+OK");
    c.sendRaw(respCommand({"HELLO", "3"}));
    auto hello = readRawFrames(c, 1);
    ASSERT_FALSE(hello.empty());
    EXPECT_EQ(hello[0], '%') << hello;
    EXPECT_NE(hello.find("$5\r\nproto\r\n:3\r\n"), std::string::npos) << hello;
    EXPECT_NE(hello.find("$6\r\nserver\r\n$5\r\nredis\r\n"), std::string::npos) << hello;

    c.sendRaw(respCommand({"GET", "missing"}));
    EXPECT_EQ(readRawFrames(c, 1), "_\r\n");  // RESP3 null
    c.sendRaw(respCommand({"HSET", "hash", "f", "1"}));
    EXPECT_EQ(readRawFrames(c, 1), ":1\r\n");
    c.sendRaw(respCommand({"HGETALL", "hash"}));
    EXPECT_EQ(readRawFrames(c, 1), "%1\r\n$1\r\nf\r\n$1\r\n1\r\n");
    c.sendRaw(respCommand({"GET", "h"}));
    EXPECT_EQ(readRawFrames(c, 1), "$1\r\nv\r\n");

    c.sendRaw(respCommand({"HELLO", "2"}));
    auto hello2 = readRawFrames(c, 1);
    ASSERT_FALSE(hello2.empty());
    EXPECT_EQ(hello2[0], '*') << hello2;
    EXPECT_NE(hello2.find("$5\r\nproto\r\n:2\r\n"), std::string::npos) << hello2;
    c.sendRaw(respCommand({"GET", "missing"}));
    EXPECT_EQ(readRawFrames(c, 1), "$-1\r\n");
    c.sendRaw(respCommand({"HGETALL", "hash"}));
    EXPECT_EQ(readRawFrames(c, 1), "*2\r\n$1\r\nf\r\n$1\r\n1\r\n");
}

TEST_F(StatefulTest, RedisCliInResp3ModeGetsAMapFromHello) {
    auto port = std::to_string(laminar_.port());
    int status = -1;
    auto out = run("timeout 10 redis-cli -3 --no-raw -p " + port + " HELLO 3", &status);
    EXPECT_EQ(status, 0);
    // redis-cli prints a map as "1# "server" => "redis"" lines.
    EXPECT_NE(out.find("\"proto\" => (integer) 3"), std::string::npos) << out;
    EXPECT_NE(out.find("\"server\" => \"redis\""), std::string::npos) << out;
}

TEST_F(StatefulTest, Hello2ReturnsAnArrayOfFieldsAndValues) {
    Client c(laminar_.port());
    auto r = c.cmd({"HELLO", "2"});
    ASSERT_EQ(r.type, REDIS_REPLY_ARRAY) << show(r);
    ASSERT_EQ(r.elements.size() % 2, 0u);
    bool proto_seen = false;
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
        if (r.elements[i].str == "proto") {
            proto_seen = true;
            EXPECT_EQ(r.elements[i + 1].integer, 2);
        }
    }
    EXPECT_TRUE(proto_seen) << show(r);
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
}

// ------------------------------------------------------------------ INFO

TEST_F(StatefulTest, InfoHasTheLaminarSectionBeforeTheBackendsSections) {
    Client c(laminar_.port());
    auto all = c.cmd({"INFO"});
    ASSERT_EQ(all.type, REDIS_REPLY_STRING) << show(all);
    EXPECT_NE(all.str.find("# Laminar\r\n"), std::string::npos);
    EXPECT_NE(all.str.find("# Server\r\n"), std::string::npos);
    EXPECT_NE(all.str.find("redis_version:"), std::string::npos);
    EXPECT_LT(all.str.find("# Laminar"), all.str.find("# Server"));
    EXPECT_EQ(infoField(all.str, "laminar_version"), LAMINAR_VERSION);

    auto only = c.cmd({"INFO", "laminar"});
    ASSERT_EQ(only.type, REDIS_REPLY_STRING);
    EXPECT_NE(only.str.find("# Laminar\r\n"), std::string::npos);
    EXPECT_EQ(only.str.find("# Server"), std::string::npos);
    EXPECT_EQ(infoField(only.str, "pinned_clients"), "0");

    auto server = c.cmd({"INFO", "server"});
    ASSERT_EQ(server.type, REDIS_REPLY_STRING);
    EXPECT_NE(server.str.find("# Server\r\n"), std::string::npos);
}

// ------------------------------------------------------------------ pinning ends with the state

TEST_F(StatefulTest, PinnedClientsReturnsToZeroAfterExec) {
    Client c(laminar_.port());
    ASSERT_EQ(pinnedClients(), 0);
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(pinnedClients(), 0) << "MULTI is held until the transaction's first key";
    EXPECT_EQ(show(c.cmd({"INCR", "n"})), "+QUEUED");
    EXPECT_TRUE(waitPinned(1)) << pinnedClients();
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[:1]");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
    EXPECT_EQ(show(c.cmd({"GET", "n"})), "$1");
}

TEST_F(StatefulTest, PinnedClientsReturnsToZeroAfterDiscardAndUnwatch) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"WATCH", "x"})), "+OK");
    EXPECT_TRUE(waitPinned(1)) << pinnedClients();
    EXPECT_EQ(show(c.cmd({"UNWATCH"})), "+OK");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"DISCARD"})), "+OK");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
}

TEST_F(StatefulTest, PinnedClientsReturnsToZeroAfterTheBlockingCommandEnds) {
    Client blocked(laminar_.port()), pusher(laminar_.port());
    ASSERT_TRUE(sendOnly(blocked, {"BLPOP", "pq", "5"}));
    ASSERT_TRUE(waitBlocked(1));
    EXPECT_EQ(pinnedClients(), 1);
    EXPECT_EQ(show(pusher.cmd({"RPUSH", "pq", "v"})), ":1");
    EXPECT_EQ(show(blocked.read()), "[$pq, $v]");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
    // And after a BLPOP that timed out.
    EXPECT_EQ(show(blocked.cmd({"BLPOP", "pq", "1"})), "(nil)");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
}

TEST_F(StatefulTest, PinnedClientsReturnsToZeroAfterUnsubscribing) {
    Client sub(laminar_.port());
    EXPECT_EQ(show(sub.cmd({"SUBSCRIBE", "c1"})), "[$subscribe, $c1, :1]");
    EXPECT_TRUE(waitPinned(1)) << pinnedClients();
    EXPECT_EQ(show(sub.cmd({"PSUBSCRIBE", "p*"})), "[$psubscribe, $p*, :2]");
    EXPECT_EQ(show(sub.cmd({"UNSUBSCRIBE"})), "[$unsubscribe, $c1, :1]");
    EXPECT_EQ(pinnedClients(), 1);  // still pattern-subscribed
    EXPECT_EQ(show(sub.cmd({"PUNSUBSCRIBE"})), "[$punsubscribe, $p*, :0]");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
    EXPECT_EQ(show(sub.cmd({"SET", "after", "sub"})), "+OK");
}

TEST_F(StatefulTest, PinnedClientsReturnsToZeroAfterSelectZero) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"SELECT", "2"})), "+OK");
    EXPECT_TRUE(waitPinned(1)) << pinnedClients();
    EXPECT_EQ(show(c.cmd({"SELECT", "0"})), "+OK");
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
}

TEST_F(StatefulTest, PinnedClientsCountsAClientThatDisconnectsInMultiOnlyUntilItIsGone) {
    {
        Client c(laminar_.port());
        EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", "abandoned", "1"})), "+QUEUED");
        EXPECT_TRUE(waitPinned(1)) << pinnedClients();
    }
    EXPECT_TRUE(waitPinned(0)) << pinnedClients();
    // The next client does not inherit the abandoned transaction.
    Client next(laminar_.port());
    EXPECT_EQ(show(next.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(next.cmd({"SET", "fresh", "1"})), "+QUEUED");
    EXPECT_EQ(show(next.cmd({"EXEC"})), "[+OK]");
}

}  // namespace
}  // namespace laminar::test

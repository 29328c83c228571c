// SPDX-License-Identifier: Apache-2.0
// Issue 23.1: RESP3 clients are multiplexed like RESP2 ones. After HELLO 3 a client's commands go
// on shared RESP3 connections (one set per backend and I/O thread, beside the RESP2 ones), so its
// replies are the bytes redis-server gives a RESP3 connection, and the number of backend
// connections does not grow with the number of RESP3 clients. Only what needs a connection of its
// own pins (MULTI, WATCH, blocking commands, subscriptions), on a connection opened in RESP3.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"
#include "resp/command_table.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Script = std::vector<std::vector<std::string>>;

// Sends `hello` then each command, one at a time, and returns the raw reply bytes of each command.
std::vector<std::string> rawReplies(int port, const Script& script) {
    Client c(port);
    c.sendRaw(respCommand({"HELLO", "3"}));
    EXPECT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    std::vector<std::string> out;
    for (const auto& argv : script) {
        c.sendRaw(respCommand(argv));
        out.push_back(readRawFrames(c, 1));
    }
    return out;
}

// The same data on a redis-server reached directly and through laminar.
const Script kData = {{"SET", "s", "v"},
                      {"HSET", "h", "f1", "1", "f2", "2"},
                      {"SADD", "set", "a"},
                      {"ZADD", "z", "1.5", "m", "2", "n"},
                      {"RPUSH", "l", "x", "y"},
                      {"XADD", "st", "1-1", "f", "v"}};

// Commands whose RESP3 replies differ from their RESP2 ones (null, map, set, double, verbatim,
// nested), and some whose replies do not.
const Script kProbe = {{"GET", "s"},
                       {"GET", "missing"},
                       {"MGET", "s", "missing"},
                       {"HGETALL", "h"},
                       {"HGETALL", "missing"},
                       {"HMGET", "h", "f1", "nope"},
                       {"SMEMBERS", "set"},
                       {"ZSCORE", "z", "m"},
                       {"ZSCORE", "z", "nope"},
                       {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
                       {"ZPOPMIN", "missing"},
                       {"ZINCRBY", "z", "0.5", "n"},
                       {"LPOS", "l", "nope"},
                       {"LRANGE", "l", "0", "-1"},
                       {"XRANGE", "st", "-", "+"},
                       {"XREAD", "STREAMS", "st", "0"},
                       {"XREAD", "STREAMS", "missing", "0"},
                       {"HRANDFIELD", "missing"},
                       {"ZMSCORE", "z", "m", "nope"},
                       {"ZRANDMEMBER", "missing"},
                       {"XINFO", "STREAM", "st"},
                       {"OBJECT", "ENCODING", "s"},
                       {"INCR", "counter"},
                       {"TTL", "s"},
                       {"TYPE", "h"},
                       {"EXISTS", "s", "missing"},
                       {"SPOP", "missing"},
                       {"GETDEL", "missing"},
                       // strings
                       {"GETRANGE", "s", "0", "0"},
                       {"STRLEN", "s"},
                       {"INCRBYFLOAT", "f", "1.5"},
                       {"SETRANGE", "s2", "2", "x"},
                       {"LCS", "s", "s2"},
                       {"MSETNX", "m1", "a", "m2", "b"},
                       {"GETEX", "missing"},
                       // lists
                       {"LINDEX", "l", "5"},
                       {"LPOP", "missing", "2"},
                       {"LMPOP", "1", "l", "LEFT"},
                       {"LMPOP", "1", "missing", "LEFT"},
                       // hashes
                       {"HKEYS", "h"},
                       {"HVALS", "h"},
                       {"HEXISTS", "h", "f1"},
                       {"HINCRBYFLOAT", "h", "f2", "0.25"},
                       {"HGET", "h", "nope"},
                       // sets
                       {"SISMEMBER", "set", "a"},
                       {"SMISMEMBER", "set", "a", "b"},
                       {"SINTER", "set", "missing"},
                       {"SRANDMEMBER", "set"},
                       // sorted sets
                       {"ZRANK", "z", "nope"},
                       {"ZREVRANGE", "z", "0", "-1", "WITHSCORES"},
                       {"ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"},
                       {"ZUNION", "1", "z", "WITHSCORES"},
                       {"ZMPOP", "1", "missing", "MIN"},
                       // streams, geo, hyperloglog, bits
                       {"XLEN", "st"},
                       {"XREVRANGE", "st", "+", "-", "COUNT", "1"},
                       {"XINFO", "GROUPS", "st"},
                       {"GEOADD", "g", "13.361389", "38.115556", "Palermo"},
                       {"GEOPOS", "g", "Palermo", "nope"},
                       {"GEODIST", "g", "Palermo", "nope"},
                       {"PFADD", "hll", "a", "b"},
                       {"PFCOUNT", "hll"},
                       {"SETBIT", "bits", "3", "1"},
                       {"BITPOS", "bits", "1"},
                       // keys and scripts
                       {"DUMP", "s"},
                       {"PTTL", "missing"},
                       {"EXPIRETIME", "s"},
                       {"EVAL", "return {1, 'a', false}", "0"},
                       {"EVAL", "redis.setresp(3); return redis.call('HGETALL', KEYS[1])", "1", "h"},
                       {"EVAL", "return redis.error_reply('MY failure')", "0"},
                       {"NOSUCH"},
                       {"GET"},
                       {"HSET", "s", "f", "v"}};

class Resp3Test : public ::testing::Test {
protected:
    void SetUp() override {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), route("n", "n:*", "strategy: {type: proxy, target: new}")));
        for (int port : {old_.port(), direct_.port()}) {
            Client c(port);
            for (const auto& argv : kData) ASSERT_FALSE(c.cmd(argv).isError()) << argv[0];
        }
    }
    RedisServer old_, new_, direct_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(Resp3Test, RepliesAreTheBytesRedisGivesARESP3Connection) {
    auto through = rawReplies(lam_->port(), kProbe);
    auto direct = rawReplies(direct_.port(), kProbe);
    ASSERT_EQ(through.size(), kProbe.size());
    for (size_t i = 0; i < kProbe.size(); ++i) EXPECT_EQ(through[i], direct[i]) << kProbe[i][0] << " " << (kProbe[i].size() > 1 ? kProbe[i][1] : "");
}

// Every command of laminar's table that it passes to a backend, with arguments made up to its
// arity ("100000" each: a key, a count, a TTL of a day, an out-of-range index), sent as a RESP3
// client to laminar and to a redis-server reached directly, in the same order: the same bytes,
// replies and errors alike. Left out: what laminar answers itself or refuses (local, admin,
// no-proxy, blocking, pub/sub and transaction commands, each tested elsewhere), and what two
// servers answer differently however alike their data (random picks, clocks, cursors and key
// orders, per-server state).
TEST_F(Resp3Test, EveryCommandOfTheTableGetsTheBytesRedisGives) {
    const std::set<std::string_view> skip = {
        // local, or per connection
        "auth", "hello", "select", "reset", "quit", "client", "info",
        // random, clock, cursor or order
        "randomkey", "spop", "srandmember", "hrandfield", "zrandmember", "time", "lastsave", "lolwut", "scan", "sscan",
        "hscan", "zscan", "keys", "object|idletime", "object|freq", "ttl", "pttl", "expiretime", "pexpiretime",
        // per-server state, or reaches out of the server
        "memory", "latency", "slowlog", "role", "acl", "migrate", "restore-asking", "pfdebug", "pfselftest", "debug",
        // the order of a server's command dict (its hash seed is random)
        "command|docs", "command|info", "command|list"};
    Script script;
    auto add = [&](const resp::CommandInfo& c) {
        constexpr uint32_t kElsewhere = resp::kAdmin | resp::kNoProxy | resp::kBlocking | resp::kPubSub | resp::kTransaction;
        std::string_view name = c.name;
        auto bar = name.find('|');
        if ((c.flags & kElsewhere) || skip.contains(name) || (bar != std::string_view::npos && skip.contains(name.substr(0, bar))))
            return;
        std::vector<std::string> argv;
        if (bar == std::string_view::npos) {
            argv.emplace_back(name);
        } else {
            argv.emplace_back(name.substr(0, bar));
            argv.emplace_back(name.substr(bar + 1));
        }
        while (argv.size() < static_cast<size_t>(std::abs(c.arity))) argv.emplace_back("100000");
        script.push_back(std::move(argv));
    };
    for (const auto& c : resp::allCommands()) {
        if (c.subcommands.empty()) add(c);
        for (const auto& sub : c.subcommands) add(sub);
    }
    ASSERT_GT(script.size(), 180u);
    auto through = rawReplies(lam_->port(), script);
    auto direct = rawReplies(direct_.port(), script);
    ASSERT_EQ(through.size(), script.size());
    size_t differ = 0;
    for (size_t i = 0; i < script.size(); ++i) {
        if (through[i] == direct[i]) continue;
        ++differ;
        ADD_FAILURE() << script[i][0] << " " << (script[i].size() > 1 ? script[i][1] : "") << ": laminar " << through[i].substr(0, 200)
                      << " redis-server " << direct[i].substr(0, 200);
    }
    EXPECT_EQ(differ, 0u) << "of " << script.size() << " commands";
}

TEST_F(Resp3Test, ManyResp3ClientsShareTheBackendsConnections) {
    Client admin(lam_->port());
    const long long before = infoNumber(old_.port(), "clients", "connected_clients");
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 40; ++i) {
        clients.push_back(std::make_unique<Client>(lam_->port()));
        clients.back()->sendRaw(respCommand({"HELLO", "3"}));
        ASSERT_EQ(readRawFrames(*clients.back(), 1).substr(0, 1), "%");
        clients.back()->sendRaw(respCommand({"GET", "missing"}));
        ASSERT_EQ(readRawFrames(*clients.back(), 1), "_\r\n");
    }
    EXPECT_EQ(laminarInfoNumber(admin, "pinned_clients"), 0);
    // One RESP3 connection per shared one at most, whatever the number of clients.
    const long long after = infoNumber(old_.port(), "clients", "connected_clients");
    EXPECT_LE(after - before, 8) << "backend connections grew with RESP3 clients";
}

// Commands of one client run in the order it sent them, across its switch of protocol: the GET
// after HELLO 3 (on a RESP3 connection) sees the SET before it (on a RESP2 one), pipelined.
TEST_F(Resp3Test, SwitchingProtocolKeepsTheOrderOfAClientsCommands) {
    Client c(lam_->port());
    std::string script;
    for (int i = 0; i < 50; ++i) {
        const auto v = std::to_string(i);
        script += respCommand({"SET", "o", v}) + respCommand({"HELLO", i % 2 ? "2" : "3"}) + respCommand({"GET", "o"}) +
                  respCommand({"GET", "missing"});
    }
    c.sendRaw(script);
    auto raw = readRawFrames(c, 200);
    size_t pos = 0;
    for (int i = 0; i < 50; ++i) {
        const auto v = std::to_string(i);
        const bool resp3 = i % 2 == 0;
        std::string_view rest(raw);
        rest.remove_prefix(pos);
        size_t n = respFrameLength(rest);
        ASSERT_EQ(rest.substr(0, n), "+OK\r\n") << i;
        rest.remove_prefix(n);
        size_t hello = respFrameLength(rest);
        ASSERT_EQ(rest[0], resp3 ? '%' : '*') << i;
        rest.remove_prefix(hello);
        const std::string get = "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        ASSERT_EQ(rest.substr(0, get.size()), get) << i;
        rest.remove_prefix(get.size());
        const std::string miss = resp3 ? "_\r\n" : "$-1\r\n";
        ASSERT_EQ(rest.substr(0, miss.size()), miss) << i;
        pos += n + hello + get.size() + miss.size();
    }
}

// What laminar answers itself is in RESP3 too: CLIENT GETNAME's null, the verbatim strings of
// CLIENT INFO and INFO.
TEST_F(Resp3Test, LaminarsOwnRepliesAreInResp3) {
    Client c(lam_->port());
    c.sendRaw(respCommand({"CLIENT", "ID"}));
    std::string id = readRawFrames(c, 1);  // ":N\r\n"
    c.sendRaw(respCommand({"HELLO", "3"}));
    auto hello = readRawFrames(c, 1);
    ASSERT_EQ(hello.substr(0, 1), "%");
    // HELLO's id is laminar's client id, as CLIENT ID says, in RESP3 and back in RESP2.
    EXPECT_NE(hello.find("$2\r\nid\r\n" + id), std::string::npos) << hello << " vs " << id;
    c.sendRaw(respCommand({"HELLO", "2"}));
    hello = readRawFrames(c, 1);
    EXPECT_NE(hello.find("$2\r\nid\r\n" + id), std::string::npos) << hello << " vs " << id;
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    c.sendRaw(respCommand({"CLIENT", "GETNAME"}));
    EXPECT_EQ(readRawFrames(c, 1), "_\r\n");
    c.sendRaw(respCommand({"CLIENT", "INFO"}));
    auto info = readRawFrames(c, 1);
    EXPECT_EQ(info.substr(0, 1), "=") << info;
    EXPECT_NE(info.find("\r\ntxt:id="), std::string::npos) << info;
    EXPECT_NE(info.find(" resp=3"), std::string::npos) << info;
    c.sendRaw(respCommand({"INFO", "laminar"}));
    info = readRawFrames(c, 1);
    EXPECT_EQ(info.substr(0, 1), "=") << info;
    EXPECT_NE(info.find("txt:# Laminar"), std::string::npos) << info;
    c.sendRaw(respCommand({"INFO", "server"}));
    info = readRawFrames(c, 1);
    EXPECT_EQ(info.substr(0, 1), "=") << info;
    EXPECT_NE(info.find("redis_version:"), std::string::npos) << info;
}

// What a RESP3 client library sends on connect: HELLO 3 with SETNAME (and AUTH, users_test.cpp
// has the rights), CLIENT SETINFO; HELLO without a version keeps the protocol. None pins.
TEST_F(Resp3Test, WhatAClientLibrarySendsOnConnectWorksWithoutAPin) {
    Client c(lam_->port()), admin(lam_->port());
    c.sendRaw(respCommand({"HELLO", "3", "SETNAME", "app"}) + respCommand({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}) +
              respCommand({"CLIENT", "GETNAME"}));
    auto raw = readRawFrames(c, 3);
    EXPECT_EQ(raw.substr(0, 1), "%") << raw;
    EXPECT_NE(raw.find("$5\r\nproto\r\n:3\r\n"), std::string::npos) << raw;
    EXPECT_TRUE(raw.ends_with("+OK\r\n$3\r\napp\r\n")) << raw;
    c.sendRaw(respCommand({"HELLO"}));
    raw = readRawFrames(c, 1);
    EXPECT_EQ(raw.substr(0, 1), "%") << raw;
    EXPECT_NE(raw.find("$5\r\nproto\r\n:3\r\n"), std::string::npos) << raw;
    EXPECT_EQ(laminarInfoNumber(admin, "pinned_clients"), 0);
}

// A transaction pins, on a connection opened in RESP3; after EXEC the client is multiplexed again.
TEST_F(Resp3Test, ATransactionRunsInResp3AndUnpinsAfterExec) {
    Client c(lam_->port()), admin(lam_->port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    c.sendRaw(respCommand({"MULTI"}) + respCommand({"HGETALL", "h"}) + respCommand({"GET", "missing"}) + respCommand({"EXEC"}));
    EXPECT_EQ(readRawFrames(c, 4), "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n%2\r\n$2\r\nf1\r\n$1\r\n1\r\n$2\r\nf2\r\n$1\r\n2\r\n_\r\n");
    EXPECT_EQ(laminarInfoNumber(admin, "pinned_clients"), 0);
    c.sendRaw(respCommand({"GET", "missing"}));
    EXPECT_EQ(readRawFrames(c, 1), "_\r\n");
}

TEST_F(Resp3Test, ASubscriberGetsPushesAndTheRestOfItsRepliesInResp3) {
    Client sub(lam_->port()), pub(lam_->port());
    sub.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(sub, 1).substr(0, 1), "%");
    sub.sendRaw(respCommand({"SUBSCRIBE", "ch"}));
    EXPECT_EQ(readRawFrames(sub, 1), ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    EXPECT_EQ(show(pub.cmd({"PUBLISH", "ch", "hi"})), ":1");
    EXPECT_EQ(readRawFrames(sub, 1), ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
    sub.sendRaw(respCommand({"GET", "missing"}));
    EXPECT_EQ(readRawFrames(sub, 1), "_\r\n");
}

// Issue 23: a RESP3 client was pinned to the catch-all's backend; it now reaches every route, and
// keeps working when a reload moves the catch-all (the last step of a migration).
TEST_F(Resp3Test, AResp3ClientReachesEveryRouteAndOutlivesAReloadThatMovesTheCatchAll) {
    Client c(lam_->port()), admin(lam_->port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    c.sendRaw(respCommand({"SET", "n:1", "new-side"}) + respCommand({"GET", "s"}));
    EXPECT_EQ(readRawFrames(c, 2), "+OK\r\n$1\r\nv\r\n");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "n:1"})), "$new-side");
    lam_->rewriteConfig(cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nbackends:\n  old: {type: redis, address: 127.0.0.1:",
                            old_.port(), "}\n  new: {type: redis, address: 127.0.0.1:", new_.port(),
                            "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: new}\n"));
    ASSERT_TRUE(sighupAndWait(*lam_, admin)) << lam_->log();
    c.sendRaw(respCommand({"GET", "s"}) + respCommand({"GET", "n:1"}));
    EXPECT_EQ(readRawFrames(c, 2), "_\r\n$8\r\nnew-side\r\n");
}

// RESP3 clients now go through their routes' strategies (they were pinned past them): each keeps
// its rules with RESP3 replies. dual_lookup falls back on a RESP3 miss (_ or %0), dual_write
// reaches both sides, shadow compares RESP3 replies as equal, convert copies on a miss.
TEST(Resp3StrategiesTest, EveryStrategyKeepsItsRulesForAResp3Client) {
    RedisServer old_, new_;
    Laminar lam(twoBackendConfig(
        old_.port(), new_.port(),
        route("dl", "dl:*", "strategy: {type: dual_lookup, first: new, second: old, writes: first, warm: true}") +
            route("dw", "dw:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command}") +
            route("sh", "sh:*", "strategy: {type: shadow, primary: old, shadow: new, sample: 1.0}") +
            route("cv", "cv:*", "strategy: {type: convert, source: old, target: new, key: {prefix: 'cv:', to: 'cv:'}, value: identity}")));
    Client o(old_.port()), n(new_.port()), admin(lam.port());
    for (Client* side : {&o, &n}) {
        ASSERT_EQ(show(side->cmd({"SET", "sh:k", "same"})), "+OK");
        ASSERT_EQ(show(side->cmd({"HSET", "sh:h", "f", "v"})), ":1");
    }
    ASSERT_EQ(show(o.cmd({"SET", "dl:1", "old-value"})), "+OK");
    ASSERT_EQ(show(o.cmd({"HSET", "dl:h", "f", "v"})), ":1");
    ASSERT_EQ(show(o.cmd({"SET", "cv:1", "source"})), "+OK");

    Client c(lam.port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    const Script script = {{"GET", "dl:1"}, {"HGETALL", "dl:h"}, {"GET", "dl:none"}, {"SET", "dw:1", "both"}, {"GET", "dw:none"},
                           {"GET", "sh:k"}, {"HGETALL", "sh:h"}, {"GET", "sh:none"}, {"GET", "cv:1"},  {"GET", "cv:none"}};
    std::string sent;
    for (const auto& argv : script) sent += respCommand(argv);
    c.sendRaw(sent);
    EXPECT_EQ(readRawFrames(c, script.size()),
              "$9\r\nold-value\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n+OK\r\n_\r\n"
              "$4\r\nsame\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n$6\r\nsource\r\n_\r\n");
    EXPECT_EQ(show(o.cmd({"GET", "dw:1"})), "$both");
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"GET", "dw:1"})) == "$both"; }));
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"GET", "dl:1"})) == "$old-value"; })) << "dual_lookup's warm copy";
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"GET", "cv:1"})) == "$source"; })) << "convert's copy";
    EXPECT_TRUE(waitFor([&] { return routeCounter(admin, "sh", "shadow_compared") >= 3; }, 5s)) << laminarStatus(admin);
    EXPECT_EQ(routeCounter(admin, "sh", "shadow_mismatches"), 0) << laminarStatus(admin) << lam.log();
    EXPECT_EQ(routeCounter(admin, "sh", "shadow_failures"), 0) << laminarStatus(admin);
}

// queued_write (acknowledged by the queue) and a migration route in dual_write_read_new answer in
// the client's protocol too, and keep both sides in step.
TEST(Resp3StrategiesTest, QueuedWritesAndAMigrationPhaseAnswerInResp3) {
    RedisServer old_, new_;
    const std::string dir = tempDir() + "/queue";
    Laminar lam(twoBackendConfig(old_.port(), new_.port(),
                                 route("q", "q:*", "strategy: {type: queued_write, primary: old, queued: [new], ack: queued}") +
                                     migrationRoute("m", "m:*", "dual_write_read_new"),
                                 2, "queue: {dir: " + dir + "}\n"));
    Client o(old_.port()), n(new_.port());
    ASSERT_EQ(show(o.cmd({"SET", "m:old", "only-old"})), "+OK");
    Client c(lam.port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    c.sendRaw(respCommand({"SET", "q:1", "queued"}) + respCommand({"GET", "q:none"}) + respCommand({"SET", "m:1", "both"}) +
              respCommand({"GET", "m:none"}) + respCommand({"HSET", "m:h", "f", "v"}) + respCommand({"HGETALL", "m:h"}));
    EXPECT_EQ(readRawFrames(c, 6), "+OK\r\n_\r\n+OK\r\n_\r\n:1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"GET", "q:1"})) == "$queued" && show(n.cmd({"GET", "q:1"})) == "$queued"; }));
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"GET", "m:1"})) == "$both" && show(n.cmd({"GET", "m:1"})) == "$both"; }));
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"HGETALL", "m:h"})) == "[$f, $v]"; }));
}

// A memcached backend speaks RESP2 only: laminar writes its replies in RESP3 itself.
TEST(Resp3MemcachedTest, AMemcachedBackendAnswersInResp3) {
    MemcachedServer mc;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\nbackends:\n  mc: {type: memcached, servers: [127.0.0.1:",
                    mc.port(), "], timeout: 500ms}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: mc}\n"));
    Client c(lam.port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    auto hello = readRawFrames(c, 1);
    ASSERT_EQ(hello.substr(0, 1), "%") << hello;
    c.sendRaw(respCommand({"SET", "a", "1"}) + respCommand({"GET", "missing"}) + respCommand({"MGET", "a", "missing"}) +
              respCommand({"INCR", "a"}));
    EXPECT_EQ(readRawFrames(c, 4), "+OK\r\n_\r\n*2\r\n$1\r\n1\r\n_\r\n:2\r\n");
}

}  // namespace
}  // namespace laminar::test

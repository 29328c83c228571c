// SPDX-License-Identifier: Apache-2.0
// The tools' synchronous clients (src/tools/sync_client.cpp): what a Redis client sends when it
// opens (AUTH, SELECT) and how replies become Values; why open() or a call throws Unreachable;
// and how the cluster client routes by slot, follows MOVED and ASK, and merges DBSIZE, KEYS and
// SCAN over the masters. The servers are scripted fakes in this process, on loopback ports: each
// answers the commands it reads as the test's function says.
#include "tools/sync_client.h"


#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "backend/cluster/slots.h"
#include "resp/writer.h"
#include "support/loopback.h"

namespace laminar::tools {
namespace {

using laminar::testing::Argv;
using laminar::testing::RefusingPort;
using laminar::testing::ScriptedServer;

std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

std::string where(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

config::BackendConfig redis(uint16_t port) {
    config::BackendConfig b;
    b.name = "old";
    b.address = {"127.0.0.1", port};
    return b;
}

// The message of the Unreachable `fn` throws, or "" when it throws none.
template <class Fn>
std::string unreachable(Fn&& fn) {
    try {
        fn();
    } catch (const Unreachable& e) {
        return e.what();
    }
    return "";
}

TEST(SyncClientTest, OpeningSendsAuthWithTheUserThenSelectsTheDatabase) {
    ScriptedServer server([](const Argv& argv) { return argv[0] == "GET" ? bulk("v") : "+OK\r\n"; });
    auto cfg = redis(server.port());
    cfg.username = "app";
    cfg.password = "secret";
    cfg.db = 3;
    auto client = SyncClient::open(cfg);
    EXPECT_EQ(client->name(), "old");
    auto v = client->call({"GET", "k"});
    EXPECT_EQ(v.kind, Value::Kind::kString);
    EXPECT_EQ(v.str, "v");
    EXPECT_EQ(server.received(), (std::vector<Argv>{{"AUTH", "app", "secret"}, {"SELECT", "3"}, {"GET", "k"}}));
}

TEST(SyncClientTest, WithoutPasswordOrDatabaseNothingIsSentOnOpening) {
    ScriptedServer server([](const Argv&) { return std::string("+PONG\r\n"); });
    auto client = SyncClient::open(redis(server.port()));
    client->call({"PING"});
    EXPECT_EQ(server.received(), std::vector<Argv>{{"PING"}});
}

TEST(SyncClientTest, ARefusedAuthIsUnreachableWithTheServersWords) {
    ScriptedServer server([](const Argv&) { return std::string("-WRONGPASS invalid username-password pair or user is disabled.\r\n"); });
    auto cfg = redis(server.port());
    cfg.password = "nope";
    EXPECT_EQ(unreachable([&] { SyncClient::open(cfg); }),
              "backend 'old' (" + where(server.port()) + "): AUTH: WRONGPASS invalid username-password pair or user is disabled.");
}

TEST(SyncClientTest, ARefusedSelectIsUnreachable) {
    ScriptedServer server([](const Argv&) { return std::string("-ERR DB index is out of range\r\n"); });
    auto cfg = redis(server.port());
    cfg.db = 99;
    EXPECT_EQ(unreachable([&] { SyncClient::open(cfg); }), "backend 'old' (" + where(server.port()) + "): SELECT: ERR DB index is out of range");
}

TEST(SyncClientTest, ARefusedConnectionIsUnreachable) {
    RefusingPort port;
    EXPECT_EQ(unreachable([&] { SyncClient::open(redis(port.port())); }), "backend 'old' (" + where(port.port()) + "): Connection refused");
}

TEST(SyncClientTest, AConnectionTheServerClosesIsUnreachable) {
    ScriptedServer server([](const Argv&) { return ScriptedServer::kClose; });
    auto client = SyncClient::open(redis(server.port()));
    EXPECT_EQ(unreachable([&] { client->call({"GET", "k"}); }), "backend 'old' (" + where(server.port()) + "): connection closed by server");
}

TEST(SyncClientTest, RepliesOfEveryKindBecomeValuesAndErrorsDoNotThrow) {
    ScriptedServer server([](const Argv& argv) -> std::string {
        const auto& k = argv[1];
        if (k == "status") return "+QUEUED\r\n";
        if (k == "int") return ":-42\r\n";
        if (k == "nil") return "$-1\r\n";
        if (k == "binary") return bulk(std::string("a\r\n\0b", 5));
        if (k == "array") return "*3\r\n$1\r\nx\r\n*1\r\n:7\r\n$-1\r\n";
        return "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    });
    auto client = SyncClient::open(redis(server.port()));
    auto v = client->call({"X", "status"});
    EXPECT_EQ(v.kind, Value::Kind::kStatus);
    EXPECT_EQ(v.str, "QUEUED");
    v = client->call({"X", "int"});
    EXPECT_EQ(v.kind, Value::Kind::kInteger);
    EXPECT_EQ(v.integer, -42);
    EXPECT_TRUE(client->call({"X", "nil"}).isNil());
    v = client->call({"X", "binary"});
    EXPECT_EQ(v.kind, Value::Kind::kString);
    EXPECT_EQ(v.str, std::string("a\r\n\0b", 5));
    v = client->call({"X", "array"});
    ASSERT_EQ(v.kind, Value::Kind::kArray);
    ASSERT_EQ(v.elems.size(), 3u);
    EXPECT_EQ(v.elems[0].str, "x");
    ASSERT_EQ(v.elems[1].elems.size(), 1u);
    EXPECT_EQ(v.elems[1].elems[0].integer, 7);
    EXPECT_TRUE(v.elems[2].isNil());
    v = client->call({"X", "error"});
    EXPECT_TRUE(v.isError());
    EXPECT_EQ(v.str, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST(SyncClientTest, ArgumentsAreSentBinarySafe) {
    ScriptedServer server([](const Argv&) { return std::string("+OK\r\n"); });
    auto client = SyncClient::open(redis(server.port()));
    std::string value("x\r\n\0y", 5);
    client->call({"SET", "k", value});
    EXPECT_EQ(server.received(), (std::vector<Argv>{{"SET", "k", value}}));
}

TEST(SyncClientTest, CallManyAnswersEachCommandInOrder) {
    ScriptedServer server([](const Argv& argv) { return bulk(argv[1]); });
    auto client = SyncClient::open(redis(server.port()));
    auto replies = client->callMany({{"GET", "a"}, {"GET", "b"}, {"GET", "c"}});
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].str, "a");
    EXPECT_EQ(replies[1].str, "b");
    EXPECT_EQ(replies[2].str, "c");
}

TEST(SyncClientTest, AMemcachedThatCannotBeReachedIsUnreachableNamingIt) {
    RefusingPort port;
    config::BackendConfig cfg;
    cfg.name = "cache";
    cfg.type = config::BackendConfig::Type::kMemcached;
    cfg.servers = {{"127.0.0.1", port.port()}};
    auto why = unreachable([&] { SyncClient::open(cfg); });
    EXPECT_TRUE(why.starts_with("backend 'cache' (" + where(port.port()) + "): ")) << why;
}

// A two-master cluster of scripted nodes: `low` serves slots 0-8191, `high` 8192-16383.
class ClusterClientTest : public ::testing::Test {
protected:
    ClusterClientTest()
        : low([this](const Argv& argv) { return answer(low_answers, argv); }),
          high([this](const Argv& argv) { return answer(high_answers, argv); }) {
        cfg.name = "c";
        cfg.type = config::BackendConfig::Type::kRedisCluster;
        cfg.servers = {low.at()};
        cfg.address = low.at();
    }

    std::string slots() const {
        auto node = [](uint16_t port) { return "*3\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(port) + "\r\n$2\r\nid\r\n"; };
        return "*2\r\n*3\r\n:0\r\n:8191\r\n" + node(low.port()) + "*3\r\n:8192\r\n:16383\r\n" + node(high.port());
    }
    // What a node answers: CLUSTER SLOTS from the map above, else its function of the command.
    std::string answer(const std::function<std::string(const Argv&)>& fn, const Argv& argv) {
        if (argv.size() == 2 && argv[0] == "CLUSTER" && argv[1] == "SLOTS") return slots();
        if (argv[0] == "ASKING") return "+OK\r\n";
        return fn(argv);
    }
    // The index of `node` among the masters as a SCAN walks them: by address.
    size_t scanIndex(const ScriptedServer& node) const {
        return where(node.port()) < where(node.port() == low.port() ? high.port() : low.port()) ? 0 : 1;
    }

    // A key on a slot of each half.
    const std::string low_key = "{" + std::to_string(backend::cluster::slotTag(100)) + "}";
    const std::string high_key = "{" + std::to_string(backend::cluster::slotTag(10000)) + "}";
    std::function<std::string(const Argv&)> low_answers = [](const Argv& argv) { return bulk("low:" + argv.back()); };
    std::function<std::string(const Argv&)> high_answers = [](const Argv& argv) { return bulk("high:" + argv.back()); };
    ScriptedServer low, high;
    config::BackendConfig cfg;
};

TEST_F(ClusterClientTest, EachCommandGoesToTheMasterOfItsKeysSlot) {
    auto client = SyncClient::open(cfg);
    EXPECT_EQ(client->call({"GET", low_key}).str, "low:" + low_key);
    EXPECT_EQ(client->call({"GET", high_key}).str, "high:" + high_key);
    EXPECT_EQ(low.received("GET"), (std::vector<Argv>{{"GET", low_key}}));
    EXPECT_EQ(high.received("GET"), (std::vector<Argv>{{"GET", high_key}}));
}

TEST_F(ClusterClientTest, CallManyPutsEveryMastersRepliesBackInTheCallersOrder) {
    auto client = SyncClient::open(cfg);
    auto replies = client->callMany({{"GET", high_key}, {"GET", low_key}, {"GET", high_key + "x"}});
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].str, "high:" + high_key);
    EXPECT_EQ(replies[1].str, "low:" + low_key);
    EXPECT_EQ(replies[2].str, "high:" + high_key + "x") << "the hash tag keeps it on high's slot";
}

TEST_F(ClusterClientTest, AMovedIsFollowedAndRemembered) {
    uint16_t slot = backend::cluster::keySlot(low_key);
    std::string to_high = "-MOVED " + std::to_string(slot) + " " + where(high.port()) + "\r\n";
    low_answers = [&](const Argv&) { return to_high; };
    auto client = SyncClient::open(cfg);
    EXPECT_EQ(client->call({"GET", low_key}).str, "high:" + low_key);
    EXPECT_EQ(client->call({"GET", low_key}).str, "high:" + low_key);
    EXPECT_EQ(low.received("GET").size(), 1u) << "the second goes to the new master at once";
    EXPECT_EQ(high.received("GET").size(), 2u);
}

TEST_F(ClusterClientTest, AnAskIsFollowedOnceAfterAskingAndNotRemembered) {
    uint16_t slot = backend::cluster::keySlot(low_key);
    std::string ask_high = "-ASK " + std::to_string(slot) + " " + where(high.port()) + "\r\n";
    low_answers = [&](const Argv&) { return ask_high; };
    auto client = SyncClient::open(cfg);
    EXPECT_EQ(client->call({"GET", low_key}).str, "high:" + low_key);
    EXPECT_EQ(high.received(), (std::vector<Argv>{{"ASKING"}, {"GET", low_key}}));
    client->call({"GET", low_key});
    EXPECT_EQ(low.received("GET").size(), 2u) << "the slot is still low's";
}

TEST_F(ClusterClientTest, AnErrorThatIsNoRedirectIsTheReply) {
    low_answers = [](const Argv&) { return std::string("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"); };
    auto client = SyncClient::open(cfg);
    auto v = client->call({"GET", low_key});
    EXPECT_TRUE(v.isError());
    EXPECT_EQ(v.str, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

TEST_F(ClusterClientTest, DbsizeIsTheSumOverTheMasters) {
    low_answers = [](const Argv&) { return std::string(":3\r\n"); };
    high_answers = [](const Argv&) { return std::string(":4\r\n"); };
    auto client = SyncClient::open(cfg);
    auto v = client->call({"DBSIZE"});
    EXPECT_EQ(v.kind, Value::Kind::kInteger);
    EXPECT_EQ(v.integer, 7);
}

TEST_F(ClusterClientTest, KeysJoinsEveryMastersKeys) {
    low_answers = [](const Argv&) { return std::string("*1\r\n$1\r\na\r\n"); };
    high_answers = [](const Argv&) { return std::string("*2\r\n$1\r\nb\r\n$1\r\nc\r\n"); };
    auto client = SyncClient::open(cfg);
    auto v = client->call({"KEYS", "*"});
    ASSERT_EQ(v.kind, Value::Kind::kArray);
    std::vector<std::string> keys;
    for (const auto& e : v.elems) keys.push_back(e.str);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(ClusterClientTest, ScanWalksTheMastersWithTheDaemonsCursor) {
    // Each node: cursor 0 -> "9" and key x; cursor 9 -> "0" (done) and key y.
    auto scan = [](const std::string& who) {
        return [who](const Argv& argv) {
            return argv[1] == "0" ? "*2\r\n$1\r\n9\r\n*1\r\n" + bulk(who + "x") : "*2\r\n$1\r\n0\r\n*1\r\n" + bulk(who + "y");
        };
    };
    low_answers = scan("low:");
    high_answers = scan("high:");
    const ScriptedServer& first = scanIndex(low) == 0 ? low : high;
    const ScriptedServer& second = scanIndex(low) == 0 ? high : low;
    auto client = SyncClient::open(cfg);

    std::vector<std::string> cursors, keys;
    std::string cursor = "0";
    do {
        auto v = client->call({"SCAN", cursor, "COUNT", "10"});
        ASSERT_EQ(v.kind, Value::Kind::kArray);
        ASSERT_EQ(v.elems.size(), 2u);
        cursor = v.elems[0].str;
        cursors.push_back(cursor);
        for (const auto& e : v.elems[1].elems) keys.push_back(e.str);
        ASSERT_LT(cursors.size(), 10u);
    } while (cursor != "0");
    // node cursor 9 on master 0 = 9 * 1024 + 0; master 0 done = master 1, cursor 0; then 9 * 1024 + 1.
    EXPECT_EQ(cursors, (std::vector<std::string>{"9216", "1", "9217", "0"}));
    EXPECT_EQ(first.received("SCAN"), (std::vector<Argv>{{"SCAN", "0", "COUNT", "10"}, {"SCAN", "9", "COUNT", "10"}}));
    EXPECT_EQ(second.received("SCAN"), (std::vector<Argv>{{"SCAN", "0", "COUNT", "10"}, {"SCAN", "9", "COUNT", "10"}}));
    EXPECT_EQ(keys.size(), 4u);
}

TEST_F(ClusterClientTest, AScanCursorNamingNoMasterIsRefused) {
    auto client = SyncClient::open(cfg);
    auto v = client->call({"SCAN", "2"});  // master index 2 of 2
    EXPECT_TRUE(v.isError());
    EXPECT_EQ(v.str, "ERR invalid cursor");
    EXPECT_TRUE(client->call({"SCAN", "x"}).isError());
    EXPECT_TRUE(low.received("SCAN").empty());
    EXPECT_TRUE(high.received("SCAN").empty());
}

TEST_F(ClusterClientTest, ASeedThatCannotBeReachedIsSkippedForTheNext) {
    RefusingPort dead;
    cfg.servers = {{"127.0.0.1", dead.port()}, high.at()};
    auto client = SyncClient::open(cfg);
    EXPECT_EQ(client->call({"GET", low_key}).str, "low:" + low_key);
    EXPECT_EQ(high.received("CLUSTER").size(), 1u) << "the map came from the second seed";
}

TEST_F(ClusterClientTest, WithoutASlotMapOpeningIsUnreachableNamingTheSeedsAndWhy) {
    ScriptedServer plain([](const Argv&) { return std::string("-ERR This instance has cluster support disabled\r\n"); });
    cfg.servers = {plain.at()};
    EXPECT_EQ(unreachable([&] { SyncClient::open(cfg); }),
              "backend 'c' (redis_cluster, seeds " + where(plain.port()) + "): no slot map: " + where(plain.port()) +
                  ": ERR This instance has cluster support disabled");
}

TEST_F(ClusterClientTest, ASeedThatRefusesIsTheReasonGiven) {
    RefusingPort dead;
    cfg.servers = {{"127.0.0.1", dead.port()}};
    EXPECT_EQ(unreachable([&] { SyncClient::open(cfg); }),
              "backend 'c' (redis_cluster, seeds " + where(dead.port()) + "): no slot map: backend 'c@" + where(dead.port()) + "' (" +
                  where(dead.port()) + "): Connection refused");
}

}  // namespace
}  // namespace laminar::tools

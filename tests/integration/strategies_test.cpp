// SPDX-License-Identifier: Apache-2.0
// Every strategy of the policy engine with two real redis-servers (old, new) behind laminar:
// where reads and writes land, what the client sees, what LAMINAR ROUTE / STATUS report, and
// multi-key commands split across routes. Each side is checked directly on its redis-server.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class StrategyFixture : public ::testing::Test {
protected:
    void start(const std::string& routes, int threads = 2) {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes, threads));
    }
    int port() const { return lam_->port(); }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

using StrategyProxy = StrategyFixture;
using StrategyReadOnly = StrategyFixture;
using StrategyDualLookup = StrategyFixture;
using StrategyDualWrite = StrategyFixture;
using StrategyMigration = StrategyFixture;
using StrategyAdmin = StrategyFixture;

// ================================================================== proxy

// A script loaded through laminar is loaded on every Redis backend, so EVALSHA finds it whichever
// side a route sends it to, and after a phase flip too.
TEST_F(StrategyProxy, ScriptLoadReachesEveryBackendSoEvalshaWorksOnAnyRoute) {
    start(route("carts", "cart:*", "strategy: {type: proxy, target: new}"));
    Client c(port());
    auto sha = c.cmd({"SCRIPT", "LOAD", "return redis.call('SET', KEYS[1], ARGV[1])"}).str;
    ASSERT_EQ(sha.size(), 40u) << sha;
    for (int p : {old_.port(), new_.port()})
        EXPECT_TRUE(waitFor([&] { return show(Client(p).cmd({"SCRIPT", "EXISTS", sha})) == "[:1]"; }, 5s)) << p;
    EXPECT_EQ(show(c.cmd({"EVALSHA", sha, "1", "cart:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"EVALSHA", sha, "1", "other", "b"})), "+OK");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "cart:1"})), "$a");
    EXPECT_EQ(show(Client(old_.port()).cmd({"GET", "other"})), "$b");
}

TEST_F(StrategyProxy, EveryCommandGoesToTheTargetAndNowhereElse) {
    start(route("carts", "cart:*", "strategy: {type: proxy, target: new}") + route("bare", "bare:*", "strategy: new"));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "cart:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HSET", "cart:h", "f", "v"})), ":1");
    EXPECT_EQ(show(c.cmd({"INCR", "cart:n"})), ":1");
    EXPECT_EQ(show(c.cmd({"SET", "bare:1", "b"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "other", "o"})), "+OK");

    EXPECT_EQ(show(n.cmd({"GET", "cart:1"})), "$a");
    EXPECT_EQ(show(n.cmd({"HGET", "cart:h", "f"})), "$v");
    EXPECT_EQ(show(n.cmd({"GET", "cart:n"})), "$1");
    EXPECT_EQ(show(n.cmd({"GET", "bare:1"})), "$b");
    EXPECT_EQ(show(o.cmd({"GET", "other"})), "$o");
    EXPECT_EQ(allKeys(old_.port()), std::vector<std::string>{"other"});
    EXPECT_EQ(allKeys(new_.port()), (std::vector<std::string>{"bare:1", "cart:1", "cart:h", "cart:n"}));

    // Reads come from the target too: a value only on old is not seen through the cart route.
    o.cmd({"SET", "cart:only-old", "x"});
    EXPECT_EQ(show(c.cmd({"GET", "cart:only-old"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$a");
}

TEST_F(StrategyProxy, ADeadTargetFailsOnlyItsRouteNamingTheBackendAndTrafficResumes) {
    start(route("carts", "cart:*", "strategy: {type: proxy, target: new}"));
    Client c(port());
    EXPECT_EQ(show(c.cmd({"SET", "cart:1", "a"})), "+OK");
    new_.kill();
    auto r = c.cmd({"GET", "cart:1"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("backend 'new'"), std::string::npos) << r.str;
    EXPECT_EQ(show(c.cmd({"SET", "other", "o"})), "+OK");  // the default route (old) keeps working
    new_.restart();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"SET", "cart:2", "b"})) == "+OK"; }, 10s));
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "cart:2"})), "$b");
}

// ================================================================== read_only

TEST_F(StrategyReadOnly, WritesAreRefusedNamingTheRouteAndReadsAreServed) {
    start(route("catalog", "catalog:*", "strategy: {type: read_only, target: old}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "catalog:1", "frozen"});
    o.cmd({"HSET", "catalog:h", "f", "v"});
    o.cmd({"RPUSH", "catalog:l", "a", "b"});

    EXPECT_EQ(show(c.cmd({"GET", "catalog:1"})), "$frozen");
    EXPECT_EQ(show(c.cmd({"HGETALL", "catalog:h"})), "[$f, $v]");
    EXPECT_EQ(show(c.cmd({"LRANGE", "catalog:l", "0", "-1"})), "[$a, $b]");
    EXPECT_EQ(show(c.cmd({"EXISTS", "catalog:1"})), ":1");
    EXPECT_EQ(show(c.cmd({"TTL", "catalog:1"})), ":-1");
    EXPECT_EQ(show(c.cmd({"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "catalog:1"})), "$frozen");

    const std::string refused = "-READONLY laminar: route 'catalog' is read-only";
    for (const auto& w : std::vector<std::vector<std::string>>{{"SET", "catalog:1", "x"},
                                                               {"EVAL", "return redis.call('DEL', KEYS[1])", "1", "catalog:1"},
                                                               {"SET", "catalog:new", "x"},
                                                               {"DEL", "catalog:1"},
                                                               {"INCR", "catalog:n"},
                                                               {"HSET", "catalog:h", "f", "changed"},
                                                               {"RPUSH", "catalog:l", "c"},
                                                               {"EXPIRE", "catalog:1", "10"},
                                                               {"APPEND", "catalog:1", "y"}})
        EXPECT_EQ(show(c.cmd(w)), refused) << w[0];

    EXPECT_EQ(show(o.cmd({"GET", "catalog:1"})), "$frozen");
    EXPECT_EQ(show(o.cmd({"HGET", "catalog:h", "f"})), "$v");
    EXPECT_EQ(show(o.cmd({"LLEN", "catalog:l"})), ":2");
    EXPECT_EQ(show(o.cmd({"TTL", "catalog:1"})), ":-1");
    EXPECT_EQ(allKeys(old_.port()), (std::vector<std::string>{"catalog:1", "catalog:h", "catalog:l"}));
    EXPECT_TRUE(allKeys(new_.port()).empty());
    // Other routes still write.
    EXPECT_EQ(show(c.cmd({"SET", "other", "o"})), "+OK");

    auto r = laminarRoute(c, {"SET", "catalog:1", "x"});
    EXPECT_EQ(r["route"], "catalog");
    EXPECT_EQ(r["strategy"], "read_only(old)");
    EXPECT_EQ(r["class"], "write");
    EXPECT_EQ(r["writes"], "-");
    r = laminarRoute(c, {"GET", "catalog:1"});
    EXPECT_EQ(r["reads"], "old");
}

// ================================================================== dual_lookup

TEST_F(StrategyDualLookup, AKeyOnlyOnOldIsReadThroughAndNotCopiedWithoutWarm) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "profile:1", "from-old"});
    n.cmd({"SET", "profile:2", "from-new"});
    o.cmd({"SET", "profile:2", "stale-old"});
    EXPECT_EQ(show(c.cmd({"GET", "profile:1"})), "$from-old");
    EXPECT_EQ(show(c.cmd({"GET", "profile:2"})), "$from-new");  // first wins when it has the key
    EXPECT_EQ(show(c.cmd({"GET", "profile:none"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"EXISTS", "profile:1"})), ":1");
    EXPECT_EQ(show(c.cmd({"TYPE", "profile:1"})), "+string");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(show(n.cmd({"EXISTS", "profile:1"})), ":0") << "warm is off: nothing may be copied";
    EXPECT_NE(laminarStatus(c).find("fallbacks="), std::string::npos) << laminarStatus(c);
}

TEST_F(StrategyDualLookup, WarmCopiesEveryTypeIntoFirstWithItsTtl) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old, warm: true}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "profile:s", "string-value", "EX", "100"});
    o.cmd({"HSET", "profile:h", "a", "1", "b", "2"});
    o.cmd({"EXPIRE", "profile:h", "200"});
    o.cmd({"RPUSH", "profile:l", "x", "y", "z"});
    o.cmd({"EXPIRE", "profile:l", "300"});
    o.cmd({"SADD", "profile:set", "m1", "m2"});  // no TTL
    o.cmd({"ZADD", "profile:z", "1", "a", "2.5", "b"});
    o.cmd({"PEXPIRE", "profile:z", "400000"});

    EXPECT_EQ(show(c.cmd({"GET", "profile:s"})), "$string-value");
    EXPECT_EQ(showSorted(c.cmd({"HGETALL", "profile:h"})), "{$1, $2, $a, $b}");
    EXPECT_EQ(show(c.cmd({"LRANGE", "profile:l", "0", "-1"})), "[$x, $y, $z]");
    EXPECT_EQ(showSorted(c.cmd({"SMEMBERS", "profile:set"})), "{$m1, $m2}");
    EXPECT_EQ(show(c.cmd({"ZRANGE", "profile:z", "0", "-1", "WITHSCORES"})), "[$a, $1, $b, $2.5]");

    std::vector<std::string> keys = {"profile:s", "profile:h", "profile:l", "profile:set", "profile:z"};
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys, 1s); }, 5s);
    EXPECT_TRUE(d.empty()) << "warm copies (value and TTL within 1 s):\n" << firstLines(d);
    EXPECT_EQ(pttl(n, "profile:set"), -1);
    EXPECT_GT(pttl(n, "profile:s"), 90'000);
    // Now served by first, even when old changes.
    o.cmd({"SET", "profile:s", "changed-on-old"});
    EXPECT_EQ(show(c.cmd({"GET", "profile:s"})), "$string-value");
    EXPECT_NE(laminarStatus(c).find("warm_copies="), std::string::npos) << laminarStatus(c);
}

// A read that misses on first although first has the key (HGET of a field only old's copy has)
// falls back and would warm: the copy must not overwrite first's value.
TEST_F(StrategyDualLookup, WarmNeverOverwritesAKeyAlreadyOnFirst) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old, warm: true}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"HSET", "profile:h", "old-field", "o", "shared", "old"});
    n.cmd({"HSET", "profile:h", "shared", "new"});
    n.cmd({"EXPIRE", "profile:h", "1000"});
    o.cmd({"RPUSH", "profile:l", "o1", "o2", "o3"});
    n.cmd({"RPUSH", "profile:l", "n1"});
    o.cmd({"SET", "profile:s", "old-string"});
    n.cmd({"SET", "profile:s", "new"});

    EXPECT_EQ(show(c.cmd({"HGET", "profile:h", "old-field"})), "$o");  // a miss on new, found on old
    EXPECT_EQ(show(c.cmd({"LINDEX", "profile:l", "2"})), "$o3");
    EXPECT_EQ(show(c.cmd({"GETRANGE", "profile:s", "5", "20"})), "$") << "new has the key: an empty string is not a miss";
    std::this_thread::sleep_for(500ms);  // a warm copy, if any, has run by now
    EXPECT_EQ(keyState(n, "profile:h"), "hash:{shared=new}");
    EXPECT_GT(pttl(n, "profile:h"), 900'000);
    EXPECT_EQ(keyState(n, "profile:l"), "list:[n1]");
    EXPECT_EQ(keyState(n, "profile:s"), "string:$new");
    EXPECT_EQ(show(c.cmd({"HGET", "profile:h", "shared"})), "$new");
}

TEST_F(StrategyDualLookup, DelAndUnlinkRemoveBothCopiesSoNothingComesBack) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old, warm: true}"));
    Client c(port()), o(old_.port()), n(new_.port());
    for (const char* k : {"profile:both", "profile:u"}) {
        o.cmd({"SET", k, "old"});
        n.cmd({"SET", k, "new"});
    }
    o.cmd({"SET", "profile:old-only", "o"});
    n.cmd({"SET", "profile:new-only", "n"});

    EXPECT_EQ(show(c.cmd({"DEL", "profile:both"})), ":1");
    EXPECT_EQ(show(c.cmd({"UNLINK", "profile:u"})), ":1");
    EXPECT_EQ(show(c.cmd({"DEL", "profile:old-only", "profile:new-only", "profile:none"})), ":2");
    for (const char* k : {"profile:both", "profile:u", "profile:old-only", "profile:new-only"}) {
        EXPECT_EQ(show(o.cmd({"EXISTS", k})), ":0") << k << " on old";
        EXPECT_EQ(show(n.cmd({"EXISTS", k})), ":0") << k << " on new";
        EXPECT_EQ(show(c.cmd({"GET", k})), "(nil)") << k << " through laminar";
    }
    auto r = laminarRoute(c, {"DEL", "profile:both"});
    EXPECT_EQ(r["writes"], "new,old");
}

TEST_F(StrategyDualLookup, WritesGoWhereWritesSays) {
    start(route("first", "f:*", "strategy: {type: dual_lookup, first: new, second: old, writes: first}") +
          route("second", "s:*", "strategy: {type: dual_lookup, first: new, second: old, writes: second}") +
          route("both", "b:*", "strategy: {type: dual_lookup, first: new, second: old, writes: both}"));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "f:1", "v"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "s:1", "v"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "b:1", "v"})), "+OK");
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"GET", "b:1"})) == "$v"; }, 2s));
    EXPECT_EQ(allKeys(new_.port()), (std::vector<std::string>{"b:1", "f:1"}));
    EXPECT_EQ(allKeys(old_.port()), (std::vector<std::string>{"b:1", "s:1"}));
    EXPECT_EQ(show(c.cmd({"GET", "s:1"})), "$v");  // read through the fallback
    EXPECT_EQ(laminarRoute(c, {"SET", "f:1", "x"})["writes"], "new");
    EXPECT_EQ(laminarRoute(c, {"SET", "s:1", "x"})["writes"], "old");
    EXPECT_EQ(laminarRoute(c, {"SET", "b:1", "x"})["writes"], "new,old");
    EXPECT_EQ(laminarRoute(c, {"GET", "b:1"})["reads"], "new,old");
}

// docs/design.md hazard 1 through dual_lookup: a write whose effect depends on the current value
// (INCR, APPEND, HSET of one field, RPUSH) on a key that only `second` has yet. Sent to `first`
// alone it starts from nothing there, and from then on first's partial value is the answer.
TEST_F(StrategyDualLookup, AWriteThatDependsOnTheValueOfAKeyOnlyOnSecondBuildsOnThatValue) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old, writes: first, warm: true}"));
    Client c(port()), o(old_.port());
    o.cmd({"SET", "profile:views", "41"});
    o.cmd({"SET", "profile:name", "Ada"});
    o.cmd({"HSET", "profile:h", "email", "ada@example.com"});
    o.cmd({"RPUSH", "profile:l", "first"});
    EXPECT_EQ(show(c.cmd({"INCR", "profile:views"})), ":42");
    EXPECT_EQ(show(c.cmd({"APPEND", "profile:name", " Lovelace"})), ":12");
    EXPECT_EQ(show(c.cmd({"HSET", "profile:h", "city", "London"})), ":1");
    EXPECT_EQ(show(c.cmd({"RPUSH", "profile:l", "second"})), ":2");
    EXPECT_EQ(show(c.cmd({"GET", "profile:views"})), "$42");
    EXPECT_EQ(show(c.cmd({"GET", "profile:name"})), "$Ada Lovelace");
    EXPECT_EQ(show(c.cmd({"HGET", "profile:h", "email"})), "$ada@example.com");
    EXPECT_EQ(show(c.cmd({"LRANGE", "profile:l", "0", "-1"})), "[$first, $second]");
}

// A key only on old must read through laminar exactly as on old, whatever the read command: a
// count or length of 0 from new is a miss as much as a null is.
TEST_F(StrategyDualLookup, EveryReadOfAKeyOnlyOnOldAnswersAsOld) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: new, second: old}"));
    Client c(port()), o(old_.port());
    o.cmd({"SET", "profile:s", "hello"});
    o.cmd({"HSET", "profile:h", "a", "1", "b", "2"});
    o.cmd({"RPUSH", "profile:l", "x", "y", "z"});
    o.cmd({"SADD", "profile:set", "m1", "m2"});
    o.cmd({"ZADD", "profile:z", "1", "a", "2", "b"});
    for (const auto& read : std::vector<std::vector<std::string>>{{"GET", "profile:s"},
                                                                  {"TTL", "profile:s"},
                                                                  {"TYPE", "profile:h"},
                                                                  {"EXISTS", "profile:l"},
                                                                  {"HGET", "profile:h", "a"},
                                                                  {"LRANGE", "profile:l", "0", "-1"},
                                                                  {"SMEMBERS", "profile:set"},
                                                                  {"STRLEN", "profile:s"},
                                                                  {"HLEN", "profile:h"},
                                                                  {"LLEN", "profile:l"},
                                                                  {"SCARD", "profile:set"},
                                                                  {"ZCARD", "profile:z"},
                                                                  {"SISMEMBER", "profile:set", "m1"},
                                                                  {"HEXISTS", "profile:h", "a"}}) {
        auto direct = o.cmd(read);
        EXPECT_EQ(show(c.cmd(read)), show(direct)) << read[0] << " " << read[1];
    }
}

// ================================================================== dual_write

TEST_F(StrategyDualWrite, SyncModeWritesAppearOnBoth) {
    start(route("orders", "order:*", "strategy: {type: dual_write, primary: old, secondary: new}"));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "order:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "order:ttl", "t", "EX", "500"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HSET", "order:h", "f", "v", "g", "w"})), ":2");
    EXPECT_EQ(show(c.cmd({"SADD", "order:s", "x", "y"})), ":2");
    EXPECT_EQ(show(c.cmd({"ZADD", "order:z", "3", "c"})), ":1");
    EXPECT_EQ(show(c.cmd({"SET", "order:gone", "g"})), "+OK");
    EXPECT_EQ(show(c.cmd({"DEL", "order:gone"})), ":1");
    // Reads come from primary.
    n.cmd({"SET", "order:split", "new-side"});
    o.cmd({"SET", "order:split", "old-side"});
    EXPECT_EQ(show(c.cmd({"GET", "order:split"})), "$old-side");

    std::vector<std::string> keys = {"order:1", "order:ttl", "order:h", "order:s", "order:z", "order:gone"};
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(keyState(n, "order:1"), "string:$a");
    EXPECT_EQ(keyState(n, "order:gone"), "none");
    EXPECT_GT(pttl(n, "order:ttl"), 490'000);
    auto r = laminarRoute(c, {"INCR", "order:1"});
    EXPECT_EQ(r["writes"], "old,new");
    EXPECT_EQ(laminarRoute(c, {"GET", "order:1"})["reads"], "old");
}

// THE classic dual-write bug: non-idempotent writes (INCR, LPUSH, HINCRBY, APPEND, SADD) replayed
// on a secondary that does not have the key yet start from zero there, and concurrent writers
// reach the two sides in different orders. In mode: sync the sides must end up identical.
TEST_F(StrategyDualWrite, NonIdempotentWritesFromConcurrentClientsOnAnEmptySecondaryComeOutIdentical) {
    start(route("counters", "c:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: sync}"));
    constexpr int kKeys = 5, kClients = 6, kRounds = 150;
    {
        // Old already has data, new has nothing: the situation at the start of every migration.
        Client o(old_.port());
        for (int k = 0; k < kKeys; ++k) {
            o.cmd({"SET", cat("c:counter:", k), "41"});
            o.cmd({"RPUSH", cat("c:list:", k), "seed-a", "seed-b"});
            o.cmd({"HSET", cat("c:hash:", k), "f0", "100", "other", "x"});
            o.cmd({"SET", cat("c:str:", k), "base"});
            o.cmd({"SADD", cat("c:set:", k), "seed"});
            if (k % 2 == 0)
                for (const char* t : {"counter", "list", "hash", "str", "set"}) o.cmd({"EXPIRE", cat("c:", t, ":", k), "600"});
        }
    }
    std::atomic<int> errors{0};
    std::vector<std::string> first_errors;
    std::mutex mu;
    std::vector<std::thread> writers;
    for (int t = 0; t < kClients; ++t) {
        writers.emplace_back([&, t] {
            Client c(port());
            for (int i = 0; i < kRounds; ++i) {
                int k = (i + t) % kKeys;
                std::vector<std::vector<std::string>> cmds = {
                    {"INCR", cat("c:counter:", k)},
                    {"LPUSH", cat("c:list:", k), cat("t", t, "-", i)},
                    {"HINCRBY", cat("c:hash:", k), cat("f", i % 3), "1"},
                    {"APPEND", cat("c:str:", k), cat("[", t, "-", i, "]")},
                    {"SADD", cat("c:set:", k), cat("m", t, "-", i % 20)},
                    {"INCRBY", "c:fresh", "2"},  // a key neither side had
                    {"RPUSH", cat("c:fresh-list:", t % 2), cat(t, "-", i)},
                };
                if (i % 50 == 49) cmds.push_back({"EXPIRE", cat("c:counter:", k), "900"});
                for (const auto& r : pipeline(c, cmds)) {
                    if (r.isError() || r.type < 0) {
                        ++errors;
                        std::lock_guard lock(mu);
                        if (first_errors.size() < 5) first_errors.push_back(show(r));
                    }
                }
            }
        });
    }
    for (auto& w : writers) w.join();
    ASSERT_EQ(errors.load(), 0) << (first_errors.empty() ? "" : first_errors[0]);

    // What the writers did, read back through laminar (from primary): nothing lost.
    Client c(port());
    long long incrs = 0, lpushes = 0, hincrs = 0, appends = 0;
    std::set<std::string> members;
    for (int k = 0; k < kKeys; ++k) {
        auto counter = c.cmd({"GET", cat("c:counter:", k)});
        auto llen = c.cmd({"LLEN", cat("c:list:", k)});
        auto hash = c.cmd({"HGET", cat("c:hash:", k), "f0"});
        incrs += std::stoll(counter.str) - 41;
        lpushes += llen.integer - 2;
        hincrs += std::stoll(hash.str) - 100;
        appends += static_cast<long long>(c.cmd({"GET", cat("c:str:", k)}).str.size()) - 4;
        auto set = c.cmd({"SMEMBERS", cat("c:set:", k)});
        for (const auto& m : set.elements) members.insert(cat(k, "/", m.str));
    }
    EXPECT_EQ(incrs, kClients * kRounds);
    EXPECT_EQ(lpushes, kClients * kRounds);
    EXPECT_GE(hincrs, kClients * kRounds / 3);
    EXPECT_GT(appends, 0);
    EXPECT_EQ(show(c.cmd({"GET", "c:fresh"})), cat("$", 2 * kClients * kRounds));

    // Both sides, key by key: type, value, TTL within 2 s.
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "c:*"); }, 15s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(allKeys(new_.port(), "c:*").size(), allKeys(old_.port(), "c:*").size());
    Client n(new_.port());
    EXPECT_EQ(show(n.cmd({"GET", "c:fresh"})), cat("$", 2 * kClients * kRounds));
    EXPECT_GT(pttl(n, "c:counter:0"), 800'000);
    EXPECT_EQ(pttl(n, "c:list:1"), -1);
}

// A plain overwrite (SET, SETEX, DEL, MSET) is sent to both sides as it is when no copy of its key
// is queued or running, and copied by state otherwise (SyncEngine::claimForward). Here a few hot
// keys take both kinds at once from clients on two I/O threads, so forwarded writes keep racing
// with read-back copies of the same keys: the sides must still end identical, and both paths ran.
TEST_F(StrategyDualWrite, PlainOverwritesRacingWithCopiesOfTheirKeysLeaveTheSidesIdentical) {
    start(route("hot", "h:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: sync}"));
    constexpr int kKeys = 4, kClients = 6, kRounds = 200;
    std::atomic<int> errors{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < kClients; ++t) {
        writers.emplace_back([&, t] {
            Client c(port());
            for (int i = 0; i < kRounds; ++i) {
                auto k = [&](int d) { return cat("h:", (i + t + d) % kKeys); };
                std::vector<std::vector<std::string>> cmds = {
                    {"SET", k(0), cat(t, "-", i)},
                    {"INCR", k(1)},
                    {"SETEX", k(2), "600", cat("x", i)},
                    {"APPEND", k(0), "+"},
                    {"MSET", k(1), cat(i), k(3), cat(t)},
                    {"INCRBY", k(3), "7"},
                };
                if (i % 7 == 0) cmds.push_back({"DEL", k(2)});
                if (i % 11 == 0) cmds.push_back({"UNLINK", k(0), k(1)});
                for (const auto& r : pipeline(c, cmds))
                    if ((r.isError() && r.str.rfind("ERR value is not an integer", 0) != 0) || r.type < 0) ++errors;
            }
        });
    }
    for (auto& w : writers) w.join();
    EXPECT_EQ(errors.load(), 0);
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "h:*"); }, 15s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    // Both ways of copying ran: writes sent to both sides, and keys read back after INCR and APPEND.
    Client o(old_.port()), n(new_.port());
    auto calls = [](Client& c, const std::string& cmd) {
        std::string info = c.cmd({"INFO", "commandstats"}).str;
        auto at = info.find("cmdstat_" + cmd + ":calls=");
        return at == std::string::npos ? 0LL : std::stoll(info.substr(at + cmd.size() + 15));
    };
    EXPECT_GT(calls(n, "set"), 0) << "no SET was forwarded to the secondary";
    EXPECT_GT(calls(n, "restore"), 0) << "no key was copied by state";
    EXPECT_EQ(calls(n, "incr"), 0) << "a write that builds on the value reached the secondary as a command";
}

// Scripts and functions may write, so dual_write copies their keys to the secondary, as it does
// for any other write, in both modes; EVAL_RO is a read and goes to the primary alone.
TEST_F(StrategyDualWrite, ScriptsAndFunctionsThatWriteReachTheSecondary) {
    start(route("sync", "sync:*", "strategy: {type: dual_write, primary: old, secondary: new}") +
          route("fast", "fast:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command}"));
    Client c(port()), o(old_.port()), n(new_.port());
    auto sha = c.cmd({"SCRIPT", "LOAD", "return redis.call('INCRBY', KEYS[1], ARGV[1])"}).str;
    ASSERT_EQ(sha.size(), 40u) << sha;
    // The function library is loaded on the primary only: its keys still reach the secondary.
    ASSERT_EQ(show(o.cmd({"FUNCTION", "LOAD", "#!lua name=lam\nredis.register_function('hset1', function(keys, args) "
                                              "return redis.call('HSET', keys[1], args[1], args[2]) end)"})),
              "$lam");
    for (std::string side : {"sync", "fast"}) {
        EXPECT_EQ(show(c.cmd({"EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", side + ":eval", "e"})), "+OK");
        EXPECT_EQ(show(c.cmd({"EVALSHA", sha, "1", side + ":count", "5"})), ":5");
        EXPECT_EQ(show(c.cmd({"EVALSHA", sha, "1", side + ":count", "2"})), ":7");
        EXPECT_EQ(show(c.cmd({"FCALL", "hset1", "1", side + ":h", "f", "v"})), ":1");
        EXPECT_EQ(show(c.cmd({"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", side + ":eval"})), "$e");
    }
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "*"); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(n.cmd({"MGET", "sync:eval", "sync:count", "fast:eval", "fast:count"})), "[$e, $7, $e, $7]");
    EXPECT_EQ(show(n.cmd({"HGET", "fast:h", "f"})), "$v");
    EXPECT_EQ(laminarRoute(c, {"EVALSHA", sha, "1", "sync:x"})["writes"], "old,new");
}

TEST_F(StrategyDualWrite, CommandModeSendsPlainSetsToBoth) {
    start(route("cache", "cache:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command, ack: both}") +
          route("fast", "fast:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command}"));
    Client c(port()), o(old_.port()), n(new_.port());
    for (int i = 0; i < 50; ++i) EXPECT_EQ(show(c.cmd({"SET", cat("cache:", i), cat("v", i)})), "+OK");
    EXPECT_EQ(show(c.cmd({"SETEX", "cache:ex", "300", "e"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MSET", "cache:m1", "1", "cache:m2", "2"})), "+OK");
    // ack: both: both sides have answered before the client has its reply.
    for (int i = 0; i < 50; ++i) EXPECT_EQ(show(n.cmd({"GET", cat("cache:", i)})), cat("$v", i)) << i;
    EXPECT_EQ(show(n.cmd({"GET", "cache:m2"})), "$2");
    EXPECT_GT(pttl(n, "cache:ex"), 290'000);
    // Non-idempotent writes go through the sync engine even in mode: command.
    o.cmd({"SET", "cache:views", "41"});
    EXPECT_EQ(show(c.cmd({"INCR", "cache:views"})), ":42");
    EXPECT_EQ(show(c.cmd({"SET", "fast:1", "f"})), "+OK");
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "*"); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(n.cmd({"GET", "cache:views"})), "$42");
    EXPECT_EQ(show(c.cmd({"DEL", "cache:1", "cache:2"})), ":2");
    EXPECT_EQ(show(n.cmd({"EXISTS", "cache:1", "cache:2"})), ":0");
}

TEST_F(StrategyDualWrite, AckBothReportsAnErrorWhenTheSecondaryIsDownAndAckPrimaryDoesNot) {
    start(route("cache", "cache:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command, ack: both}") +
          route("fast", "fast:*", "strategy: {type: dual_write, primary: old, secondary: new, mode: command, ack: primary}"));
    Client c(port()), o(old_.port());
    EXPECT_EQ(show(c.cmd({"SET", "cache:1", "before"})), "+OK");
    new_.kill();
    auto r = c.cmd({"SET", "cache:1", "after"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("backend 'new'"), std::string::npos) << r.str;
    // ack: primary answers with primary's reply; the failure is counted, not shown.
    EXPECT_EQ(show(c.cmd({"SET", "fast:1", "x"})), "+OK");
    EXPECT_EQ(show(o.cmd({"GET", "fast:1"})), "$x");
    EXPECT_EQ(show(c.cmd({"GET", "cache:1"})), "$after");  // reads still come from primary
    EXPECT_TRUE(waitFor([&] { return laminarStatus(c).find("secondary_failures=") != std::string::npos; }, 3s))
        << laminarStatus(c);
}

// ================================================================== migration phases

TEST_F(StrategyMigration, OldOnlyReadsAndWritesOldOnly) {
    start(migrationRoute("sessions", "session:*", "old_only"));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "session:n"})), ":1");
    n.cmd({"SET", "session:2", "new-side"});
    o.cmd({"SET", "session:2", "old-side"});
    EXPECT_EQ(show(c.cmd({"GET", "session:2"})), "$old-side");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(allKeys(new_.port()), std::vector<std::string>{"session:2"});
    EXPECT_EQ(show(o.cmd({"GET", "session:1"})), "$a");
    auto r = laminarRoute(c, {"SET", "session:1", "x"});
    EXPECT_EQ(r["route"], "sessions");
    EXPECT_EQ(r["strategy"], "migration(phase=old_only) = old");
    EXPECT_EQ(r["writes"], "old");
    EXPECT_EQ(laminarRoute(c, {"GET", "session:1"})["reads"], "old");
}

TEST_F(StrategyMigration, DualWriteReadOldReadsOldAndCopiesEveryWriteToNew) {
    start(migrationRoute("sessions", "session:*", "dual_write_read_old"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "session:views", "41"});  // only old has it
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "session:views"})), ":42");
    EXPECT_EQ(show(c.cmd({"RPUSH", "session:l", "x", "y"})), ":2");
    n.cmd({"SET", "session:split", "new-side"});
    o.cmd({"SET", "session:split", "old-side"});
    EXPECT_EQ(show(c.cmd({"GET", "session:split"})), "$old-side");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), {"session:1", "session:views", "session:l"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(n.cmd({"GET", "session:views"})), "$42");
    auto r = laminarRoute(c, {"SET", "session:1", "x"});
    EXPECT_EQ(r["strategy"], "migration(phase=dual_write_read_old) = dual_write(primary=old, secondary=new, mode=sync, ack=primary)");
    EXPECT_EQ(r["writes"], "old,new");
    EXPECT_EQ(laminarRoute(c, {"GET", "session:1"})["reads"], "old");
}

TEST_F(StrategyMigration, DualWriteReadNewReadsNewAndCopiesEveryWriteBackToOld) {
    start(migrationRoute("sessions", "session:*", "dual_write_read_new"));
    Client c(port()), o(old_.port()), n(new_.port());
    n.cmd({"SET", "session:views", "41"});
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "session:views"})), ":42");
    EXPECT_EQ(show(c.cmd({"HINCRBY", "session:h", "f", "5"})), ":5");
    n.cmd({"SET", "session:split", "new-side"});
    o.cmd({"SET", "session:split", "old-side"});
    EXPECT_EQ(show(c.cmd({"GET", "session:split"})), "$new-side");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), {"session:1", "session:views", "session:h"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(o.cmd({"GET", "session:views"})), "$42");
    auto r = laminarRoute(c, {"SET", "session:1", "x"});
    EXPECT_EQ(r["strategy"], "migration(phase=dual_write_read_new) = dual_write(primary=new, secondary=old, mode=sync, ack=primary)");
    EXPECT_EQ(r["writes"], "new,old");
    EXPECT_EQ(laminarRoute(c, {"GET", "session:1"})["reads"], "new");
}

TEST_F(StrategyMigration, NewOnlyReadsAndWritesNewOnly) {
    start(migrationRoute("sessions", "session:*", "new_only"));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "a"})), "+OK");
    n.cmd({"SET", "session:2", "new-side"});
    o.cmd({"SET", "session:2", "old-side"});
    EXPECT_EQ(show(c.cmd({"GET", "session:2"})), "$new-side");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(allKeys(old_.port()), std::vector<std::string>{"session:2"});
    EXPECT_EQ(show(n.cmd({"GET", "session:1"})), "$a");
    auto r = laminarRoute(c, {"SET", "session:1", "x"});
    EXPECT_EQ(r["strategy"], "migration(phase=new_only) = new");
    EXPECT_EQ(r["writes"], "new");
    EXPECT_EQ(laminarRoute(c, {"GET", "session:1"})["reads"], "new");
}

// ================================================================== LAMINAR ROUTE / STATUS

TEST_F(StrategyAdmin, RouteNamesTheRouteStrategyAndBackendsOfEveryStrategy) {
    start(route("p", "p:*", "strategy: new") + route("ro", "ro:*", "strategy: {type: read_only, target: old}") +
          route("dl", "dl:*", "strategy: {type: dual_lookup, first: new, second: old, writes: first, warm: true}") +
          route("dw", "dw:*", "strategy: {type: dual_write, primary: old, secondary: new}") +
          migrationRoute("m1", "m1:*", "old_only") + migrationRoute("m2", "m2:*", "dual_write_read_old") +
          migrationRoute("m3", "m3:*", "dual_write_read_new") + migrationRoute("m4", "m4:*", "new_only"));
    Client c(port());
    struct Want {
        std::string key, route, strategy, reads, writes;
    };
    for (const auto& w : std::vector<Want>{
             {"p:1", "p", "new", "new", "new"},
             {"ro:1", "ro", "read_only(old)", "old", "-"},
             {"dl:1", "dl", "dual_lookup(first=new, second=old, writes=first, warm=true)", "new,old", "new"},
             {"dw:1", "dw", "dual_write(primary=old, secondary=new, mode=sync, ack=primary)", "old", "old,new"},
             {"m1:1", "m1", "migration(phase=old_only) = old", "old", "old"},
             {"m2:1", "m2", "migration(phase=dual_write_read_old) = dual_write(primary=old, secondary=new, mode=sync, ack=primary)", "old", "old,new"},
             {"m3:1", "m3", "migration(phase=dual_write_read_new) = dual_write(primary=new, secondary=old, mode=sync, ack=primary)", "new", "new,old"},
             {"m4:1", "m4", "migration(phase=new_only) = new", "new", "new"},
             {"zzz", "default", "old", "old", "old"},
         }) {
        auto r = laminarRoute(c, {"GET", w.key});
        EXPECT_EQ(r["route"], w.route) << w.key;
        EXPECT_EQ(r["strategy"], w.strategy) << w.key;
        EXPECT_EQ(r["class"], "read") << w.key;
        EXPECT_EQ(r["reads"], w.reads) << w.key;
        auto s = laminarRoute(c, {"SET", w.key, "v"});
        EXPECT_EQ(s["route"], w.route) << w.key;
        EXPECT_EQ(s["class"], "write") << w.key;
        EXPECT_EQ(s["writes"], w.writes) << w.key;
    }
    EXPECT_NE(laminarRoute(c, {"NOSUCHCMD", "x"})["error"].find("unknown command"), std::string::npos);
}

TEST_F(StrategyAdmin, StatusShowsGenerationHashAndEveryRoute) {
    start(route("dw", "dw:*", "strategy: {type: dual_write, primary: old, secondary: new}") +
          migrationRoute("sessions", "session:*", "dual_write_read_old"));
    Client c(port());
    auto status = laminarStatus(c);
    ASSERT_FALSE(status.empty());
    EXPECT_NE(status.find("\ngeneration: 1\n"), std::string::npos) << status;
    auto hash = laminarInfo(c, "config_hash");
    ASSERT_EQ(hash.size(), 16u);
    EXPECT_NE(status.find("\nhash: " + hash + "\n"), std::string::npos) << status;
    int rc = -1;
    auto check = run(cat("'", LAMINAR_BINARY, "' --check-config '", lam_->configPath(), "' 2>&1"), &rc);
    EXPECT_EQ(rc, 0) << check;
    EXPECT_NE(check.find("(hash " + hash + ")"), std::string::npos) << check;
    EXPECT_NE(status.find("  dw: dual_write(primary=old, secondary=new, mode=sync, ack=primary)"), std::string::npos) << status;
    EXPECT_NE(status.find("  sessions: migration(phase=dual_write_read_old)"), std::string::npos) << status;
    EXPECT_NE(status.find("  default: old"), std::string::npos) << status;
    EXPECT_NE(status.find("  old: redis 127.0.0.1:" + std::to_string(old_.port())), std::string::npos) << status;

    lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(), migrationRoute("sessions", "session:*", "dual_write_read_new")));
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD", "FORCE"})), "+OK");  // no backfill ran: past the guardrail
    status = laminarStatus(c);
    EXPECT_NE(status.find("\ngeneration: 2\n"), std::string::npos) << status;
    EXPECT_EQ(status.find("\nhash: " + hash + "\n"), std::string::npos) << "the hash did not change:\n" << status;
    EXPECT_NE(status.find("\nhash: " + laminarInfo(c, "config_hash") + "\n"), std::string::npos) << status;
    EXPECT_NE(status.find("phase=dual_write_read_new"), std::string::npos) << status;
}

// ================================================================== multi-key commands across routes

class SplitFixture : public StrategyFixture {
protected:
    void SetUp() override {
        start(route("a", "a:*", "strategy: old") + route("b", "b:*", "strategy: new") +
              route("dl", "dl:*", "strategy: {type: dual_lookup, first: new, second: old}") +
              route("ro", "ro:*", "strategy: {type: read_only, target: old}"));
    }
};
using SplitAcrossRoutesTest = SplitFixture;

TEST_F(SplitAcrossRoutesTest, MgetReturnsValuesInOrderFromBothBackends) {
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"MSET", "a:1", "A1", "a:2", "A2"});
    n.cmd({"MSET", "b:1", "B1", "b:2", "B2"});
    o.cmd({"HSET", "a:hash", "f", "v"});
    EXPECT_EQ(show(c.cmd({"MGET", "a:1", "b:1", "a:missing", "b:2", "a:2", "b:missing", "a:hash", "a:1"})),
              "[$A1, $B1, (nil), $B2, $A2, (nil), (nil), $A1]");
    // A pipeline of split and plain commands keeps its order.
    auto replies = pipeline(c, {{"MGET", "b:1", "a:1"}, {"GET", "a:2"}, {"MGET", "a:2", "b:2"}, {"GET", "b:1"}});
    ASSERT_EQ(replies.size(), 4u);
    EXPECT_EQ(show(replies[0]), "[$B1, $A1]");
    EXPECT_EQ(show(replies[1]), "$A2");
    EXPECT_EQ(show(replies[2]), "[$A2, $B2]");
    EXPECT_EQ(show(replies[3]), "$B1");
}

TEST_F(SplitAcrossRoutesTest, DelUnlinkExistsAndTouchSumOverBothBackends) {
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"MSET", "a:1", "x", "a:2", "x", "a:3", "x"});
    n.cmd({"MSET", "b:1", "x", "b:2", "x", "b:3", "x"});
    EXPECT_EQ(show(c.cmd({"EXISTS", "a:1", "b:1", "a:none", "b:2", "a:1"})), ":4");
    EXPECT_EQ(show(c.cmd({"TOUCH", "a:1", "b:1", "b:none"})), ":2");
    EXPECT_EQ(show(c.cmd({"DEL", "a:1", "b:1", "a:none", "b:2"})), ":3");
    EXPECT_EQ(show(c.cmd({"UNLINK", "b:3", "a:3"})), ":2");
    EXPECT_EQ(allKeys(old_.port()), std::vector<std::string>{"a:2"});
    EXPECT_EQ(allKeys(new_.port()), std::vector<std::string>{});
}

TEST_F(SplitAcrossRoutesTest, MsetWritesEachKeyToItsRoutesBackend) {
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"MSET", "a:1", "1", "b:1", "2", "zzz", "3"})), "+OK");
    EXPECT_EQ(show(o.cmd({"MGET", "a:1", "b:1", "zzz"})), "[$1, (nil), $3]");
    EXPECT_EQ(show(n.cmd({"MGET", "a:1", "b:1", "zzz"})), "[(nil), $2, (nil)]");
    EXPECT_EQ(show(c.cmd({"MGET", "zzz", "b:1", "a:1"})), "[$3, $2, $1]");
}

TEST_F(SplitAcrossRoutesTest, MgetInADualLookupRouteFallsBackPerKey) {
    Client c(port()), o(old_.port()), n(new_.port());
    n.cmd({"SET", "dl:1", "on-new"});
    o.cmd({"SET", "dl:1", "stale-on-old"});
    o.cmd({"SET", "dl:2", "on-old"});
    EXPECT_EQ(show(c.cmd({"MGET", "dl:1", "dl:2", "dl:3", "b:none", "dl:2"})), "[$on-new, $on-old, (nil), (nil), $on-old]");
    EXPECT_EQ(show(c.cmd({"DEL", "dl:1", "dl:2", "a:none"})), ":2");
    EXPECT_TRUE(allKeys(old_.port()).empty());
    EXPECT_TRUE(allKeys(new_.port()).empty());
}

TEST_F(SplitAcrossRoutesTest, OtherMultiKeyCommandsAcrossRoutesAreRefusedNamingBothRoutes) {
    Client c(port()), o(old_.port());
    o.cmd({"SET", "a:1", "x"});
    auto r = c.cmd({"RENAME", "a:1", "b:1"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("'a'"), std::string::npos) << r.str;
    EXPECT_NE(r.str.find("'b'"), std::string::npos) << r.str;
    EXPECT_EQ(show(o.cmd({"GET", "a:1"})), "$x");
}

// MSET is atomic in Redis: all keys are set or none. Split across routes, a part refused by a
// read-only route must not leave the other parts applied behind the client's error.
TEST_F(SplitAcrossRoutesTest, MsetWithAKeyInAReadOnlyRouteIsRefusedWithoutWritingTheOthers) {
    Client c(port()), o(old_.port()), n(new_.port());
    auto r = c.cmd({"MSET", "a:1", "1", "ro:1", "2", "b:1", "3"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("READONLY"), std::string::npos) << r.str;
    EXPECT_EQ(show(o.cmd({"EXISTS", "a:1", "ro:1"})), ":0") << "MSET answered an error but wrote part of its keys";
    EXPECT_EQ(show(n.cmd({"EXISTS", "b:1"})), ":0") << "MSET answered an error but wrote part of its keys";
}

}  // namespace
}  // namespace laminar::test

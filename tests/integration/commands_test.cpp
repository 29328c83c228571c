// SPDX-License-Identifier: Apache-2.0
// Command coverage through the proxy. Every data command is sent twice: through laminar (to one
// redis-server) and directly to a second, separate redis-server that went through the same
// commands, and the two replies must be identical. Where the order of a reply depends on the
// server's hash seed (SMEMBERS, KEYS...), the elements are compared sorted.
// Also: admin commands refused unless client.allow_admin, MONITOR refused, client and backend AUTH.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

using Argv = std::vector<std::string>;

std::string joined(const Argv& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

class CommandsTest : public ::testing::Test {
protected:
    // Runs argv through laminar and directly on the reference server; expects identical replies.
    Reply same(const Argv& argv) {
        auto via = proxy_.cmd(argv);
        auto ref = direct_.cmd(argv);
        EXPECT_EQ(show(via), show(ref)) << joined(argv);
        return via;
    }
    // The same, for replies whose element order is unspecified.
    Reply sameUnordered(const Argv& argv) {
        auto via = proxy_.cmd(argv);
        auto ref = direct_.cmd(argv);
        EXPECT_EQ(showSorted(via), showSorted(ref)) << joined(argv);
        return via;
    }
    // Through laminar only.
    Reply viaProxy(const Argv& argv) { return proxy_.cmd(argv); }

    // Every element of a full SCAN-family iteration through laminar.
    std::vector<std::string> scanAll(Argv argv, size_t cursor_pos) {
        std::vector<std::string> seen;
        std::string cursor = "0";
        for (int rounds = 0; rounds < 1000; ++rounds) {
            argv[cursor_pos] = cursor;
            auto r = proxy_.cmd(argv);
            if (r.type != REDIS_REPLY_ARRAY || r.elements.size() != 2) {
                ADD_FAILURE() << joined(argv) << " -> " << show(r);
                break;
            }
            for (const auto& e : r.elements[1].elements) seen.push_back(e.str);
            cursor = r.elements[0].str;
            if (cursor == "0") break;
        }
        return seen;
    }

    RedisServer redis_;      // behind laminar
    RedisServer reference_;  // compared against, directly
    Laminar laminar_{proxyConfig(redis_.port())};
    Client proxy_{laminar_.port()};
    Client direct_{reference_.port()};
};

TEST_F(CommandsTest, HashCommandsAnswerAsRedisDoes) {
    same({"HSET", "h", "f1", "v1", "f2", "v2", "n", "10"});
    same({"HGET", "h", "f1"});
    same({"HGET", "h", "nope"});
    same({"HMGET", "h", "f1", "nope", "f2"});
    same({"HINCRBY", "h", "n", "5"});
    same({"HINCRBYFLOAT", "h", "n", "0.5"});
    same({"HLEN", "h"});
    same({"HEXISTS", "h", "f2"});
    same({"HSETNX", "h", "f1", "other"});
    same({"HSTRLEN", "h", "f1"});
    same({"HGETALL", "h"});
    same({"HKEYS", "h"});
    same({"HVALS", "h"});
    same({"HDEL", "h", "f1", "nope"});
    same({"HINCRBY", "h", "f2", "1"});  // error: not an integer
    same({"HGETALL", "h"});
}

TEST_F(CommandsTest, ListCommandsAnswerAsRedisDoes) {
    same({"RPUSH", "l", "a", "b", "c"});
    same({"LPUSH", "l", "z"});
    same({"LRANGE", "l", "0", "-1"});
    same({"LINDEX", "l", "1"});
    same({"LLEN", "l"});
    same({"LINSERT", "l", "BEFORE", "b", "x"});
    same({"LSET", "l", "0", "first"});
    same({"LPOS", "l", "c"});
    same({"LREM", "l", "1", "x"});
    same({"LMOVE", "l", "l2", "LEFT", "RIGHT"});
    same({"LPOP", "l"});
    same({"RPOP", "l", "2"});
    same({"LRANGE", "l", "0", "-1"});
    same({"LRANGE", "l2", "0", "-1"});
    same({"LPOP", "missing"});
    same({"LSET", "missing", "0", "x"});  // error: no such key
}

TEST_F(CommandsTest, SetCommandsAnswerAsRedisDoes) {
    same({"SADD", "s1", "a", "b", "c", "d"});
    same({"SADD", "s2", "c", "d", "e"});
    same({"SISMEMBER", "s1", "a"});
    same({"SMISMEMBER", "s1", "a", "e"});
    same({"SCARD", "s1"});
    sameUnordered({"SMEMBERS", "s1"});
    sameUnordered({"SINTER", "s1", "s2"});
    sameUnordered({"SUNION", "s1", "s2"});
    sameUnordered({"SDIFF", "s1", "s2"});
    same({"SINTERSTORE", "s3", "s1", "s2"});
    sameUnordered({"SMEMBERS", "s3"});
    same({"SREM", "s1", "a", "zz"});
    same({"SMOVE", "s1", "s2", "b"});
    sameUnordered({"SMEMBERS", "s2"});
    same({"SCARD", "s1"});
}

TEST_F(CommandsTest, SortedSetCommandsAnswerAsRedisDoes) {
    same({"ZADD", "z", "1", "one", "2", "two", "3", "three"});
    same({"ZADD", "z", "XX", "CH", "5", "one"});
    same({"ZRANGE", "z", "0", "-1", "WITHSCORES"});
    same({"ZSCORE", "z", "two"});
    same({"ZINCRBY", "z", "1.5", "two"});
    same({"ZRANK", "z", "two"});
    same({"ZREVRANGE", "z", "0", "1"});
    same({"ZRANGEBYSCORE", "z", "(1", "4", "WITHSCORES"});
    same({"ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "2"});
    same({"ZCOUNT", "z", "-inf", "+inf"});
    same({"ZADD", "z2", "10", "two", "20", "four"});
    same({"ZUNIONSTORE", "zu", "2", "z", "z2", "WEIGHTS", "1", "2"});
    same({"ZRANGE", "zu", "0", "-1", "WITHSCORES"});
    same({"ZINTER", "2", "z", "z2", "WITHSCORES"});
    same({"ZPOPMIN", "z"});
    same({"ZREM", "z", "three", "nope"});
    same({"ZCARD", "z"});
}

TEST_F(CommandsTest, StreamsAndConsumerGroupsAnswerAsRedisDoes) {
    same({"XADD", "st", "1-1", "field", "a"});
    same({"XADD", "st", "2-1", "field", "b"});
    same({"XADD", "st", "MAXLEN", "10", "3-1", "field", "c"});
    same({"XLEN", "st"});
    same({"XRANGE", "st", "-", "+"});
    same({"XREVRANGE", "st", "+", "-", "COUNT", "1"});
    same({"XGROUP", "CREATE", "st", "grp", "0"});
    same({"XGROUP", "CREATE", "st", "grp", "0"});  // BUSYGROUP error
    same({"XREADGROUP", "GROUP", "grp", "alice", "COUNT", "2", "STREAMS", "st", ">"});
    same({"XPENDING", "st", "grp"});
    same({"XACK", "st", "grp", "1-1"});
    same({"XACK", "st", "grp", "1-1"});
    same({"XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "st", ">"});
    {
        // The extended form reports each entry's idle milliseconds, which differ by timing:
        // compare id, consumer and delivery count.
        Argv argv{"XPENDING", "st", "grp", "-", "+", "10"};
        auto via = proxy_.cmd(argv), ref = direct_.cmd(argv);
        for (auto* r : {&via, &ref})
            for (auto& e : r->elements)
                if (e.elements.size() == 4) e.elements[2] = Reply{};
        EXPECT_EQ(show(via), show(ref));
        EXPECT_EQ(via.elements.size(), 2u) << show(via);
    }
    same({"XREAD", "COUNT", "1", "STREAMS", "st", "1-1"});
    same({"XDEL", "st", "2-1"});
    same({"XLEN", "st"});
    // Plain commands still work after the blocking-capable XREADGROUP.
    same({"SET", "after", "x"});
    same({"GET", "after"});
}

TEST_F(CommandsTest, BitmapAndBitfieldCommandsAnswerAsRedisDoes) {
    same({"SETBIT", "b", "7", "1"});
    same({"SETBIT", "b", "100", "1"});
    same({"GETBIT", "b", "7"});
    same({"GETBIT", "b", "8"});
    same({"BITCOUNT", "b"});
    same({"BITPOS", "b", "1"});
    same({"SET", "b2", "\xff"});
    same({"BITOP", "AND", "b3", "b", "b2"});
    same({"GET", "b3"});
    same({"BITFIELD", "bf", "SET", "u8", "0", "200", "GET", "u8", "0", "INCRBY", "u8", "0", "100"});
    same({"BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "250", "GET", "i4", "4"});
    same({"BITFIELD_RO", "bf", "GET", "u8", "0"});
}

TEST_F(CommandsTest, HyperLogLogCommandsAnswerAsRedisDoes) {
    same({"PFADD", "hll", "a", "b", "c", "d"});
    same({"PFADD", "hll", "a"});
    same({"PFCOUNT", "hll"});
    same({"PFADD", "hll2", "d", "e"});
    same({"PFMERGE", "hll3", "hll", "hll2"});
    same({"PFCOUNT", "hll3"});
    same({"PFCOUNT", "hll", "hll2"});
}

TEST_F(CommandsTest, GeoCommandsAnswerAsRedisDoes) {
    same({"GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"});
    same({"GEODIST", "geo", "Palermo", "Catania", "km"});
    same({"GEOPOS", "geo", "Palermo", "Nowhere"});
    same({"GEOHASH", "geo", "Palermo"});
    same({"GEOSEARCH", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST"});
    same({"GEORADIUS", "geo", "15", "37", "100", "km", "ASC"});
}

TEST_F(CommandsTest, ExpireAndTtlAreCountedByTheBackend) {
    same({"SET", "e", "v"});
    same({"TTL", "e"});
    same({"EXPIRE", "e", "100"});
    auto ttl = viaProxy({"TTL", "e"});
    ASSERT_EQ(ttl.type, REDIS_REPLY_INTEGER);
    EXPECT_GE(ttl.integer, 90);
    EXPECT_LE(ttl.integer, 100);
    auto pttl = viaProxy({"PTTL", "e"});
    EXPECT_GT(pttl.integer, 90000);
    EXPECT_LE(pttl.integer, 100000);
    same({"PERSIST", "e"});
    same({"TTL", "e"});
    same({"TTL", "missing"});
    same({"SET", "px", "v", "PX", "60000"});
    EXPECT_GT(viaProxy({"PTTL", "px"}).integer, 50000);
    same({"EXPIRE", "missing", "10"});
    same({"PEXPIRE", "e", "1"});
    EXPECT_TRUE(waitFor([&] { return viaProxy({"EXISTS", "e"}).integer == 0; }, std::chrono::seconds(3)));
}

TEST_F(CommandsTest, ScanFamiliesVisitEveryElement) {
    std::set<std::string> keys, fields, members, zmembers;
    for (int i = 0; i < 60; ++i) {
        auto n = std::to_string(i);
        ASSERT_EQ(show(viaProxy({"SET", "key:" + n, n})), "+OK");
        keys.insert("key:" + n);
    }
    for (int i = 0; i < 300; ++i) {  // large enough for hashtable encodings, so cursors are real
        auto n = std::to_string(i);
        viaProxy({"HSET", "bighash", "f" + n, n});
        viaProxy({"SADD", "bigset", "m" + n});
        viaProxy({"ZADD", "bigzset", n, "z" + n});
        fields.insert("f" + n);
        members.insert("m" + n);
        zmembers.insert("z" + n);
    }
    auto k = scanAll({"SCAN", "0", "MATCH", "key:*", "COUNT", "7"}, 1);
    EXPECT_EQ(std::set<std::string>(k.begin(), k.end()), keys);

    auto h = scanAll({"HSCAN", "bighash", "0", "COUNT", "20"}, 2);
    std::set<std::string> hf;
    for (size_t i = 0; i < h.size(); i += 2) hf.insert(h[i]);
    EXPECT_EQ(hf, fields);

    auto s = scanAll({"SSCAN", "bigset", "0", "COUNT", "20"}, 2);
    EXPECT_EQ(std::set<std::string>(s.begin(), s.end()), members);

    auto z = scanAll({"ZSCAN", "bigzset", "0", "COUNT", "20"}, 2);
    std::set<std::string> zm;
    for (size_t i = 0; i < z.size(); i += 2) zm.insert(z[i]);
    EXPECT_EQ(zm, zmembers);
}

TEST_F(CommandsTest, SortAnswersAsRedisDoes) {
    same({"RPUSH", "nums", "3", "1", "2", "10"});
    same({"SORT", "nums"});
    same({"SORT", "nums", "DESC", "LIMIT", "0", "2"});
    same({"RPUSH", "names", "b", "a", "c"});
    same({"SORT", "names", "ALPHA"});
    same({"MSET", "w_1", "30", "w_2", "20", "w_3", "10", "o_1", "one", "o_2", "two", "o_3", "three"});
    same({"SORT", "nums", "BY", "w_*", "GET", "o_*", "GET", "#"});
    same({"SORT", "nums", "STORE", "sorted"});
    same({"LRANGE", "sorted", "0", "-1"});
    same({"SORT", "names"});  // error: not numbers
}

TEST_F(CommandsTest, ScriptsRunThroughEvalEvalshaAndScriptLoad) {
    const std::string script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])";
    same({"EVAL", script, "1", "sk", "sv"});
    auto sha = same({"SCRIPT", "LOAD", script});
    ASSERT_EQ(sha.type, REDIS_REPLY_STRING);
    EXPECT_EQ(sha.str.size(), 40u);
    same({"EVALSHA", sha.str, "1", "sk2", "other"});
    same({"GET", "sk2"});
    same({"SCRIPT", "EXISTS", sha.str, "0000000000000000000000000000000000000000"});
    same({"EVALSHA", "0000000000000000000000000000000000000000", "0"});  // NOSCRIPT
    same({"EVAL", "return {1, 'two', {3}}", "0"});
    same({"EVAL", "return redis.error_reply('MYERR custom')", "0"});
}

TEST_F(CommandsTest, FunctionLoadAndFcallWorkWithoutAllowAdmin) {
    const std::string lib =
        "#!lua name=mylib\n"
        "redis.register_function('echoarg', function(keys, args) return args[1] end)\n"
        "redis.register_function('setkey', function(keys, args) return redis.call('SET', keys[1], args[1]) end)\n";
    same({"FUNCTION", "LOAD", lib});
    same({"FCALL", "echoarg", "0", "hello"});
    same({"FCALL", "setkey", "1", "fk", "fv"});
    same({"GET", "fk"});
    same({"FCALL", "nosuchfunction", "0"});
    same({"FUNCTION", "LOAD", lib});  // error: library already exists
}

TEST_F(CommandsTest, KeyspaceAndServerCommandsAnswerAsRedisDoes) {
    same({"MSET", "a", "1", "b", "2", "c", "3"});
    same({"DBSIZE"});
    sameUnordered({"KEYS", "*"});
    sameUnordered({"KEYS", "[ab]"});
    auto rk = viaProxy({"RANDOMKEY"});
    ASSERT_EQ(rk.type, REDIS_REPLY_STRING) << show(rk);
    EXPECT_TRUE(rk.str == "a" || rk.str == "b" || rk.str == "c") << rk.str;
    same({"COMMAND", "COUNT"});
    same({"ECHO", "hello world"});
    same({"PING"});
    same({"PING", "message"});
    same({"EXISTS", "a", "b", "nope"});
    same({"TYPE", "a"});
    same({"RENAME", "a", "a2"});
    same({"DEL", "a2", "b"});
    same({"DBSIZE"});
    same({"OBJECT", "ENCODING", "c"});
}

TEST_F(CommandsTest, AdminCommandsAreRefusedNamingClientAllowAdmin) {
    for (const Argv& argv : {Argv{"CONFIG", "GET", "maxmemory"}, Argv{"FLUSHALL"}, Argv{"FUNCTION", "FLUSH"}}) {
        auto r = viaProxy(argv);
        EXPECT_TRUE(r.isError()) << joined(argv) << " -> " << show(r);
        EXPECT_NE(r.str.find("client.allow_admin"), std::string::npos) << joined(argv) << " -> " << r.str;
    }
    EXPECT_EQ(show(viaProxy({"SET", "kept", "1"})), "+OK");
    // Nothing was flushed.
    EXPECT_EQ(show(viaProxy({"GET", "kept"})), "$1");
}

TEST_F(CommandsTest, MonitorIsRefusedAsNotSupportedThroughTheProxy) {
    auto r = viaProxy({"MONITOR"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("not supported through the proxy"), std::string::npos) << r.str;
    EXPECT_EQ(show(viaProxy({"PING"})), "+PONG");
}

TEST(CommandsAdminTest, AdminCommandsPassWhenAllowAdminIsTrue) {
    RedisServer redis;
    Laminar laminar(proxyConfig(redis.port(), "client: {allow_admin: true}\n"));
    Client c(laminar.port());
    auto cfg = c.cmd({"CONFIG", "GET", "port"});
    EXPECT_EQ(show(cfg), "[$port, $" + std::to_string(redis.port()) + "]");

    EXPECT_EQ(show(c.cmd({"FUNCTION", "LOAD", "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"})), "$lib1");
    EXPECT_EQ(show(c.cmd({"FUNCTION", "FLUSH"})), "+OK");
    EXPECT_EQ(show(c.cmd({"FCALL", "f1", "0"})), "-ERR Function not found");

    EXPECT_EQ(show(c.cmd({"SET", "x", "1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"FLUSHALL"})), "+OK");
    EXPECT_EQ(show(c.cmd({"DBSIZE"})), ":0");

    auto mon = c.cmd({"MONITOR"});  // still refused: makes no sense through a proxy
    EXPECT_TRUE(mon.isError()) << show(mon);
    EXPECT_NE(mon.str.find("not supported through the proxy"), std::string::npos) << mon.str;
}

// ------------------------------------------------------------------ AUTH

class AuthTest : public ::testing::Test {
protected:
    RedisServer redis_;
    Laminar laminar_{proxyConfig(redis_.port(), "client: {password: letmein}\n")};
};

TEST_F(AuthTest, CommandsBeforeAuthAreRefusedWithNoauth) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(c.cmd({"SET", "k", "v"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(c.cmd({"PING"})), "-NOAUTH Authentication required.");
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"EXISTS", "k"})), ":0");  // nothing reached the backend
}

TEST_F(AuthTest, WrongPasswordIsRefusedAndTheRightOneAccepted) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"AUTH", "wrong"})), "-WRONGPASS invalid username-password pair or user is disabled.");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(c.cmd({"AUTH", "letmein"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$v");
}

TEST_F(AuthTest, AuthWithTheDefaultUserFormWorks) {
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"AUTH", "someone", "letmein"})), "-WRONGPASS invalid username-password pair or user is disabled.");
    EXPECT_EQ(show(c.cmd({"AUTH", "default", "letmein"})), "+OK");
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
}

TEST_F(AuthTest, EachConnectionAuthenticatesOnItsOwn) {
    Client a(laminar_.port()), b(laminar_.port());
    EXPECT_EQ(show(a.cmd({"AUTH", "letmein"})), "+OK");
    EXPECT_EQ(show(b.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
}

TEST_F(AuthTest, RedisCliWithThePasswordWorks) {
    int status = -1;
    auto out = run("timeout 10 redis-cli --no-auth-warning -a letmein -p " + std::to_string(laminar_.port()) + " SET cli v", &status);
    EXPECT_EQ(status, 0);
    EXPECT_EQ(out, "OK\n");
}

TEST(BackendAuthTest, BackendWithRequirepassIsUsedWithTheConfiguredPassword) {
    RedisServer redis({"--requirepass", "s3cret"});
    Laminar laminar(proxyConfig(redis.port(), "", "password: s3cret"));
    Client c(laminar.port());
    EXPECT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$v");
    // A dedicated connection (pinned for MULTI) authenticates too.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "n"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[:1]");
    Client direct(redis.port());
    EXPECT_EQ(show(direct.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(direct.cmd({"AUTH", "s3cret"})), "+OK");
    EXPECT_EQ(show(direct.cmd({"GET", "k"})), "$v");
}

TEST(BackendAuthTest, WrongBackendPasswordGivesAnUnavailableErrorNotAHang) {
    RedisServer redis({"--requirepass", "s3cret"});
    Laminar laminar(proxyConfig(redis.port(), "", "password: wrong"));
    Client c(laminar.port(), std::chrono::seconds(5));
    auto r = c.cmd({"GET", "k"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_EQ(r.str.rfind("ERR laminar: backend 'old' unavailable: ", 0), 0u) << r.str;
}

}  // namespace
}  // namespace laminar::test

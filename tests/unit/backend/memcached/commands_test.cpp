// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/commands.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/memcached/dump_payload.h"
#include "support/fake_memcached_store.h"

namespace laminar::backend::memcached {
namespace {

class TranslatorTest : public ::testing::Test {
protected:
    long long now_ms = 1'700'000'000'000;  // 2023-11-14
    FakeStore store{now_ms};
    Translator::Options options{"mc", false, 1 << 20};
    Translator tr{store, options, [this] { return now_ms; }};

    std::string run(std::vector<std::string_view> argv) { return tr.execute(argv).reply; }
    long long expiresAt(const std::string& key) { return store.items.at(key).expires; }
};

TEST_F(TranslatorTest, SetAndGet) {
    EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
    EXPECT_EQ(run({"get", "k"}), "$1\r\nv\r\n");
    EXPECT_EQ(run({"GET", "missing"}), "$-1\r\n");
    EXPECT_EQ(run({"SET", "k", ""}), "+OK\r\n");
    EXPECT_EQ(run({"GET", "k"}), "$0\r\n\r\n");
}

TEST_F(TranslatorTest, SetOptionsFollowRedis) {
    EXPECT_EQ(run({"SET", "k", "v", "NX"}), "+OK\r\n");
    EXPECT_EQ(run({"SET", "k", "w", "NX"}), "$-1\r\n");
    EXPECT_EQ(run({"SET", "x", "w", "XX"}), "$-1\r\n");
    EXPECT_EQ(run({"SET", "k", "w", "XX", "GET"}), "$1\r\nv\r\n");
    EXPECT_EQ(run({"SET", "k", "z", "NX", "GET"}), "$1\r\nw\r\n");  // exists: not set, old value
    EXPECT_EQ(run({"GET", "k"}), "$1\r\nw\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EX", "1", "PX", "1"}), "-ERR syntax error\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "KEEPTTL", "EX", "1"}), "-ERR syntax error\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EX"}), "-ERR syntax error\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EX", "x"}), "-ERR value is not an integer or out of range\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EX", "9223372036854775807"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "PX", "9223372036854775807"}), "-ERR invalid expire time in 'set' command\r\n");
    EXPECT_EQ(run({"SETEX", "k", "0", "v"}), "-ERR invalid expire time in 'setex' command\r\n");
    EXPECT_EQ(run({"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n");
}

TEST_F(TranslatorTest, ExpiriesBecomeMemcachedExptimes) {
    EXPECT_EQ(run({"SET", "k", "v", "EX", "100"}), "+OK\r\n");
    EXPECT_EQ(expiresAt("k"), now_ms / 1000 + 100);
    EXPECT_EQ(run({"SET", "k", "v", "PX", "1500"}), "+OK\r\n");  // whole seconds, rounded up
    EXPECT_EQ(expiresAt("k"), now_ms / 1000 + 2);
    // Over 30 days: memcached reads the exptime as a unix time, so laminar sends one.
    EXPECT_EQ(run({"SET", "k", "v", "EX", "5000000"}), "+OK\r\n");
    EXPECT_EQ(expiresAt("k"), now_ms / 1000 + 5000000);
    EXPECT_EQ(run({"SET", "k", "v", "EXAT", std::to_string(now_ms / 1000 + 60)}), "+OK\r\n");
    EXPECT_EQ(expiresAt("k"), now_ms / 1000 + 60);
    EXPECT_EQ(run({"TTL", "k"}), ":60\r\n");
    EXPECT_EQ(run({"PTTL", "k"}), ":60000\r\n");
    // In the past: set and expired at once.
    EXPECT_EQ(run({"SET", "k", "v", "EXAT", "100"}), "+OK\r\n");
    EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":-2\r\n");
    EXPECT_EQ(run({"SET", "k", "v", "EXAT", "99999999999"}),
              "-ERR laminar: memcached backend 'mc' cannot store an expiry after 2038-01-19\r\n");
}

TEST_F(TranslatorTest, KeepTtlAndGetSetClearIt) {
    run({"SET", "k", "v", "EX", "100"});
    EXPECT_EQ(run({"SET", "k", "w", "KEEPTTL"}), "+OK\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":100\r\n");
    EXPECT_EQ(run({"GETSET", "k", "x"}), "$1\r\nw\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
    EXPECT_EQ(run({"SET", "k", "y"}), "+OK\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
}

TEST_F(TranslatorTest, CountersAreSignedSixtyFourBit) {
    EXPECT_EQ(run({"INCR", "n"}), ":1\r\n");
    EXPECT_EQ(run({"INCRBY", "n", "9"}), ":10\r\n");
    // memcached would leave "9 " behind; laminar writes "9".
    EXPECT_EQ(run({"DECR", "n"}), ":9\r\n");
    EXPECT_EQ(run({"GET", "n"}), "$1\r\n9\r\n");
    EXPECT_EQ(run({"DECRBY", "n", "12"}), ":-3\r\n");
    EXPECT_EQ(run({"INCR", "n"}), ":-2\r\n");
    EXPECT_EQ(run({"GET", "n"}), "$2\r\n-2\r\n");
    run({"SET", "n", "9223372036854775806"});
    EXPECT_EQ(run({"INCR", "n"}), ":9223372036854775807\r\n");
    EXPECT_EQ(run({"INCR", "n"}), "-ERR increment or decrement would overflow\r\n");
    EXPECT_EQ(run({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
    for (const char* bad : {"007", " 1", "+1", "1.5", "abc", ""}) {
        run({"SET", "n", bad});
        EXPECT_EQ(run({"INCR", "n"}), "-ERR value is not an integer or out of range\r\n") << bad;
    }
    EXPECT_EQ(run({"INCRBY", "n", "x"}), "-ERR value is not an integer or out of range\r\n");
}

TEST_F(TranslatorTest, CountersKeepTheirTimeToLive) {
    run({"SET", "n", "-5", "EX", "100"});
    EXPECT_EQ(run({"INCR", "n"}), ":-4\r\n");
    EXPECT_EQ(run({"TTL", "n"}), ":100\r\n");
    run({"SET", "m", "10", "EX", "100"});
    EXPECT_EQ(run({"DECR", "m"}), ":9\r\n");
    EXPECT_EQ(run({"TTL", "m"}), ":100\r\n");
}

TEST_F(TranslatorTest, ATtlOverThirtyDaysSurvivesARewrite) {
    run({"SET", "n", "-5", "EX", "3000000"});
    EXPECT_EQ(run({"INCR", "n"}), ":-4\r\n");  // gets + cas with the remaining TTL
    EXPECT_EQ(run({"TTL", "n"}), ":3000000\r\n");
    EXPECT_EQ(expiresAt("n"), now_ms / 1000 + 3000000);
    run({"SET", "k", "v", "EX", "3000000"});
    EXPECT_EQ(run({"SET", "k", "w", "KEEPTTL"}), "+OK\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":3000000\r\n");
}

TEST_F(TranslatorTest, AppendStrlenGetrange) {
    EXPECT_EQ(run({"APPEND", "s", "abc"}), ":3\r\n");
    EXPECT_EQ(run({"APPEND", "s", "def"}), ":6\r\n");
    EXPECT_EQ(run({"STRLEN", "s"}), ":6\r\n");
    EXPECT_EQ(run({"STRLEN", "none"}), ":0\r\n");
    EXPECT_EQ(run({"GETRANGE", "s", "1", "-2"}), "$4\r\nbcde\r\n");
    EXPECT_EQ(run({"GETRANGE", "s", "-1", "-5"}), "$0\r\n\r\n");
    EXPECT_EQ(run({"GETRANGE", "s", "0", "100"}), "$6\r\nabcdef\r\n");
}

TEST_F(TranslatorTest, MultiKeyCommands) {
    EXPECT_EQ(run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
    EXPECT_EQ(run({"MGET", "a", "x", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    EXPECT_EQ(run({"EXISTS", "a", "x", "a"}), ":2\r\n");
    EXPECT_EQ(run({"MSETNX", "a", "9", "c", "3"}), ":0\r\n");
    EXPECT_EQ(run({"GET", "c"}), "$-1\r\n");
    EXPECT_EQ(run({"MSETNX", "c", "3", "d", "4"}), ":1\r\n");
    EXPECT_EQ(run({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
    EXPECT_EQ(run({"DEL", "a", "b", "x"}), ":2\r\n");
    EXPECT_EQ(run({"GETDEL", "c"}), "$1\r\n3\r\n");
    EXPECT_EQ(run({"GETDEL", "c"}), "$-1\r\n");
}

TEST_F(TranslatorTest, ExpireOptions) {
    EXPECT_EQ(run({"EXPIRE", "k", "100"}), ":0\r\n");  // no key
    run({"SET", "k", "v"});
    EXPECT_EQ(run({"EXPIRE", "k", "100", "XX"}), ":0\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "100", "NX"}), ":1\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "50", "GT"}), ":0\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "200", "GT"}), ":1\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":200\r\n");
    EXPECT_EQ(run({"PEXPIRE", "k", "50000", "LT"}), ":1\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":50\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "1", "NX", "XX"}), "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "1", "GT", "LT"}), "-ERR GT and LT options at the same time are not compatible\r\n");
    EXPECT_EQ(run({"EXPIRE", "k", "1", "FOO"}), "-ERR Unsupported option FOO\r\n");
    EXPECT_EQ(run({"PERSIST", "k"}), ":1\r\n");
    EXPECT_EQ(run({"PERSIST", "k"}), ":0\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
    EXPECT_EQ(run({"EXPIREAT", "k", "1"}), ":1\r\n");  // in the past: deleted
    EXPECT_EQ(run({"EXISTS", "k"}), ":0\r\n");
}

TEST_F(TranslatorTest, GetexChangesTheExpiry) {
    EXPECT_EQ(run({"GETEX", "k", "EX", "0"}), "$-1\r\n");  // no key: no expire check, as in Redis
    run({"SET", "k", "v"});
    EXPECT_EQ(run({"GETEX", "k", "EX", "0"}), "-ERR invalid expire time in 'getex' command\r\n");
    EXPECT_EQ(run({"GETEX", "k", "EX", "30"}), "$1\r\nv\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":30\r\n");
    EXPECT_EQ(run({"GETEX", "k", "PERSIST"}), "$1\r\nv\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
    EXPECT_EQ(run({"GETEX", "k", "NX"}), "-ERR syntax error\r\n");
}

TEST_F(TranslatorTest, KeysMemcachedCannotHoldAreRefusedOrHashed) {
    std::string long_key(251, 'k');
    auto r = run({"SET", long_key, "v"});
    EXPECT_NE(r.find("cannot store this key: it is longer than 250 bytes"), std::string::npos) << r;
    EXPECT_NE(r.find("key_hash: true"), std::string::npos);
    EXPECT_NE(run({"GET", "a b"}).find("contains a space or control character"), std::string::npos);
    EXPECT_TRUE(store.items.empty());

    Translator hashed(store, {"mc", true, 1 << 20}, [this] { return now_ms; });
    std::vector<std::string_view> set = {"SET", "a b", "v"}, get = {"GET", "a b"};
    EXPECT_EQ(hashed.execute(set).reply, "+OK\r\n");
    EXPECT_EQ(hashed.execute(get).reply, "$1\r\nv\r\n");
    auto digest = Translator::storageKey("a b", true);
    EXPECT_EQ(digest.size(), 8u + 32u);
    EXPECT_EQ(store.items.count(digest), 1u);
    EXPECT_EQ(Translator::storageKey("a b", true), digest);  // stable
    EXPECT_EQ(Translator::storageKey("plain", true), "plain");  // keys memcached can hold stay as they are
}

TEST_F(TranslatorTest, ValuesOverTheItemSizeAreRefused) {
    std::string big((1 << 20) + 1, 'x');
    EXPECT_EQ(run({"SET", "k", big}),
              "-ERR laminar: value of 1048577 bytes is over memcached backend 'mc' item size limit (1048576 bytes)\r\n");
    EXPECT_TRUE(store.items.empty());
}

TEST_F(TranslatorTest, BatchesAnswerAsTheirCommandsWould) {
    std::vector<std::string_view> a = {"SET", "a", "1"}, b = {"set", "b b", "2"}, c = {"SET", "c", "3"};
    std::vector<std::span<const std::string_view>> sets = {a, b, c};
    auto replies = tr.setMany(sets);
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].reply, "+OK\r\n");
    EXPECT_NE(replies[1].reply.find("cannot store this key"), std::string::npos);
    EXPECT_EQ(replies[2].reply, "+OK\r\n");
    std::vector<std::string_view> keys = {"a", "x", "c", "b b"};
    auto gets = tr.getMany(keys);
    EXPECT_EQ(gets[0].reply, "$1\r\n1\r\n");
    EXPECT_EQ(gets[1].reply, "$-1\r\n");
    EXPECT_EQ(gets[2].reply, "$1\r\n3\r\n");
    EXPECT_NE(gets[3].reply.find("cannot store this key"), std::string::npos);
    store.down = true;
    gets = tr.getMany(keys);
    EXPECT_TRUE(gets[0].failed);
    EXPECT_EQ(gets[0].reply.rfind("-ERR laminar: backend 'mc' unavailable", 0), 0u);
}

TEST_F(TranslatorTest, ScanWalksEveryKeyOnce) {
    for (int i = 0; i < 25; ++i) run({"SET", "k:" + std::to_string(i), "v"});
    run({"SET", "other", "v"});
    Translator hashed(store, {"mc", true, 1 << 20}, [this] { return now_ms; });
    std::vector<std::string_view> set = {"SET", "a b", "v"};
    hashed.execute(set);  // stored under a digest: not listable by its name
    std::set<std::string> seen;
    std::string cursor = "0";
    int pages = 0;
    do {
        std::vector<std::string_view> argv = {"SCAN", cursor, "MATCH", "k:*", "COUNT", "7"};
        auto r = tr.execute(argv).reply;
        // *2\r\n$N\r\n<cursor>\r\n*M\r\n...
        size_t p = r.find("\r\n", 4);
        size_t start = r.find("\r\n", p + 2);
        cursor = r.substr(p + 2, start - p - 2);
        for (size_t q = r.find("$", start); q != std::string::npos; q = r.find("$", q + 1)) {
            size_t e = r.find("\r\n", q);
            size_t len = std::stoul(r.substr(q + 1, e - q - 1));
            seen.insert(r.substr(e + 2, len));
            q = e + 2 + len;
        }
        ASSERT_LT(++pages, 10);
    } while (cursor != "0");
    EXPECT_EQ(seen.size(), 25u);
    EXPECT_EQ(seen.count("other"), 0u);
    EXPECT_EQ(run({"SCAN", "12345"}), "-ERR invalid cursor\r\n");
    EXPECT_EQ(run({"SCAN", "0", "COUNT"}), "-ERR syntax error\r\n");
}

TEST_F(TranslatorTest, UnsupportedCommandsNameTheCommandAndBackend) {
    EXPECT_EQ(run({"HSET", "h", "f", "v"}),
              "-ERR laminar: 'hset' is not supported by memcached backend 'mc' (memcached stores plain strings; see the memcached "
              "command table in docs/backends.md)\r\n");
}

TEST_F(TranslatorTest, AnUnreachableServerIsAFailureNamingTheBackend) {
    store.down = true;
    auto r = tr.execute(std::vector<std::string_view>{"GET", "k"});
    EXPECT_TRUE(r.failed);
    EXPECT_EQ(r.reply, "-ERR laminar: backend 'mc' unavailable: CONNECTION FAILURE(Connection refused), host: 127.0.0.1:11211\r\n");
}

TEST_F(TranslatorTest, DumpAndRestoreCarryStrings) {
    run({"SET", "k", "hello"});
    std::string dump = run({"DUMP", "k"});
    EXPECT_EQ(dump, "$17\r\n" + encodeStringDump("hello") + "\r\n");
    std::string payload = encodeStringDump("world");
    EXPECT_EQ(run({"RESTORE", "k", "0", payload}), "-BUSYKEY Target key name already exists.\r\n");
    EXPECT_EQ(run({"RESTORE", "k", "5000", payload, "REPLACE"}), "+OK\r\n");
    EXPECT_EQ(run({"GET", "k"}), "$5\r\nworld\r\n");
    EXPECT_EQ(run({"TTL", "k"}), ":5\r\n");
    EXPECT_EQ(run({"RESTORE", "n", "-1", payload}), "-ERR Invalid TTL value, must be >= 0\r\n");
    payload.back() ^= 1;
    EXPECT_EQ(run({"RESTORE", "n", "0", payload}), "-ERR DUMP payload version or checksum are wrong\r\n");
}

}  // namespace
}  // namespace laminar::backend::memcached

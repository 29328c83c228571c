// SPDX-License-Identifier: Apache-2.0
// The convert strategy with two real redis-servers (old, new) behind laminar: a miss converted
// from old into new with its TTL, NX keeping a value new got meanwhile, delete_source, renaming in
// place on one server, a reverse route giving the original bytes back, and a value that cannot be
// converted. Each side is checked directly on its redis-server.
#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

// The talk's adapter stored JSON.stringify(value) under user:<id>; the application now keeps raw
// values under u:<id> on new.
const std::string kUsers = R"(strategy: {type: convert, source: old, target: new, key: {prefix: "user:", to: "u:"}, value: json_unwrap})";

// What JSON.stringify made of a string with a quote, a backslash, a newline and non-ASCII text, and
// that string.
const std::string kStringified = "\"caf\xc3\xa9 \\\"q\\\" \\\\ line\\nnext \\u0001\"";
const std::string kRaw = "caf\xc3\xa9 \"q\" \\ line\nnext \x01";

class ConvertStrategy : public ::testing::Test {
protected:
    void start(const std::string& routes) {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes));
    }
    int port() const { return lam_->port(); }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(ConvertStrategy, ConvertsAMissIntoTargetWithItsTtlAndServesItFromThere) {
    start(route("users", "u:*", kUsers));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:1", kStringified, "EX", "100"});
    o.cmd({"SET", "user:2", "\"forever\""});

    auto r = c.cmd({"GET", "u:1"});
    ASSERT_EQ(r.type, REDIS_REPLY_STRING) << show(r);
    EXPECT_EQ(r.str, kRaw);
    EXPECT_EQ(n.cmd({"GET", "u:1"}).str, kRaw);
    EXPECT_GT(pttl(n, "u:1"), 90'000);
    EXPECT_LE(pttl(n, "u:1"), 100'000);
    EXPECT_EQ(show(c.cmd({"GET", "u:2"})), "$forever");
    EXPECT_EQ(pttl(n, "u:2"), -1);
    EXPECT_EQ(show(c.cmd({"GET", "u:none"})), "(nil)");
    EXPECT_EQ(show(n.cmd({"EXISTS", "u:none"})), ":0");

    // Source keeps its value (delete_source is off), and target answers from now on.
    EXPECT_EQ(o.cmd({"GET", "user:1"}).str, kStringified);
    o.cmd({"SET", "user:2", "\"changed on old\""});
    EXPECT_EQ(show(c.cmd({"GET", "u:2"})), "$forever");
    auto status = laminarStatus(c);
    EXPECT_NE(status.find("warm_copies=2"), std::string::npos) << status;

    // MGET is split per key, so each key is converted on its own.
    o.cmd({"SET", "user:3", "\"three\""});
    EXPECT_EQ(show(c.cmd({"MGET", "u:2", "u:3", "u:none"})), "[$forever, $three, (nil)]");
    EXPECT_EQ(show(n.cmd({"GET", "u:3"})), "$three");
}

TEST_F(ConvertStrategy, NeverOverwritesAValueTargetGotWhileTheConversionRan) {
    start(route("users", "u:*", kUsers));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:1", "\"stale\""});
    // Old is paused once laminar has found the miss on new, so the conversion waits for old's reply
    // while a newer value lands on new.
    old_.pause();
    ASSERT_TRUE(sendOnly(c, {"GET", "u:1"}));
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(show(n.cmd({"SET", "u:1", "newer"})), "+OK");
    old_.resume();
    EXPECT_EQ(show(c.read()), "$newer");
    EXPECT_EQ(show(n.cmd({"GET", "u:1"})), "$newer");
    EXPECT_EQ(show(c.cmd({"GET", "u:1"})), "$newer");
    auto status = laminarStatus(c);
    EXPECT_NE(status.find("counters: fallbacks=1\n"), std::string::npos) << "the miss went to old, and nothing was written:\n"
                                                                          << status;
}

TEST_F(ConvertStrategy, DeleteSourceEmptiesSourceAsKeysAreConverted) {
    start(route("users", "u:*",
                R"(strategy: {type: convert, source: old, target: new, key: {prefix: "user:", to: "u:"}, value: json_unwrap, delete_source: true})"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:1", "\"one\"", "PX", "50000"});
    o.cmd({"SET", "user:2", "\"two\""});
    EXPECT_EQ(show(c.cmd({"GET", "u:1"})), "$one");
    EXPECT_EQ(show(c.cmd({"STRLEN", "u:2"})), ":3") << "any command on the key converts it first";
    EXPECT_TRUE(waitFor([&] { return allKeys(old_.port()).empty(); }, 2s)) << "old still has " << allKeys(old_.port()).size() << " keys";
    EXPECT_EQ(allKeys(new_.port()), (std::vector<std::string>{"u:1", "u:2"}));
    EXPECT_GT(pttl(n, "u:1"), 40'000);
    EXPECT_EQ(show(c.cmd({"GET", "u:1"})), "$one");
}

TEST_F(ConvertStrategy, WritesGoToTargetAndTakeTheStaleSourceKeyAway) {
    start(route("users", "u:*", kUsers));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:counter", "\"41\""});
    o.cmd({"SET", "user:over", "\"old\""});
    o.cmd({"SET", "user:del", "\"old\""});

    // INCR builds on the converted value, not on nothing.
    EXPECT_EQ(show(c.cmd({"INCR", "u:counter"})), ":42");
    EXPECT_EQ(show(n.cmd({"GET", "u:counter"})), "$42");
    // A plain overwrite goes to new as the client sent it; old's value is stale from then on, so it
    // is deleted and cannot come back when new's value expires.
    EXPECT_EQ(show(c.cmd({"SET", "u:over", "fresh", "PX", "300"})), "+OK");
    EXPECT_EQ(show(n.cmd({"GET", "u:over"})), "$fresh");
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"EXISTS", "user:over"})) == ":0"; }, 2s));
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(show(c.cmd({"GET", "u:over"})), "(nil)") << "the stale source value came back";
    EXPECT_EQ(show(o.cmd({"EXISTS", "user:counter"})), ":0");
    // Deletes go to both sides.
    EXPECT_EQ(show(c.cmd({"DEL", "u:del"})), ":1");
    EXPECT_EQ(show(o.cmd({"EXISTS", "user:del"})), ":0");
    EXPECT_EQ(show(c.cmd({"GET", "u:del"})), "(nil)");

    auto r = laminarRoute(c, {"SET", "u:1", "v"});
    EXPECT_EQ(r["route"], "users");
    EXPECT_EQ(r["strategy"], "convert(source=old, target=new, key=prefix 'user:' -> 'u:', value=json_unwrap, delete_source=false)");
    EXPECT_EQ(r["writes"], "new,old");
}

TEST_F(ConvertStrategy, RenamesKeysInPlaceWhenSourceIsTarget) {
    start(route("blobs", "blob:v2:*",
                R"(strategy: {type: convert, source: old, target: old, key: {regex: '^blob:(\d+)$', to: 'blob:v2:$1'}, value: zlib_compress, delete_source: true})"));
    Client c(port()), o(old_.port());
    std::string original(5000, 'z');
    o.cmd({"SET", "blob:7", original, "EX", "1000"});

    auto r = c.cmd({"GET", "blob:v2:7"});
    ASSERT_EQ(r.type, REDIS_REPLY_STRING) << show(r);
    std::string back(original.size(), '\0');
    uLongf size = back.size();
    ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(back.data()), &size, reinterpret_cast<const Bytef*>(r.str.data()), r.str.size()),
              Z_OK);
    EXPECT_EQ(back, original);
    EXPECT_LT(r.str.size(), 100u);
    EXPECT_EQ(o.cmd({"GET", "blob:v2:7"}).str, r.str);
    EXPECT_GT(pttl(o, "blob:v2:7"), 990'000);
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"EXISTS", "blob:7"})) == ":0"; }, 2s));
    EXPECT_EQ(allKeys(old_.port()), std::vector<std::string>{"blob:v2:7"});
    EXPECT_TRUE(allKeys(new_.port()).empty());
}

// Forward, then the same route with the sides swapped, the inverse codec and the inverse key rule
// (clients back on the old names): old ends up with exactly the bytes it started with.
TEST_F(ConvertStrategy, TheReverseRouteGivesTheOriginalBytesBack) {
    std::string binary;
    for (int i = 0; i < 3000; ++i) binary += static_cast<char>(i * 7 % 256);
    std::string zipped(compressBound(binary.size()), '\0');
    uLongf size = zipped.size();
    ASSERT_EQ(compress(reinterpret_cast<Bytef*>(zipped.data()), &size, reinterpret_cast<const Bytef*>(binary.data()), binary.size()),
              Z_OK);
    zipped.resize(size);

    const std::string forward =
        route("users", "u:*",
              R"(strategy: {type: convert, source: old, target: new, key: {regex: '^user:(\d+)$', to: 'u:$1'}, value: json_unwrap, delete_source: true})") +
        route("blobs", "b:*",
              R"(strategy: {type: convert, source: old, target: new, key: {prefix: "blob:", to: "b:"}, value: zlib_decompress, delete_source: true})");
    const std::string reverse =
        route("users", "user:*",
              R"(strategy: {type: convert, source: new, target: old, key: {regex: '^u:(\d+)$', to: 'user:$1'}, value: json_wrap, delete_source: true})") +
        route("blobs", "blob:*",
              R"(strategy: {type: convert, source: new, target: old, key: {prefix: "b:", to: "blob:"}, value: zlib_compress, delete_source: true})");
    start(forward);
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:1", kStringified, "EX", "500"});
    o.cmd({"SET", "blob:1", zipped});

    EXPECT_EQ(c.cmd({"GET", "u:1"}).str, kRaw);
    EXPECT_EQ(c.cmd({"GET", "b:1"}).str, binary);
    EXPECT_TRUE(waitFor([&] { return allKeys(old_.port()).empty(); }, 2s));

    lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(), reverse));
    ASSERT_TRUE(sighupAndWait(*lam_, c));
    EXPECT_EQ(c.cmd({"GET", "user:1"}).str, kStringified);
    EXPECT_EQ(c.cmd({"GET", "blob:1"}).str, zipped);
    EXPECT_EQ(o.cmd({"GET", "user:1"}).str, kStringified) << "old has the bytes it started with";
    EXPECT_EQ(o.cmd({"GET", "blob:1"}).str, zipped);
    EXPECT_GT(pttl(o, "user:1"), 400'000) << "the TTL went there and back";
    EXPECT_EQ(pttl(o, "blob:1"), -1);
    EXPECT_TRUE(waitFor([&] { return allKeys(new_.port()).empty(); }, 2s));
}

TEST_F(ConvertStrategy, AValueThatCannotBeConvertedGivesAnErrorAndWritesNothing) {
    start(route("users", "u:*", kUsers) +
          route("blobs", "b:*", R"(strategy: {type: convert, source: old, target: new, key: {prefix: "blob:", to: "b:"}, value: zlib_decompress})"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "user:9", R"({"name": "Ada"})"});
    o.cmd({"SET", "blob:9", "not compressed"});

    EXPECT_EQ(show(c.cmd({"GET", "u:9"})),
              "-ERR laminar: convert: cannot convert 'user:9' from 'old' with json_unwrap: not a JSON string (starts with '{'); "
              "nothing was written");
    EXPECT_EQ(show(c.cmd({"GET", "b:9"})),
              "-ERR laminar: convert: cannot convert 'blob:9' from 'old' with zlib_decompress: not a zlib stream: incorrect header "
              "check; nothing was written");
    EXPECT_EQ(show(c.cmd({"APPEND", "u:9", "x"})).rfind("-ERR laminar: convert: cannot convert 'user:9'", 0), 0u);
    EXPECT_TRUE(allKeys(new_.port()).empty());
    EXPECT_EQ(o.cmd({"GET", "user:9"}).str, R"({"name": "Ada"})");
    EXPECT_EQ(o.cmd({"GET", "blob:9"}).str, "not compressed");
    auto status = laminarStatus(c);
    EXPECT_NE(status.find("users: convert(source=old, target=new, key=prefix 'user:' -> 'u:', value=json_unwrap, "
                          "delete_source=false)\n    counters: fallbacks=2 warm_failures=2"),
              std::string::npos)
        << status;
    EXPECT_NE(status.find("value=zlib_decompress, delete_source=false)\n    counters: fallbacks=1 warm_failures=1"), std::string::npos)
        << status;
}

TEST_F(ConvertStrategy, ABadRuleIsRejectedAtLoadWithFileLineAndPath) {
    start(route("users", "u:*", kUsers));
    Client c(port());
    lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(),
                                         route("users", "u:*", R"(strategy: {type: convert, source: old, target: new, key: {regex: 'user:\d+', to: 'u:$1'}})")));
    ASSERT_TRUE(sighupAndWait(*lam_, c));
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("routes[0].strategy.key.regex: '\\d' at offset 5 is not literal text") != std::string::npos; }, 2s))
        << lam_->log();
    EXPECT_NE(laminarRoute(c, {"GET", "u:1"})["strategy"].find("convert(source=old, target=new, key=prefix"), std::string::npos)
        << "the running configuration stays";
}

}  // namespace
}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
#include "policy/convert.h"

#include <gtest/gtest.h>

#include "policy/fakes.h"
#include "policy/route_stats.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::command;
using testing::FakeEnv;
using testing::kDownNew;
using testing::kDownOld;
using testing::kNew;
using testing::kOld;
using Strings = std::vector<std::string>;

// The talk's adapter stored JSON.stringify(value) under user:<id> on old; the application now
// keeps raw values under u:<id> on new.
const char* kUsers = R"({type: convert, source: old, target: new, key: {prefix: "user:", to: "u:"}, value: json_unwrap})";

class ConvertTest : public ::testing::Test {
protected:
    void SetUp() override { env.ctx.stats = &stats; }
    void TearDown() override {
        // Every command a strategy sent was answered, so every sink it made is freed.
        EXPECT_EQ(env.client.unanswered(), 0u);
        EXPECT_TRUE(env.background.sent.empty()) << "every step runs on the client's connections";
    }

    std::unique_ptr<Strategy> build(const std::string& yaml) { return testing::buildStrategy(yaml, cfg); }
    std::string buildError(const std::string& yaml) { return laminar::testing::configError([&] { build(yaml); }); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) { s.execute(c.request(), &client, env.ctx); }

    // The i-th command sent, checked to go to `backend` as `args`.
    void expectSent(size_t i, int backend, std::vector<std::string_view> args) {
        ASSERT_LT(i, env.client.sent.size()) << "only " << env.client.sent.size() << " commands were sent";
        EXPECT_EQ(env.client.sent[i].backend, backend) << i;
        EXPECT_EQ(env.client.sent[i].raw, command(args)) << i;
    }

    // A GET of u:1 that misses on new and finds `stored` with `pttl` under user:1 on old: the
    // GET u:1, then the GET and PTTL of user:1, sent and answered.
    void missThenFind(const Strategy& s, ClientSink& client, const std::string& stored, const std::string& pttl) {
        size_t at = env.client.sent.size();
        run(s, Cmd({"GET", "u:1"}), client);
        expectSent(at, kNew, {"GET", "u:1"});
        env.client.answer(at, "$-1\r\n");
        EXPECT_FALSE(client.reply.has_value());
        expectSent(at + 1, kOld, {"GET", "user:1"});
        expectSent(at + 2, kOld, {"PTTL", "user:1"});
        env.client.answer(at + 1, bulk(stored));
        env.client.answer(at + 2, pttl);
    }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
    RouteStats stats;
};

// 1
TEST_F(ConvertTest, ReturnsTargetsValueWithoutAskingSource) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"GET", "u:1"}), client);
    env.client.answer(0, bulk("raw"));
    EXPECT_EQ(client.reply, bulk("raw"));
    EXPECT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(ConvertTest, ReturnsAnEmptyStringAndTargetsErrorsAsTheyAre) {
    auto s = build(kUsers);
    for (const std::string reply : {"$0\r\n\r\n", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"}) {
        ClientSink client;
        run(*s, Cmd({"GET", "u:1"}), client);
        env.client.answer(env.client.sent.size() - 1, reply);
        EXPECT_EQ(client.reply, reply);
    }
    ClientSink down;
    run(*s, Cmd({"GET", "u:1"}), down);
    env.client.answer(2, kDownNew, true);
    EXPECT_EQ(down.reply, kDownNew);
    EXPECT_TRUE(down.failed);
    EXPECT_EQ(env.client.sent.size(), 3u);
}

// 2
TEST_F(ConvertTest, ConvertsAMissFromSourceWritesItToTargetWithItsTtlAndReturnsIt) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"("Ada \"the\" first")", ":5000\r\n");
    // Never over a value target got meanwhile (NX), with the time source had left.
    expectSent(3, kNew, {"SET", "u:1", R"(Ada "the" first)", "NX", "PX", "5000"});
    EXPECT_FALSE(client.reply.has_value()) << "the client waits for the write";
    env.client.answer(3, "+OK\r\n");
    EXPECT_EQ(client.reply, bulk(R"(Ada "the" first)"));
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 4u) << "delete_source is off: source keeps its value";
    EXPECT_EQ(stats.fallbacks.load(), 1u);
    EXPECT_EQ(stats.warm_copies.load(), 1u);
}

TEST_F(ConvertTest, WritesAKeyWithoutExpiryWithoutOne) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"("v")", ":-1\r\n");
    expectSent(3, kNew, {"SET", "u:1", "v", "NX"});
    env.client.answer(3, "+OK\r\n");
    EXPECT_EQ(client.reply, bulk("v"));
}

TEST_F(ConvertTest, ReturnsTheNullWhenSourceDoesNotHaveTheKeyEither) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"GET", "u:1"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, "$-1\r\n");
    env.client.answer(2, ":-2\r\n");
    EXPECT_EQ(client.reply, "$-1\r\n");
    EXPECT_EQ(env.client.sent.size(), 3u) << "nothing to write";
    EXPECT_EQ(stats.warm_copies.load(), 0u);
}

TEST_F(ConvertTest, TreatsAKeyThatExpiredBetweenItsTwoReadsAsMissing) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"("v")", ":-2\r\n");
    EXPECT_EQ(client.reply, "$-1\r\n");
    EXPECT_EQ(env.client.sent.size(), 3u);
}

// 3
TEST_F(ConvertTest, ReturnsTheValueTargetGotMeanwhileWhenNxFindsOne) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"("old")", ":-1\r\n");
    env.client.answer(3, "$-1\r\n");  // NX: u:1 was written in between
    expectSent(4, kNew, {"GET", "u:1"});
    env.client.answer(4, bulk("newer"));
    EXPECT_EQ(client.reply, bulk("newer"));
    EXPECT_EQ(stats.warm_copies.load(), 0u);
}

TEST_F(ConvertTest, StillReturnsTheConvertedValueWhenTheWriteFails) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"("v")", ":-1\r\n");
    env.client.answer(3, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_EQ(stats.warm_failures.load(), 1u);
    EXPECT_EQ(env.client.sent.size(), 4u);
}

// 4
TEST_F(ConvertTest, AValueTheCodecRefusesGivesAnErrorNamingKeySourceAndCodecAndWritesNothing) {
    auto s = build(kUsers);
    ClientSink client;
    missThenFind(*s, client, R"({"name":"Ada"})", ":-1\r\n");
    EXPECT_EQ(client.reply,
              "-ERR laminar: convert: cannot convert 'user:1' from 'old' with json_unwrap: not a JSON string (starts with '{'); "
              "nothing was written\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 3u) << "nothing is written";
    EXPECT_EQ(stats.warm_failures.load(), 1u);
}

TEST_F(ConvertTest, ACorruptZlibValueGivesAnErrorAndAKeyIsShownPrintably) {
    auto s = build(R"({type: convert, source: old, target: new, value: zlib_decompress})");
    ClientSink client;
    run(*s, Cmd({"GET", "k\r\n1"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, bulk("not zlib"));
    env.client.answer(2, ":-1\r\n");
    EXPECT_EQ(client.reply,
              "-ERR laminar: convert: cannot convert 'k\\u000d\\u000a1' from 'old' with zlib_decompress: not a zlib stream: "
              "incorrect header check; nothing was written\r\n");
}

TEST_F(ConvertTest, RefusesAConvertedValueLargerThanMaxBulk) {
    cfg = config::loadString(
        "client: {max_bulk: 1kb}\nbackends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: r\n"
        "    strategy: old\n",
        "test.yaml");
    auto s = build(R"({type: convert, source: old, target: new, value: json_wrap})");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, bulk(std::string(1000, '\n')));
    env.client.answer(2, ":-1\r\n");
    EXPECT_EQ(client.reply,
              "-ERR laminar: convert: cannot convert 'k' from 'old' with json_wrap: the result would be 2002 bytes, more than the "
              "1024 allowed; nothing was written\r\n");
}

TEST_F(ConvertTest, PassesSourcesFailureAndNamesTheKeyInSourcesErrors) {
    auto s = build(kUsers);
    ClientSink down, wrongtype;
    run(*s, Cmd({"GET", "u:1"}), down);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, kDownOld, true);
    env.client.answer(2, kDownOld, true);
    EXPECT_EQ(down.reply, kDownOld);
    EXPECT_TRUE(down.failed);

    run(*s, Cmd({"GET", "u:2"}), wrongtype);
    env.client.answer(3, "$-1\r\n");
    env.client.answer(4, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    env.client.answer(5, ":-1\r\n");
    EXPECT_EQ(wrongtype.reply,
              "-ERR laminar: convert: cannot read 'user:2' from 'old': WRONGTYPE Operation against a key holding the wrong kind of "
              "value\r\n");
    EXPECT_EQ(env.client.sent.size(), 6u);
}

// 5
TEST_F(ConvertTest, DeletesTheSourceKeyOnceTargetHoldsItWithDeleteSource) {
    auto s = build(R"({type: convert, source: old, target: new, key: {prefix: "user:", to: "u:"}, value: json_unwrap, delete_source: true})");
    ClientSink client;
    missThenFind(*s, client, R"("v")", ":-1\r\n");
    env.client.answer(3, "+OK\r\n");
    expectSent(4, kOld, {"DEL", "user:1"});
    EXPECT_EQ(client.reply, bulk("v"));
    env.client.answer(4, ":1\r\n");

    ClientSink raced;
    missThenFind(*s, raced, R"("v")", ":-1\r\n");  // commands 5-7
    env.client.answer(8, "$-1\r\n");                 // NX: target has a newer value
    expectSent(9, kOld, {"DEL", "user:1"});
    expectSent(10, kNew, {"GET", "u:1"});
    env.client.answer(9, ":1\r\n");
    env.client.answer(10, bulk("newer"));
    EXPECT_EQ(raced.reply, bulk("newer"));
}

TEST_F(ConvertTest, CountsASourceDeleteThatFails) {
    auto s = build(R"({type: convert, source: old, target: new, delete_source: true})");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, bulk("v"));
    env.client.answer(2, ":-1\r\n");
    env.client.answer(3, "+OK\r\n");
    EXPECT_EQ(client.reply, bulk("v"));
    env.client.answer(4, kDownOld, true);
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

// 6
TEST_F(ConvertTest, ConvertsAKeyTargetDoesNotHaveBeforeACommandThatBuildsOnIt) {
    auto s = build(R"({type: convert, source: old, target: new, key: {prefix: "user:", to: "u:"}})");
    Cmd incr({"INCRBY", "u:1", "1"});
    EXPECT_TRUE(s->serializes(incr.request()));
    ClientSink client;
    run(*s, incr, client);
    expectSent(0, kNew, {"EXISTS", "u:1"});
    env.client.answer(0, ":0\r\n");
    expectSent(1, kOld, {"GET", "user:1"});
    expectSent(2, kOld, {"PTTL", "user:1"});
    env.client.answer(1, bulk("41"));
    env.client.answer(2, ":9000\r\n");
    expectSent(3, kNew, {"SET", "u:1", "41", "NX", "PX", "9000"});
    env.client.answer(3, "+OK\r\n");
    expectSent(4, kNew, {"INCRBY", "u:1", "1"});
    env.client.answer(4, ":42\r\n");
    // 7: the write succeeded; source's value is stale now.
    expectSent(5, kOld, {"DEL", "user:1"});
    EXPECT_EQ(client.reply, ":42\r\n");
    env.client.answer(5, ":1\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 1u);
}

TEST_F(ConvertTest, RunsACommandAtOnceWhenTargetHasTheKey) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"APPEND", "u:1", "x"}), client);
    env.client.answer(0, ":1\r\n");
    expectSent(1, kNew, {"APPEND", "u:1", "x"});
    env.client.answer(1, ":4\r\n");
    expectSent(2, kOld, {"DEL", "user:1"});
    env.client.answer(2, ":0\r\n");
    EXPECT_EQ(client.reply, ":4\r\n");
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(ConvertTest, RunsTheCommandWhenSourceDoesNotHaveTheKeyEither) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"SET", "u:1", "v", "NX"}), client);
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, "$-1\r\n");
    env.client.answer(2, ":-2\r\n");
    expectSent(3, kNew, {"SET", "u:1", "v", "NX"});
    env.client.answer(3, "+OK\r\n");
    env.client.answer(4, ":0\r\n");  // the DEL of user:1
    EXPECT_EQ(client.reply, "+OK\r\n");
}

TEST_F(ConvertTest, ConvertsBeforeAReadOtherThanGetAndDeletesNothingAfterIt) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"STRLEN", "u:1"}), client);
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, bulk(R"("abc")"));
    env.client.answer(2, ":-1\r\n");
    expectSent(3, kNew, {"SET", "u:1", "abc", "NX"});
    env.client.answer(3, "+OK\r\n");
    expectSent(4, kNew, {"STRLEN", "u:1"});
    env.client.answer(4, ":3\r\n");
    EXPECT_EQ(client.reply, ":3\r\n");
    EXPECT_EQ(env.client.sent.size(), 5u);
}

TEST_F(ConvertTest, DoesNotRunACommandWhoseKeyCouldNotBeConverted) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"APPEND", "u:1", "x"}), client);
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, bulk("not json"));
    env.client.answer(2, ":-1\r\n");
    EXPECT_NE(client.reply->find("-ERR laminar: convert: cannot convert 'user:1' from 'old' with json_unwrap"), std::string::npos)
        << *client.reply;
    EXPECT_EQ(env.client.sent.size(), 3u);
}

TEST_F(ConvertTest, DoesNotRunACommandWhenTheConvertedValueCouldNotBeWritten) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"INCR", "u:1"}), client);
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, bulk(R"("1")"));
    env.client.answer(2, ":-1\r\n");
    env.client.answer(3, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 4u);
}

// 7
TEST_F(ConvertTest, RunsAPlainOverwriteAtOnceThenDeletesTheStaleSourceKey) {
    auto s = build(kUsers);
    Cmd set({"SET", "u:1", "fresh", "EX", "10"});
    EXPECT_FALSE(s->serializes(set.request()));
    ClientSink client;
    run(*s, set, client);
    EXPECT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].raw, set.raw);
    EXPECT_EQ(env.client.sent[0].backend, kNew);
    env.client.answer(0, "+OK\r\n");
    expectSent(1, kOld, {"DEL", "user:1"});
    EXPECT_EQ(client.reply, "+OK\r\n");
    env.client.answer(1, ":1\r\n");
}

TEST_F(ConvertTest, KeepsTheSourceKeyWhenTheWriteFails) {
    auto s = build(kUsers);
    ClientSink client, refused;
    run(*s, Cmd({"SET", "u:1", "v"}), client);
    env.client.answer(0, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    run(*s, Cmd({"SETEX", "u:1", "0", "v"}), refused);
    env.client.answer(1, "-ERR invalid expire time in 'setex' command\r\n");
    EXPECT_EQ(refused.reply, "-ERR invalid expire time in 'setex' command\r\n");
    EXPECT_EQ(env.client.sent.size(), 2u);
}

// 8
TEST_F(ConvertTest, SendsDeletesToBothSidesUnderEachSidesNameAndAnswersTheLargerCount) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"DEL", "u:1"}), client);
    expectSent(0, kNew, {"DEL", "u:1"});
    expectSent(1, kOld, {"DEL", "user:1"});
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, ":1\r\n");
    EXPECT_EQ(client.reply, ":1\r\n");

    ClientSink unlink;
    run(*s, Cmd({"UNLINK", "u:1", "other", "u:2"}), unlink);
    expectSent(2, kNew, {"UNLINK", "u:1", "other", "u:2"});
    expectSent(3, kOld, {"UNLINK", "user:1", "user:2"});
    env.client.answer(2, ":2\r\n");
    env.client.answer(3, ":1\r\n");
    EXPECT_EQ(unlink.reply, ":2\r\n");
}

// 9
TEST_F(ConvertTest, SendsKeysTheRuleDoesNotCoverToTargetOnly) {
    auto s = build(kUsers);
    ClientSink get, incr, del;
    run(*s, Cmd({"GET", "other:1"}), get);
    env.client.answer(0, "$-1\r\n");
    EXPECT_EQ(get.reply, "$-1\r\n");
    run(*s, Cmd({"INCR", "other:1"}), incr);
    expectSent(1, kNew, {"INCR", "other:1"});
    env.client.answer(1, ":1\r\n");
    EXPECT_EQ(incr.reply, ":1\r\n");
    run(*s, Cmd({"DEL", "other:1"}), del);
    expectSent(2, kNew, {"DEL", "other:1"});
    env.client.answer(2, ":1\r\n");
    EXPECT_EQ(del.reply, ":1\r\n");
    EXPECT_EQ(env.client.sent.size(), 3u);
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(ConvertTest, RefusesOtherCommandsWithSeveralKeysNamingTheRoute) {
    auto s = build(kUsers);
    ClientSink client;
    run(*s, Cmd({"RENAME", "u:1", "u:2"}), client);
    EXPECT_EQ(client.reply, "-ERR laminar: route 'r' converts one key at a time and 'rename' names 2 keys; send the keys separately\r\n");
    EXPECT_TRUE(env.client.sent.empty());
}

TEST_F(ConvertTest, SendsKeylessCommandsToTarget) {
    auto s = build(kUsers);
    ClientSink client;
    Cmd dbsize({"DBSIZE"});
    run(*s, dbsize, client);
    EXPECT_EQ(env.client.rawTo(kNew), Strings{dbsize.raw});
    env.client.answer(0, ":3\r\n");
    EXPECT_EQ(client.reply, ":3\r\n");
}

TEST_F(ConvertTest, RenamesKeysInPlaceWhenSourceIsTarget) {
    auto s = build(R"({type: convert, source: old, target: old, key: {regex: '^user:(\d+)$', to: 'u:$1'}, value: json_unwrap, delete_source: true})");
    ClientSink client;
    run(*s, Cmd({"GET", "u:7"}), client);
    expectSent(0, kOld, {"GET", "u:7"});
    env.client.answer(0, "$-1\r\n");
    expectSent(1, kOld, {"GET", "user:7"});
    env.client.answer(1, bulk(R"("seven")"));
    env.client.answer(2, ":-1\r\n");
    expectSent(3, kOld, {"SET", "u:7", "seven", "NX"});
    env.client.answer(3, "+OK\r\n");
    expectSent(4, kOld, {"DEL", "user:7"});
    env.client.answer(4, ":1\r\n");
    EXPECT_EQ(client.reply, bulk("seven"));
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
}

TEST_F(ConvertTest, ReportsWhereReadsAndWritesGo) {
    auto s = build(kUsers);
    auto targets = [&](std::vector<std::string> args, bool write) {
        Cmd c(std::move(args));
        std::vector<int> out;
        s->targets(c.request(), env.ctx, write, out);
        return out;
    };
    EXPECT_EQ(targets({"GET", "u:1"}, false), (std::vector<int>{kNew, kOld}));
    EXPECT_EQ(targets({"SET", "u:1", "v"}, true), (std::vector<int>{kNew, kOld}));
    EXPECT_EQ(targets({"DEL", "u:1"}, true), (std::vector<int>{kNew, kOld}));
    EXPECT_EQ(targets({"GET", "other"}, false), std::vector<int>{kNew});
    EXPECT_EQ(targets({"RENAME", "u:1", "u:2"}, true), std::vector<int>{});
    EXPECT_EQ(s->pinTarget(), kNew);
    EXPECT_EQ(s->type(), "convert");
    EXPECT_EQ(s->describe(), "convert(source=old, target=new, key=prefix 'user:' -> 'u:', value=json_unwrap, delete_source=false)");
    EXPECT_FALSE(s->serializes(Cmd({"GET", "u:1"}).request())) << "a GET that hits costs nothing more";
    EXPECT_FALSE(s->serializes(Cmd({"DEL", "u:1"}).request()));
}

// ------------------------------------------------------------------ config

TEST_F(ConvertTest, BuildsWithDefaults) {
    auto s = build("{type: convert, source: old, target: new}");
    EXPECT_EQ(s->describe(), "convert(source=old, target=new, key=same, value=identity, delete_source=false)");
    s = build(R"({type: convert, source: new, target: {type: proxy, target: old}, key: {regex: 'a:(\d+)', to: 'b:$1'}, value: zlib_compress, delete_source: yes})");
    EXPECT_EQ(s->describe(), R"(convert(source=new, target=old, key=regex 'a:(\d+)' -> 'b:$1', value=zlib_compress, delete_source=true))");
}

TEST_F(ConvertTest, RefusesABadConfigNamingFileLineAndPath) {
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, value: gzip}"),
              "test.yaml:1: routes[0].strategy.value: must be one of identity, json_wrap, json_unwrap, zlib_compress, zlib_decompress, "
              "got 'gzip'");
    EXPECT_EQ(buildError("{type: convert, target: new}"),
              "test.yaml:1: routes[0].strategy.source: is required (a backend name or a strategy)");
    EXPECT_EQ(buildError("{type: convert, source: old, target: nope}"), "test.yaml:1: routes[0].strategy.target: unknown backend 'nope'");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {prefix: a, regex: b, to: c}}"),
              "test.yaml:1: routes[0].strategy.key: takes prefix or regex, not both");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {to: c}}"),
              "test.yaml:1: routes[0].strategy.key: needs prefix or regex (with to)");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {prefix: a}}"),
              "test.yaml:1: routes[0].strategy.key.to: is required: the target key's prefix, or a template with $1..$9");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {prefix: a, to: b, suffix: c}}"),
              "test.yaml:1: routes[0].strategy.key.suffix: unknown key");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: user}"), "test.yaml:1: routes[0].strategy.key: must be a mapping");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, delete_source: maybe}"),
              "test.yaml:1: routes[0].strategy.delete_source: must be true or false, got 'maybe'");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, deletesource: true}"),
              "test.yaml:1: routes[0].strategy.deletesource: unknown key");
}

TEST_F(ConvertTest, RefusesARegexRuleThatCannotBeReversedAtItsField) {
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {regex: 'user:(\\d+', to: 'u:$1'}}")
                  .rfind("test.yaml:1: routes[0].strategy.key.regex: is not a valid regex", 0),
              0u);
    EXPECT_EQ(buildError("{type: convert, source: old, target: new,\n  key: {regex: 'user:(\\d+)',\n         to: 'u:$2'}}"),
              "test.yaml:3: routes[0].strategy.key.to: uses $2 but the regex has 1 capture group");
    EXPECT_EQ(buildError("{type: convert, source: old, target: new, key: {regex: 'user:.*', to: 'u:'}}"),
              "test.yaml:1: routes[0].strategy.key.regex: '.' at offset 5 is outside a capture group: outside its capture groups "
              "the regex must be literal text, so that the rule can be reversed");
}

TEST_F(ConvertTest, RefusesConvertingInPlaceWithoutRenaming) {
    EXPECT_EQ(buildError("{type: convert, source: old, target: old, value: json_wrap}"),
              "test.yaml:1: routes[0].strategy.key: must rename keys when source and target are the same ('old'): a converted "
              "value could not be told from one not converted yet");
    EXPECT_NE(buildError("{type: convert, source: old, target: old, key: {prefix: 'k:', to: 'k:'}}").find("must rename keys"),
              std::string::npos);
    EXPECT_NE(buildError("{type: convert, source: {type: proxy, target: old}, target: old, value: json_wrap}").find("must rename keys"),
              std::string::npos);
}

}  // namespace
}  // namespace laminar::policy

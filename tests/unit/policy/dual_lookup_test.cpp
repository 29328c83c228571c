// SPDX-License-Identifier: Apache-2.0
#include "policy/dual_lookup.h"

#include <gtest/gtest.h>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "policy/route_stats.h"
#include "support/config_error.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::buildStrategy;
using testing::ClientSink;
using testing::Cmd;
using testing::command;
using testing::dumpPayload;
using testing::FakeEnv;

using testing::kNew;
using testing::kOld;
using testing::kDownNew;
using testing::kDownOld;

class DualLookupTest : public ::testing::Test {
protected:
    void SetUp() override { env.ctx.stats = &stats; }
    void TearDown() override {
        // Every command a strategy sent was answered, so every sink it made is freed.
        EXPECT_EQ(env.client.unanswered(), 0u);
        EXPECT_EQ(env.background.unanswered(), 0u);
    }

    std::unique_ptr<Strategy> build(const std::string& yaml) { return buildStrategy(yaml, cfg); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) {
        auto req = c.request();
        s.execute(req, &client, env.ctx);
    }

    // A read whose first answer is `miss`: checks it is retried on `second` (new) with the same
    // bytes, on the client's connections, and that second's reply is what the client gets.
    void expectFallback(const Cmd& read, const std::string& miss, const std::string& second_reply) {
        auto s = build("{type: dual_lookup, first: old, second: new}");
        ClientSink client;
        run(*s, read, client);
        ASSERT_EQ(env.client.sent.size(), 1u);
        EXPECT_EQ(env.client.sent[0].backend, kOld);
        EXPECT_EQ(env.client.sent[0].raw, read.raw);

        env.client.answer(0, miss);
        EXPECT_FALSE(client.reply.has_value()) << "the client got the miss: " << *client.reply;
        ASSERT_EQ(env.client.sent.size(), 2u);
        EXPECT_EQ(env.client.sent[1].backend, kNew);
        EXPECT_EQ(env.client.sent[1].raw, read.raw);
        EXPECT_EQ(stats.fallbacks.load(), 1u);

        env.client.answer(1, second_reply);
        EXPECT_EQ(client.reply, second_reply);
        EXPECT_FALSE(client.failed);
        EXPECT_TRUE(env.background.sent.empty());
    }

    // A GET of `key` that misses on first (old) and is found on second (new), with warm: true.
    std::unique_ptr<Strategy> missThenFind(const std::string& key, ClientSink& client) {
        auto s = build("{type: dual_lookup, first: old, second: new, warm: true}");
        run(*s, Cmd({"GET", key}), client);
        env.client.answer(0, "$-1\r\n");
        env.client.answer(1, bulk("v"));
        return s;
    }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
    RouteStats stats;
};

// 1
TEST_F(DualLookupTest, ReturnsFirstsReplyOnAHitWithoutAskingSecond) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{get.raw});

    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, "$1\r\nv\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 1u);
    EXPECT_TRUE(env.background.sent.empty());
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(DualLookupTest, ReturnsAnEmptyStringAsAHitNotAMiss) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$0\r\n\r\n");
    EXPECT_EQ(client.reply, "$0\r\n\r\n");
    EXPECT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(DualLookupTest, PassesFirstsFailureToTheClientWithoutFallingBack) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, kDownOld, true);
    EXPECT_EQ(client.reply, kDownOld);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(DualLookupTest, PassesFirstsErrorReplyToTheClientWithoutFallingBack) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    std::string wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    env.client.answer(0, wrongtype);
    EXPECT_EQ(client.reply, wrongtype);
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(env.client.sent.size(), 1u);
}

// 2
TEST_F(DualLookupTest, RetriesANullOnSecondAndReturnsSecondsReply) {
    expectFallback(Cmd({"GET", "k"}), "$-1\r\n", bulk("from-new"));
}

TEST_F(DualLookupTest, RetriesAnEmptyArrayOnSecondAndReturnsSecondsReply) {
    expectFallback(Cmd({"LRANGE", "l", "0", "-1"}), "*0\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
}

TEST_F(DualLookupTest, RetriesTypeNoneOnSecondAndReturnsSecondsReply) {
    expectFallback(Cmd({"TYPE", "k"}), "+none\r\n", "+hash\r\n");
}

TEST_F(DualLookupTest, RetriesTtlMinusTwoOnSecondAndReturnsSecondsReply) {
    expectFallback(Cmd({"TTL", "k"}), ":-2\r\n", ":120\r\n");
}

TEST_F(DualLookupTest, RetriesExistsZeroOnSecondAndReturnsSecondsReply) {
    expectFallback(Cmd({"EXISTS", "k"}), ":0\r\n", ":1\r\n");
}

TEST_F(DualLookupTest, ReturnsSecondsMissWhenBothSidesMiss) {
    expectFallback(Cmd({"GET", "k"}), "$-1\r\n", "$-1\r\n");
}

TEST_F(DualLookupTest, AnswersAZeroCountFromFirstWhenFirstHasTheKey) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"STRLEN", "k"}), client);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[0].raw, command({"EXISTS", "k"}));
    EXPECT_EQ(env.client.sent[1].raw, command({"STRLEN", "k"}));
    env.client.answer(0, ":1\r\n");
    env.client.answer(1, ":0\r\n");
    EXPECT_EQ(client.reply, ":0\r\n");
    EXPECT_EQ(stats.fallbacks.load(), 0u);
}

TEST_F(DualLookupTest, RetriesACountOnSecondWhenFirstDoesNotHaveTheKey) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"STRLEN", "k"}), client);
    env.client.answer(0, ":0\r\n");
    env.client.answer(1, ":0\r\n");
    ASSERT_EQ(env.client.sent.size(), 3u);
    EXPECT_EQ(env.client.sent[2].backend, kNew);
    env.client.answer(2, ":5\r\n");
    EXPECT_EQ(client.reply, ":5\r\n");
    EXPECT_EQ(stats.fallbacks.load(), 1u);
}

TEST_F(DualLookupTest, CopiesAKeyOnlySecondHasIntoFirstBeforeAWriteThatBuildsOnIt) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    Cmd incr({"INCRBY", "k", "1"});
    EXPECT_TRUE(s->serializes(incr.request()));
    run(*s, incr, client);
    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].raw, command({"EXISTS", "k"}));
    env.client.answer(0, ":0\r\n");
    // The copy: DUMP + PTTL on second, then RESTORE without REPLACE on first.
    ASSERT_EQ(env.background.sent.size(), 2u);
    env.background.answer(0, bulk("payload"));
    env.background.answer(1, ":-1\r\n");
    ASSERT_EQ(env.background.sent.size(), 3u);
    EXPECT_EQ(env.background.sent[2].backend, kOld);
    EXPECT_EQ(env.background.sent[2].raw, command({"RESTORE", "k", "0", "payload"}));
    EXPECT_TRUE(env.client.sent.size() == 1u) << "the write waits for the copy";
    env.background.answer(2, "+OK\r\n");
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[1].raw, incr.raw);
    EXPECT_EQ(env.client.sent[1].backend, kOld);
    env.client.answer(1, ":42\r\n");
    EXPECT_EQ(client.reply, ":42\r\n");
}

TEST_F(DualLookupTest, RunsAWriteAtOnceWhenFirstHasTheKey) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    Cmd incr({"INCRBY", "k", "1"});
    run(*s, incr, client);
    env.client.answer(0, ":1\r\n");
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.sent[1].raw, incr.raw);
    EXPECT_TRUE(env.background.sent.empty());
    env.client.answer(1, ":2\r\n");
    EXPECT_EQ(client.reply, ":2\r\n");
}

TEST_F(DualLookupTest, PassesSecondsFailureOnAFallbackToTheClient) {
    auto s = build("{type: dual_lookup, first: old, second: new, warm: true}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
    EXPECT_TRUE(env.background.sent.empty()) << "nothing to warm from a failed read";
}

TEST_F(DualLookupTest, CountsEachFallback) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    for (int i = 0; i < 3; ++i) {
        ClientSink client;
        run(*s, Cmd({"GET", "k" + std::to_string(i)}), client);
        env.client.answerAll(kOld, "$-1\r\n");
        env.client.answerAll(kNew, bulk("v"));
        EXPECT_EQ(client.reply, bulk("v"));
    }
    EXPECT_EQ(stats.fallbacks.load(), 3u);
}

// 3
TEST_F(DualLookupTest, WarmCopiesAKeyFoundOnSecondIntoFirstAfterTheClientHasItsReply) {
    auto s = build("{type: dual_lookup, first: old, second: new, warm: true}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    EXPECT_TRUE(env.background.sent.empty());

    env.client.answer(1, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    // DUMP + PTTL on second, over the background connections, not the client's.
    EXPECT_EQ(env.background.rawTo(kNew), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    EXPECT_TRUE(env.background.rawTo(kOld).empty());
    EXPECT_EQ(env.client.sent.size(), 2u);

    std::string payload = dumpPayload("v");
    env.background.answer(0, bulk(payload));
    EXPECT_TRUE(env.background.rawTo(kOld).empty()) << "RESTORE before PTTL answered";
    env.background.answer(1, ":5000\r\n");
    // RESTORE key ttl payload, without REPLACE, on first.
    EXPECT_EQ(env.background.rawTo(kOld), std::vector<std::string>{command({"RESTORE", "k", "5000", payload})});

    EXPECT_EQ(stats.warm_copies.load(), 0u);
    env.background.answer(2, "+OK\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 1u);
    EXPECT_EQ(stats.warm_failures.load(), 0u);
    EXPECT_EQ(stats.fallbacks.load(), 1u);
}

TEST_F(DualLookupTest, WarmCopiesAKeyWithoutATtlWithTtlZero) {
    ClientSink client;
    auto s = missThenFind("k", client);
    std::string payload = dumpPayload("v");
    env.background.answer(1, ":-1\r\n");  // PTTL first, DUMP second: the order does not matter
    env.background.answer(0, bulk(payload));
    EXPECT_EQ(env.background.rawTo(kOld), std::vector<std::string>{command({"RESTORE", "k", "0", payload})});
    env.background.answer(2, "+OK\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 1u);
}

TEST_F(DualLookupTest, WarmCountsBusyKeyAsDoneBecauseFirstGotAValueMeanwhile) {
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    env.background.answer(2, "-BUSYKEY Target key name already exists.\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 1u);
    EXPECT_EQ(stats.warm_failures.load(), 0u);
    EXPECT_EQ(env.background.sent.size(), 3u) << "nothing is retried or replaced";
}

TEST_F(DualLookupTest, WarmCountsAFailedRestoreAsAFailure) {
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    env.background.answer(2, "-ERR DUMP payload version or checksum are wrong\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 0u);
    EXPECT_EQ(stats.warm_failures.load(), 1u);
    EXPECT_EQ(client.reply, bulk("v"));
}

TEST_F(DualLookupTest, WarmCountsAnUnreachableFirstAsAFailure) {
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    env.background.answer(2, kDownOld, true);
    EXPECT_EQ(stats.warm_copies.load(), 0u);
    EXPECT_EQ(stats.warm_failures.load(), 1u);
}

TEST_F(DualLookupTest, WarmCountsAFailedDumpAsAFailureAndRestoresNothing) {
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, kDownNew, true);
    env.background.answer(1, ":-1\r\n");
    EXPECT_TRUE(env.background.rawTo(kOld).empty());
    EXPECT_EQ(stats.warm_copies.load(), 0u);
    EXPECT_EQ(stats.warm_failures.load(), 1u);
}

TEST_F(DualLookupTest, WarmRestoresNothingWhenTheKeyLeftSecondMeanwhile) {
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, "$-1\r\n");
    env.background.answer(1, ":-2\r\n");
    EXPECT_TRUE(env.background.rawTo(kOld).empty()) << "no RESTORE and no DEL on first";
    EXPECT_EQ(stats.warm_failures.load(), 0u);
}

TEST_F(DualLookupTest, DoesNotWarmWithoutWarmTrue) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"GET", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_TRUE(env.background.sent.empty());
}

TEST_F(DualLookupTest, DoesNotWarmAKeySecondDoesNotHaveEither) {
    auto s = build("{type: dual_lookup, first: old, second: new, warm: true}");
    ClientSink get, exists;
    run(*s, Cmd({"GET", "k"}), get);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, "$-1\r\n");
    run(*s, Cmd({"EXISTS", "k"}), exists);
    env.client.answer(2, ":0\r\n");
    env.client.answer(3, ":0\r\n");
    EXPECT_EQ(get.reply, "$-1\r\n");
    EXPECT_EQ(exists.reply, ":0\r\n");
    EXPECT_TRUE(env.background.sent.empty());
}

TEST_F(DualLookupTest, WarmsWithANullSnapshotPointerInTheContext) {
    // Unit contexts have no snapshot: the sink keeps nothing alive and the copy still runs.
    ASSERT_EQ(env.ctx.snapshot, nullptr);
    ClientSink client;
    auto s = missThenFind("k", client);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    env.background.answer(2, "+OK\r\n");
    EXPECT_EQ(stats.warm_copies.load(), 1u);
}

TEST_F(DualLookupTest, WarmKeepsTheSnapshotAliveUntilTheCopyIsDone) {
    auto snapshot = testing::makeSnapshot();
    std::weak_ptr<const Snapshot> watch = snapshot;
    env.ctx.snapshot = &snapshot;
    ClientSink client;
    auto s = missThenFind("k", client);
    env.ctx.snapshot = nullptr;
    snapshot.reset();  // a reload swapped it out while the copy runs
    EXPECT_FALSE(watch.expired());
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    EXPECT_FALSE(watch.expired());
    env.background.answer(2, "+OK\r\n");
    EXPECT_TRUE(watch.expired());
    EXPECT_EQ(stats.warm_copies.load(), 1u);
}

TEST_F(DualLookupTest, WarmCopiesTheKeyOfACommandWhoseKeyIsNotItsFirstArgument) {
    // MEMORY USAGE answers nil for a missing key; the key is argv[2], not argv[1].
    auto s = build("{type: dual_lookup, first: old, second: new, warm: true}");
    ClientSink client;
    run(*s, Cmd({"MEMORY", "USAGE", "k"}), client);
    env.client.answer(0, "$-1\r\n");
    env.client.answer(1, ":72\r\n");
    EXPECT_EQ(client.reply, ":72\r\n");
    EXPECT_EQ(env.background.rawTo(kNew), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    for (size_t i = 0; i < env.background.sent.size(); ++i) env.background.answer(i, "$-1\r\n");
}

// 4
TEST_F(DualLookupTest, WritesGoToFirstByDefault) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    Cmd set({"SET", "k", "v"});
    ClientSink client;
    run(*s, set, client);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    std::vector<int> targets;
    s->targets(set.request(), env.ctx, true, targets);
    EXPECT_EQ(targets, std::vector<int>{kOld});
}

TEST_F(DualLookupTest, WritesGoToSecondWithWritesSecond) {
    auto s = build("{type: dual_lookup, first: old, second: new, writes: second}");
    Cmd incr({"INCR", "n"});
    ClientSink client;
    run(*s, incr, client);
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{incr.raw});
    EXPECT_TRUE(env.client.rawTo(kOld).empty());
    env.client.answer(0, ":7\r\n");
    EXPECT_EQ(client.reply, ":7\r\n");
    std::vector<int> targets;
    s->targets(incr.request(), env.ctx, true, targets);
    EXPECT_EQ(targets, std::vector<int>{kNew});
}

TEST_F(DualLookupTest, WritesBothSendsToBothAtOnceAndAnswersWithFirstsReply) {
    auto s = build("{type: dual_lookup, first: old, second: new, writes: both}");
    Cmd set({"SET", "k", "v"});
    ClientSink client;
    run(*s, set, client);
    // Both sent before either answered.
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{set.raw});

    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n") << "first's reply goes out without waiting for second";
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(stats.secondary_failures.load(), 0u);
    std::vector<int> targets;
    s->targets(set.request(), env.ctx, true, targets);
    EXPECT_EQ(targets, (std::vector<int>{kOld, kNew}));
}

TEST_F(DualLookupTest, WritesBothCountsAFailedSecondAndStillAnswersWithFirsts) {
    auto s = build("{type: dual_lookup, first: old, second: new, writes: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(1, kDownNew, true);
    EXPECT_FALSE(client.reply.has_value());
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

TEST_F(DualLookupTest, RejectsAnUnknownWritesValueNamingThePath) {
    EXPECT_TRUE(laminar::testing::failsWithConfigError([&] { build("{type: dual_lookup, first: old, second: new, writes: sideways}"); },
                                                       "routes[0].strategy.writes: must be first, second or both, got 'sideways'"));
}

// 5
TEST_F(DualLookupTest, DeletesGoToBothSidesEvenWithWritesFirst) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    Cmd del({"DEL", "k"});
    ClientSink client;
    run(*s, del, client);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{del.raw});
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{del.raw});
    std::vector<int> targets;
    s->targets(del.request(), env.ctx, true, targets);
    EXPECT_EQ(targets, (std::vector<int>{kOld, kNew}));

    env.client.answer(0, ":0\r\n");
    EXPECT_FALSE(client.reply.has_value()) << "the delete waits for both sides";
    env.client.answer(1, ":1\r\n");
    EXPECT_EQ(client.reply, ":1\r\n");
    EXPECT_FALSE(client.failed);
}

TEST_F(DualLookupTest, ADeleteAnswersWithTheLargerCountWhicheverSideAnswersFirst) {
    auto s = build("{type: dual_lookup, first: old, second: new, writes: second}");
    ClientSink client;
    run(*s, Cmd({"UNLINK", "a"}), client);
    env.client.answer(1, ":0\r\n");
    env.client.answer(0, ":1\r\n");
    EXPECT_EQ(client.reply, ":1\r\n");

    ClientSink both;
    run(*s, Cmd({"DEL", "b"}), both);
    env.client.answer(3, ":1\r\n");
    env.client.answer(2, ":1\r\n");
    EXPECT_EQ(both.reply, ":1\r\n");
}

TEST_F(DualLookupTest, ADeleteThatFailsOnSecondReachesTheClient) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"DEL", "k"}), client);
    env.client.answer(0, ":1\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
}

TEST_F(DualLookupTest, ADeleteThatFailsOnFirstReachesTheClient) {
    auto s = build("{type: dual_lookup, first: old, second: new}");
    ClientSink client;
    run(*s, Cmd({"DEL", "k"}), client);
    env.client.answer(1, ":1\r\n");
    env.client.answer(0, kDownOld, true);
    EXPECT_EQ(client.reply, kDownOld);
    EXPECT_TRUE(client.failed);
}

// Reverse
TEST_F(DualLookupTest, ReadsFromFirstAndSecondAndDescribesItself) {
    auto s = build("{type: dual_lookup, first: new, second: old, writes: both, warm: true}");
    Cmd get({"GET", "k"});
    std::vector<int> targets;
    s->targets(get.request(), env.ctx, false, targets);
    EXPECT_EQ(targets, (std::vector<int>{kNew, kOld}));
    EXPECT_EQ(s->pinTarget(), kNew);
    EXPECT_EQ(s->describe(), "dual_lookup(first=new, second=old, writes=both, warm=true)");
}

}  // namespace
}  // namespace laminar::policy

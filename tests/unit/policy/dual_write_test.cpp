// SPDX-License-Identifier: Apache-2.0
#include "policy/dual_write.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "policy/route_stats.h"
#include "policy/sync_engine.h"
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
using testing::FakeSyncHost;
using testing::restoreReplace;

using testing::kNew;
using testing::kOld;
using testing::kDownNew;
using testing::kDownOld;

// A dual_write over fakes: the client's connections (env.client), and a real sync engine on one
// fake I/O thread whose background connections (host.dispatch) carry the key copies.
class DualWriteTest : public ::testing::Test {
protected:
    void SetUp() override {
        env.ctx.stats = &stats;
        env.ctx.sync = &engine;
        env.ctx.snapshot = &snapshot;
    }
    void TearDown() override {
        EXPECT_EQ(env.client.unanswered(), 0u);
        EXPECT_EQ(sync().unanswered(), 0u);
    }

    std::unique_ptr<Strategy> build(const std::string& yaml) { return buildStrategy(yaml, cfg); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) {
        auto req = c.request();
        s.execute(req, &client, env.ctx);
    }
    testing::FakeDispatch& sync() { return host.dispatch; }

    config::Config cfg = testing::twoBackends();
    FakeEnv env;
    RouteStats stats;
    std::shared_ptr<const Snapshot> snapshot = testing::makeSnapshot();
    FakeSyncHost host;
    SyncEngine engine{{&host}, 4};
};

// 1
TEST_F(DualWriteTest, ReadsGoToPrimaryOnly) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{get.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    EXPECT_TRUE(sync().sent.empty());
    EXPECT_TRUE(env.background.sent.empty());
    std::vector<int> targets;
    s->targets(get.request(), env.ctx, false, targets);
    EXPECT_EQ(targets, std::vector<int>{kOld});
    EXPECT_EQ(s->pinTarget(), kOld);
}

TEST_F(DualWriteTest, ReadsGoToSecondaryWithReadsSecondary) {
    auto s = build("{type: dual_write, primary: old, secondary: new, reads: secondary}");
    Cmd get({"GET", "k"});
    ClientSink client;
    run(*s, get, client);
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{get.raw});
    EXPECT_TRUE(env.client.rawTo(kOld).empty());
    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    std::vector<int> targets;
    s->targets(get.request(), env.ctx, false, targets);
    EXPECT_EQ(targets, std::vector<int>{kNew});
    EXPECT_EQ(s->pinTarget(), kNew);
    EXPECT_EQ(s->describe(), "dual_write(primary=old, secondary=new, mode=sync, ack=primary, reads=secondary)");
}

// 2
TEST_F(DualWriteTest, SyncModeRunsAWriteOnPrimaryOnlyThenCopiesTheKeysState) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    Cmd set({"APPEND", "k", "v"});
    ClientSink client;
    run(*s, set, client);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    EXPECT_TRUE(sync().sent.empty()) << "nothing is copied before primary applied the write";
    EXPECT_EQ(engine.pending("old>new"), 1) << "pending from the moment the write is sent, so a flip barrier waits for it";

    env.client.answer(0, ":1\r\n");
    EXPECT_EQ(client.reply, ":1\r\n");
    EXPECT_EQ(engine.pending("old>new"), 1);
    // The key's state is read from primary...
    EXPECT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    EXPECT_TRUE(sync().rawTo(kNew).empty());

    std::string payload = dumpPayload("v");
    sync().answer(0, bulk(payload));
    sync().answer(1, ":-1\r\n");
    // ...and the secondary made equal to it.
    EXPECT_EQ(sync().rawTo(kNew), std::vector<std::string>{restoreReplace("k", "0", payload)});
    sync().answer(2, "+OK\r\n");
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_TRUE(env.client.rawTo(kNew).empty()) << "the secondary never sees the command itself";
}

TEST_F(DualWriteTest, SyncModeCopiesTheTtl) {
    auto s = build("{type: dual_write, primary: new, secondary: old}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v", "PX", "90000", "NX"}), client);
    env.client.answer(0, "+OK\r\n");
    std::string payload = dumpPayload("v");
    EXPECT_EQ(sync().rawTo(kNew), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    sync().answer(0, bulk(payload));
    sync().answer(1, ":89997\r\n");
    EXPECT_EQ(sync().rawTo(kOld), std::vector<std::string>{restoreReplace("k", "89997", payload)});
    sync().answer(2, "+OK\r\n");
    EXPECT_EQ(engine.pending("new>old"), 0);
}

TEST_F(DualWriteTest, SyncModeCopiesADeleteAsADel) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    Cmd del({"GETDEL", "k"});
    ClientSink client;
    run(*s, del, client);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{del.raw});
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, bulk("v"));
    EXPECT_EQ(client.reply, bulk("v"));
    sync().answer(0, "$-1\r\n");
    sync().answer(1, ":-2\r\n");
    EXPECT_EQ(sync().rawTo(kNew), std::vector<std::string>{command({"DEL", "k"})});
    sync().answer(2, ":1\r\n");
    EXPECT_EQ(stats.syncs.load(), 1u);
}

TEST_F(DualWriteTest, SyncModeMarksEveryKeyOfAMultiKeyWriteDirty) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink client;
    run(*s, Cmd({"MSETNX", "a", "1", "b", "2"}), client);
    env.client.answer(0, ":1\r\n");
    EXPECT_EQ(engine.pending("old>new"), 2);
    // One shard per key at most; both keys' DUMPs are out or queued. Answer until all is done.
    for (int round = 0; round < 4 && sync().unanswered() > 0; ++round) {
        for (size_t i = 0; i < sync().sent.size(); ++i) {
            if (sync().sent[i].answered) continue;
            const auto& raw = sync().sent[i].raw;
            if (raw == command({"DUMP", "a"}) || raw == command({"DUMP", "b"})) sync().answer(i, bulk(dumpPayload("x")));
            else if (raw == command({"PTTL", "a"}) || raw == command({"PTTL", "b"})) sync().answer(i, ":-1\r\n");
            else sync().answer(i, "+OK\r\n");
        }
    }
    std::vector<std::string> restores = sync().rawTo(kNew);
    std::sort(restores.begin(), restores.end());
    EXPECT_EQ(restores, (std::vector<std::string>{restoreReplace("a", "0", dumpPayload("x")),
                                                  restoreReplace("b", "0", dumpPayload("x"))}));
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(stats.syncs.load(), 2u);
}

TEST_F(DualWriteTest, SyncModeStillCopiesAfterAFailedWrite) {
    // The primary may have applied part of it before timing out: copying state is always safe.
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink client;
    run(*s, Cmd({"INCR", "n"}), client);
    std::string timeout = "-ERR laminar: backend 'old' timed out after 1000 ms\r\n";
    env.client.answer(0, timeout, true);
    EXPECT_EQ(client.reply, timeout);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "n"}), command({"PTTL", "n"})}));
    sync().answer(0, "$-1\r\n");
    sync().answer(1, ":-2\r\n");
    sync().answer(2, ":0\r\n");
}

TEST_F(DualWriteTest, APinnedWriteMarksItsKeyDirty) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    s->afterPinnedWrite("k", env.ctx);
    EXPECT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    sync().answer(0, bulk(dumpPayload("v")));
    sync().answer(1, ":-1\r\n");
    EXPECT_EQ(sync().rawTo(kNew), std::vector<std::string>{restoreReplace("k", "0", dumpPayload("v"))});
    sync().answer(2, "+OK\r\n");
    std::vector<std::pair<int, int>> pairs;
    s->syncPairs(pairs);
    EXPECT_EQ(pairs, (std::vector<std::pair<int, int>>{{kOld, kNew}}));
    EXPECT_EQ(static_cast<const DualWrite&>(*s).pairName(), "old>new");
}

// 2, a plain overwrite: the write itself is the copy when nothing else of its keys is being copied.
TEST_F(DualWriteTest, SyncModeSendsAPlainOverwriteToBothSidesAsItsOwnCopy) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    for (auto args : std::vector<std::vector<std::string>>{{"SET", "k", "v", "EX", "10"},
                                                           {"SETEX", "k", "10", "v"},
                                                           {"PSETEX", "k", "10000", "v"},
                                                           {"MSET", "a", "1", "b", "2"},
                                                           {"DEL", "k"},
                                                           {"UNLINK", "k", "j"}}) {
        SCOPED_TRACE(args[0]);
        env.client.sent.clear();
        uint64_t before = stats.syncs.load();
        Cmd c(args);
        ClientSink client;
        run(*s, c, client);
        ASSERT_EQ(env.client.sent.size(), 2u) << "sent to both before either answers";
        EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{c.raw});
        EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{c.raw});
        int64_t keys = args[0] == "MSET" || args[0] == "UNLINK" ? 2 : 1;
        EXPECT_EQ(engine.pending("old>new"), keys);
        env.client.answer(0, "+OK\r\n");
        EXPECT_EQ(client.reply, "+OK\r\n") << "the primary's reply, as it comes";
        EXPECT_EQ(engine.pending("old>new"), keys) << "owed until the secondary applied it too";
        env.client.answer(1, "+OK\r\n");
        EXPECT_EQ(engine.pending("old>new"), 0);
        EXPECT_EQ(stats.syncs.load(), before + static_cast<uint64_t>(keys));
        EXPECT_TRUE(sync().sent.empty()) << "nothing read back";
    }
}

// The race of item 1 of issue 24: a copy of k reads old's state before a plain SET of k lands there;
// sent to new as it is, the SET could land before that copy's RESTORE and leave new older than old.
// So while a copy of k is queued or running, a plain overwrite takes the usual way.
TEST_F(DualWriteTest, APlainOverwriteWhileItsKeyIsBeingCopiedIsCopiedAfterThatCopy) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink incr, set;
    run(*s, Cmd({"INCR", "k"}), incr);
    env.client.answer(0, ":1\r\n");
    ASSERT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    sync().answer(0, bulk(dumpPayload("1")));  // the copy read 1 ...
    sync().answer(1, ":-1\r\n");
    Cmd c({"SET", "k", "v"});
    run(*s, c, set);  // ... and the SET is sent while its RESTORE is out
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{}) << "not sent to the secondary beside the copy";
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(set.reply, "+OK\r\n");
    sync().answer(2, "+OK\r\n");  // the RESTORE of 1
    // The key is copied once more, reading the SET's value.
    ASSERT_EQ(sync().sent.size(), 5u);
    EXPECT_EQ(sync().sent[3].raw, command({"DUMP", "k"}));
    sync().answer(3, bulk(dumpPayload("v")));
    sync().answer(4, ":-1\r\n");
    EXPECT_EQ(sync().sent.back().raw, restoreReplace("k", "0", dumpPayload("v")));
    sync().answer(5, "+OK\r\n");
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// A write of k whose reply comes while a forwarded SET of k is out (sent earlier on another
// connection, it may have landed on old after the SET): k is read back once the SET is done.
TEST_F(DualWriteTest, AWriteAnsweredWhileAPlainOverwriteIsForwardedIsCopiedAfterIt) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink incr, set;
    run(*s, Cmd({"INCR", "k"}), incr);  // 0: old
    run(*s, Cmd({"SET", "k", "5"}), set);  // 1: old, 2: new (no copy of k yet)
    ASSERT_EQ(env.client.sent.size(), 3u);
    env.client.answer(0, ":6\r\n");  // the INCR ran after the SET on old
    EXPECT_TRUE(sync().sent.empty()) << "no copy beside the forwarded SET";
    env.client.answer(1, "+OK\r\n");
    env.client.answer(2, "+OK\r\n");
    ASSERT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    sync().answer(0, bulk(dumpPayload("6")));
    sync().answer(1, ":-1\r\n");
    EXPECT_EQ(sync().rawTo(kNew), std::vector<std::string>{restoreReplace("k", "0", dumpPayload("6"))});
    sync().answer(2, "+OK\r\n");
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(DualWriteTest, APlainOverwriteTheSecondaryDidNotApplyIsCopied) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink set;
    run(*s, Cmd({"SET", "k", "v"}), set);
    env.client.answer(1, kDownNew, true);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(set.reply, "+OK\r\n");
    EXPECT_FALSE(set.failed);
    ASSERT_EQ(sync().rawTo(kOld), (std::vector<std::string>{command({"DUMP", "k"}), command({"PTTL", "k"})}));
    sync().answer(0, bulk(dumpPayload("v")));
    sync().answer(1, ":-1\r\n");
    sync().answer(2, "+OK\r\n");
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(stats.syncs.load(), 1u);
}

TEST_F(DualWriteTest, APlainOverwriteNamingAKeyTwiceIsCopied) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink mset;
    run(*s, Cmd({"MSET", "k", "1", "k", "2"}), mset);
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, "+OK\r\n");
    for (int round = 0; round < 3 && sync().unanswered() > 0; ++round)
        for (size_t i = 0; i < sync().sent.size(); ++i) {
            if (sync().sent[i].answered) continue;
            const auto& raw = sync().sent[i].raw;
            sync().answer(i, raw == command({"DUMP", "k"}) ? bulk(dumpPayload("2")) : raw == command({"PTTL", "k"}) ? ":-1\r\n" : "+OK\r\n");
        }
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// A key whose shard is another I/O thread's cannot be claimed from this one.
TEST_F(DualWriteTest, APlainOverwriteFromAnotherThreadIsCopied) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    host.current_thread = false;
    ClientSink set;
    run(*s, Cmd({"SET", "k", "v"}), set);
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    env.client.answer(0, "+OK\r\n");
    host.current_thread = true;
    host.runPosted();
    sync().answer(0, bulk(dumpPayload("v")));
    sync().answer(1, ":-1\r\n");
    sync().answer(2, "+OK\r\n");
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(DualWriteTest, SyncModeReportsBothSidesAsWriteTargets) {
    auto s = build("{type: dual_write, primary: new, secondary: old}");
    Cmd set({"SET", "k", "v"});
    std::vector<int> targets;
    s->targets(set.request(), env.ctx, true, targets);
    EXPECT_EQ(targets, (std::vector<int>{kNew, kOld}));
    EXPECT_EQ(s->describe(), "dual_write(primary=new, secondary=old, mode=sync, ack=primary)");
}

// 3
TEST_F(DualWriteTest, CommandModeSendsAPlainOverwriteToBothBeforeEitherAnswers) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    Cmd set({"SET", "k", "v"});
    ClientSink client;
    run(*s, set, client);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{set.raw});

    env.client.answer(1, "+OK\r\n");  // secondary first
    EXPECT_FALSE(client.reply.has_value()) << "the client got the secondary's reply";
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_FALSE(client.failed);
    EXPECT_TRUE(sync().sent.empty()) << "a plain overwrite needs no copy";
    EXPECT_EQ(stats.secondary_failures.load(), 0u);
}

TEST_F(DualWriteTest, CommandModeSendsEveryPlainOverwriteToBoth) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    for (auto args : std::vector<std::vector<std::string>>{{"SET", "k", "v", "EX", "10"},
                                                           {"SETEX", "k", "10", "v"},
                                                           {"PSETEX", "k", "10000", "v"},
                                                           {"MSET", "a", "1", "b", "2"},
                                                           {"DEL", "k"},
                                                           {"UNLINK", "k"}}) {
        SCOPED_TRACE(args[0]);
        Cmd c(args);
        ClientSink client;
        size_t before = env.client.sent.size();
        run(*s, c, client);
        ASSERT_EQ(env.client.sent.size(), before + 2);
        EXPECT_EQ(env.client.sent[before].backend, kOld);
        EXPECT_EQ(env.client.sent[before].raw, c.raw);
        EXPECT_EQ(env.client.sent[before + 1].backend, kNew);
        EXPECT_EQ(env.client.sent[before + 1].raw, c.raw);
        env.client.answer(before, "+OK\r\n");
        env.client.answer(before + 1, "+OK\r\n");
        EXPECT_EQ(client.reply, "+OK\r\n");
    }
    EXPECT_TRUE(sync().sent.empty());
}

TEST_F(DualWriteTest, CommandModeSyncsAWriteThatIsNotAPlainOverwrite) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    for (auto args : std::vector<std::vector<std::string>>{{"INCR", "k"},
                                                           {"SET", "k", "v", "NX"},
                                                           {"SET", "k", "v", "xx"},
                                                           {"SET", "k", "v", "GET"},
                                                           {"SET", "k", "v", "KEEPTTL"},
                                                           {"APPEND", "k", "x"},
                                                           {"LPUSH", "k", "x"}}) {
        SCOPED_TRACE(args.size() > 3 ? args[3] : args[0]);
        Cmd c(args);
        ClientSink client;
        size_t before = env.client.sent.size(), copies = sync().sent.size();
        run(*s, c, client);
        ASSERT_EQ(env.client.sent.size(), before + 1);
        EXPECT_EQ(env.client.sent[before].backend, kOld);
        EXPECT_EQ(env.client.sent[before].raw, c.raw);
        env.client.answer(before, ":1\r\n");
        EXPECT_EQ(client.reply, ":1\r\n");
        // The key's state is copied, not the command replayed.
        ASSERT_EQ(sync().sent.size(), copies + 2);
        EXPECT_EQ(sync().sent[copies].raw, command({"DUMP", "k"}));
        EXPECT_EQ(sync().sent[copies + 1].raw, command({"PTTL", "k"}));
        sync().answer(copies, bulk(dumpPayload("1")));
        sync().answer(copies + 1, ":-1\r\n");
        ASSERT_EQ(sync().sent.size(), copies + 3);
        EXPECT_EQ(sync().sent[copies + 2].backend, kNew);
        EXPECT_EQ(sync().sent[copies + 2].raw, restoreReplace("k", "0", dumpPayload("1")));
        sync().answer(copies + 2, "+OK\r\n");
    }
    EXPECT_TRUE(env.client.rawTo(kNew).empty());
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// 4
TEST_F(DualWriteTest, AckPrimaryAnswersAsSoonAsPrimaryReplies) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    env.client.answer(1, "+OK\r\n");
}

TEST_F(DualWriteTest, ReturnsPrimaryReplyWhenSecondaryFails) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(1, kDownNew, true);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_FALSE(client.failed);
}

TEST_F(DualWriteTest, AckBothWaitsForBothSides) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command, ack: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    ASSERT_EQ(env.client.sent.size(), 2u);
    env.client.answer(0, "+OK\r\n");
    EXPECT_FALSE(client.reply.has_value()) << "answered before the secondary";
    env.client.answer(1, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_FALSE(client.failed);
}

TEST_F(DualWriteTest, AckBothReportsAFailedSecondaryToTheClient) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command, ack: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(client.reply, kDownNew);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

TEST_F(DualWriteTest, AckBothReportsASecondaryErrorReplyToTheClient) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command, ack: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    std::string oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    env.client.answer(1, oom);
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, oom);
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

TEST_F(DualWriteTest, AckBothReportsAFailedPrimaryToTheClient) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command, ack: both}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(1, "+OK\r\n");
    env.client.answer(0, kDownOld, true);
    EXPECT_EQ(client.reply, kDownOld);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(stats.secondary_failures.load(), 0u);
}

TEST_F(DualWriteTest, RejectsAckBothInSyncModeNamingTheAckField) {
    std::string err = laminar::testing::configError([&] { build("{type: dual_write, primary: old, secondary: new, ack: both}"); });
    EXPECT_NE(err.find("routes[0].strategy.ack: ack: both needs mode: command"), std::string::npos) << err;
    EXPECT_EQ(err.rfind("test.yaml:", 0), 0u) << err;
}

TEST_F(DualWriteTest, RejectsUnknownModeAckAndReadsValues) {
    auto error = [&](const std::string& yaml) { return laminar::testing::configError([&] { build(yaml); }); };
    auto mode = error("{type: dual_write, primary: old, secondary: new, mode: fast}");
    EXPECT_NE(mode.find("routes[0].strategy.mode: must be sync or command, got 'fast'"), std::string::npos) << mode;
    auto ack = error("{type: dual_write, primary: old, secondary: new, mode: command, ack: all}");
    EXPECT_NE(ack.find("routes[0].strategy.ack: must be primary or both, got 'all'"), std::string::npos) << ack;
    auto reads = error("{type: dual_write, primary: old, secondary: new, reads: both}");
    EXPECT_NE(reads.find("routes[0].strategy.reads: must be primary or secondary, got 'both'"), std::string::npos) << reads;
}

// 5
TEST_F(DualWriteTest, CountsAFailedSecondaryInCommandMode) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    ClientSink first, second;
    run(*s, Cmd({"SET", "k", "v"}), first);
    run(*s, Cmd({"SET", "k", "w"}), second);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, kDownNew, true);
    env.client.answer(2, "+OK\r\n");
    env.client.answer(3, "-READONLY You can't write against a read only replica.\r\n");
    EXPECT_EQ(first.reply, "+OK\r\n");
    EXPECT_EQ(second.reply, "+OK\r\n");
    EXPECT_EQ(stats.secondary_failures.load(), 2u);
}

// A secondary that refuses the copy (not one that is away: that key waits in the backlog at once,
// see SyncEngineTest) is counted as a sync failure after 5 tries, and kept in the backlog, retried
// with a backoff up to 30 s until it is taken: never given up.
TEST_F(DualWriteTest, ASyncTheSecondaryKeepsRefusingIsCountedAndKeptInTheBacklogUntilItIsTaken) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    ClientSink client;
    run(*s, Cmd({"INCR", "n"}), client);
    env.client.answer(0, ":1\r\n");
    auto refuse = [&] {
        size_t base = sync().sent.size() - 2;
        sync().answer(base, bulk(dumpPayload("1")));
        sync().answer(base + 1, ":-1\r\n");
        sync().answer(base + 2, "-ERR Bad data format\r\n");
    };
    for (int attempt = 1; attempt <= 5; ++attempt) {
        SCOPED_TRACE(attempt);
        refuse();
        if (attempt < 5) {
            EXPECT_EQ(stats.sync_failures.load(), 0u);
            EXPECT_EQ(engine.backlog("old>new").keys, 0) << "a refusal enters the backlog after the fifth try";
            ASSERT_TRUE(host.fireTimer());
        }
    }
    EXPECT_EQ(stats.sync_failures.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 1) << "still owed: a flip barrier waits for it";
    EXPECT_EQ(engine.backlog("old>new").keys, 1);
    EXPECT_EQ(host.delays(), std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(1600)}) << "backing off to 30 s";
    ASSERT_TRUE(host.fireTimer()) << "retried";
    refuse();
    EXPECT_EQ(stats.sync_failures.load(), 1u) << "counted once, not at every retry";
    EXPECT_EQ(engine.backlog("old>new").keys, 1);
    ASSERT_TRUE(host.fireTimer());
    size_t base = sync().sent.size() - 2;
    sync().answer(base, bulk(dumpPayload("1")));
    sync().answer(base + 1, ":-1\r\n");
    sync().answer(base + 2, "+OK\r\n");
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
    EXPECT_TRUE(host.timers.empty());
}

// 6
TEST_F(DualWriteTest, SendsAKeylessWriteToBothSides) {
    auto s = build("{type: dual_write, primary: old, secondary: new}");
    Cmd flush({"FLUSHALL"});
    ClientSink client;
    run(*s, flush, client);
    ASSERT_EQ(env.client.sent.size(), 2u);
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{flush.raw});
    EXPECT_EQ(env.client.rawTo(kNew), std::vector<std::string>{flush.raw});
    env.client.answer(1, "+OK\r\n");
    env.client.answer(0, "+OK\r\n");
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_TRUE(sync().sent.empty());
}

TEST_F(DualWriteTest, CountsAKeylessWriteThatFailsOnTheSecondary) {
    auto s = build("{type: dual_write, primary: old, secondary: new, mode: command}");
    ClientSink client;
    run(*s, Cmd({"FLUSHALL"}), client);
    env.client.answer(0, "+OK\r\n");
    env.client.answer(1, kDownNew, true);
    EXPECT_EQ(client.reply, "+OK\r\n");
    EXPECT_EQ(stats.secondary_failures.load(), 1u);
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
// The hazards of docs/design.md, one test each, with scripted backends: every DUMP, PTTL,
// RESTORE and DEL the engine sends waits until the test answers it, so the test picks the
// interleaving of copies and client writes.
#include "policy/sync_engine.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "policy/dual_write.h"
#include "policy/proxy.h"
#include "policy/route_stats.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::ClientSink;
using testing::Cmd;
using testing::command;
using testing::dumpPayload;
using testing::FakeEnv;
using testing::FakeSyncHost;
using testing::kNil;
using testing::kOk;
using testing::restoreReplace;

using testing::kNew;
using testing::kOld;
using testing::kDownNew;

class SyncEngineTest : public ::testing::Test {
protected:
    void TearDown() override {
        // Every copy the engine started was answered, so none is left half-done (or leaked).
        EXPECT_EQ(host.dispatch.unanswered(), 0u);
    }

    // What the backfill does: old -> new.
    SyncTask forward() {
        SyncTask t;
        t.snapshot = snapshot;
        t.from = &old_;
        t.to = &new_;
        t.stats = &stats;
        t.pair = "old>new";
        return t;
    }
    SyncTask backward() {
        SyncTask t = forward();
        t.from = &new_;
        t.to = &old_;
        t.pair = "new>old";
        return t;
    }

    // A client of a dual_write(primary=old, secondary=new, mode=sync) route over this engine.
    struct Client {
        FakeEnv env;
        void write(const Strategy& s, std::vector<std::string> args, ClientSink& sink) {
            Cmd c(std::move(args));
            auto req = c.request();
            s.execute(req, &sink, env.ctx);
        }
    };
    void connect(Client& c, SyncEngine& e) {
        c.env.ctx.sync = &e;
        c.env.ctx.snapshot = &snapshot;
        c.env.ctx.stats = &stats;
    }
    std::unique_ptr<Strategy> dualWrite() {
        return testing::buildStrategy("{type: dual_write, primary: old, secondary: new}", cfg);
    }

    testing::FakeDispatch& sent() { return host.dispatch; }
    std::vector<std::string> rawsTo(int backend) const { return host.dispatch.rawTo(backend); }
    size_t count(const std::string& raw) const {
        return static_cast<size_t>(std::count_if(host.dispatch.sent.begin(), host.dispatch.sent.end(),
                                                 [&](const testing::Sent& s) { return s.raw == raw; }));
    }
    // Answers the last DUMP and PTTL sent for a copy (the two most recent commands).
    void answerRead(std::string_view dump, std::string_view pttl) {
        size_t n = sent().sent.size();
        ASSERT_GE(n, 2u);
        ASSERT_TRUE(sent().sent[n - 2].raw.find("DUMP") != std::string::npos) << sent().sent[n - 2].raw;
        ASSERT_TRUE(sent().sent[n - 1].raw.find("PTTL") != std::string::npos) << sent().sent[n - 1].raw;
        sent().answer(n - 2, dump);
        sent().answer(n - 1, pttl);
    }
    void answerLast(std::string_view reply, bool failed = false) { sent().answer(sent().sent.size() - 1, reply, failed); }

    config::Config cfg = testing::twoBackends();
    std::shared_ptr<const Snapshot> snapshot = testing::makeSnapshot();
    Proxy old_{kOld, "old"}, new_{kNew, "new"};
    RouteStats stats;
    FakeSyncHost host;
};

// 1. A non-idempotent write on a key the new side does not have yet.
TEST_F(SyncEngineTest, Hazard1_ACounterTheSecondaryLacksEndsWithThePrimarysValue) {
    SyncEngine engine({&host}, 4);
    Client a;
    connect(a, engine);
    auto s = dualWrite();
    ClientSink reply;
    a.write(*s, {"INCR", "views"}, reply);
    EXPECT_EQ(a.env.client.rawTo(kOld), std::vector<std::string>{command({"INCR", "views"})});
    a.env.client.answer(0, ":42\r\n");  // old had 41
    EXPECT_EQ(reply.reply, ":42\r\n");

    EXPECT_EQ(rawsTo(kOld), (std::vector<std::string>{command({"DUMP", "views"}), command({"PTTL", "views"})}));
    std::string forty_two = dumpPayload("42");
    answerRead(bulk(forty_two), ":-1\r\n");
    answerLast(kOk);

    // The secondary got the primary's state, never the INCR (which would have made it 1).
    EXPECT_EQ(rawsTo(kNew), std::vector<std::string>{restoreReplace("views", "0", forty_two)});
    EXPECT_TRUE(a.env.client.rawTo(kNew).empty());
    EXPECT_TRUE(a.env.background.sent.empty());
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// 2. Two clients write one key at once.
TEST_F(SyncEngineTest, Hazard2_WritesDuringAnInFlightCopyAreCopiedAgainAfterTheLastWrite) {
    SyncEngine engine({&host}, 4);
    Client a, b;
    connect(a, engine);
    connect(b, engine);
    auto s = dualWrite();
    ClientSink a1, b1, a2;

    a.write(*s, {"APPEND", "k", "1"}, a1);
    a.env.client.answer(0, kOk);
    ASSERT_EQ(sent().sent.size(), 2u);  // DUMP + PTTL of the first copy, in flight

    // B's write and A's next one reach old, and are answered, while the copy is in flight.
    b.write(*s, {"APPEND", "k", "2"}, b1);
    b.env.client.answer(0, kOk);
    a.write(*s, {"APPEND", "k", "3"}, a2);
    a.env.client.answer(1, kOk);
    EXPECT_EQ(sent().sent.size(), 2u) << "a second copy of k started while one was in flight";
    EXPECT_EQ(engine.pending("old>new"), 1);

    // The first DUMP had read the state before B's write.
    answerRead(bulk(dumpPayload("1")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().raw, restoreReplace("k", "0", dumpPayload("1")));
    EXPECT_EQ(sent().sent.size(), 3u);
    answerLast(kOk);

    // Then k is read again: this DUMP was sent after the last write was answered.
    ASSERT_EQ(sent().sent.size(), 5u);
    EXPECT_EQ(sent().sent[3].raw, command({"DUMP", "k"}));
    EXPECT_EQ(sent().sent[4].raw, command({"PTTL", "k"}));
    answerRead(bulk(dumpPayload("3")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().raw, restoreReplace("k", "0", dumpPayload("3")));
    answerLast(kOk);

    EXPECT_EQ(count(command({"DUMP", "k"})), 2u);
    EXPECT_EQ(rawsTo(kNew).back(), restoreReplace("k", "0", dumpPayload("3")));
    EXPECT_EQ(stats.syncs.load(), 2u);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_TRUE(a.env.client.rawTo(kNew).empty());
    EXPECT_TRUE(b.env.client.rawTo(kNew).empty());
}

TEST_F(SyncEngineTest, Hazard2_AWriteAnsweredAfterTheDumpButBeforeTheRestoreIsCopiedAgain) {
    SyncEngine engine({&host}, 4);
    Client a, b;
    connect(a, engine);
    connect(b, engine);
    auto s = dualWrite();
    ClientSink a1, b1;

    a.write(*s, {"APPEND", "k", "1"}, a1);
    a.env.client.answer(0, kOk);
    answerRead(bulk(dumpPayload("1")), ":-1\r\n");  // read before B
    ASSERT_EQ(sent().sent.size(), 3u);              // RESTORE k 1 in flight

    b.write(*s, {"APPEND", "k", "2"}, b1);
    b.env.client.answer(0, kOk);
    EXPECT_EQ(sent().sent.size(), 3u);
    answerLast(kOk);  // the stale RESTORE lands

    ASSERT_EQ(sent().sent.size(), 5u);
    answerRead(bulk(dumpPayload("2")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().raw, restoreReplace("k", "0", dumpPayload("2")));
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// 3. A backfill reads a value, a client changes the key, the backfill writes the old value.
TEST_F(SyncEngineTest, Hazard3_ABackfillCopyOvertakenByAWriteIsFollowedByACopyOfTheNewValue) {
    SyncEngine engine({&host}, 4);
    Client a;
    connect(a, engine);
    auto s = dualWrite();

    engine.markDirty(forward(), "k");  // the backfill's SCAN found k
    ASSERT_EQ(sent().sent.size(), 2u);
    ClientSink reply;
    a.write(*s, {"SET", "k", "fresh"}, reply);
    a.env.client.answer(0, kOk);

    answerRead(bulk(dumpPayload("stale")), ":-1\r\n");
    answerLast(kOk);
    answerRead(bulk(dumpPayload("fresh")), ":-1\r\n");
    answerLast(kOk);

    EXPECT_EQ(rawsTo(kNew), (std::vector<std::string>{restoreReplace("k", "0", dumpPayload("stale")),
                                                     restoreReplace("k", "0", dumpPayload("fresh"))}));
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// 4. A backfill reads a key, a client deletes it, the backfill restores it.
TEST_F(SyncEngineTest, Hazard4_ABackfillCopyOfAKeyDeletedMeanwhileEndsWithADelOnTheSecondary) {
    SyncEngine engine({&host}, 4);
    Client a;
    connect(a, engine);
    auto s = dualWrite();

    engine.markDirty(forward(), "k");
    ClientSink reply;
    a.write(*s, {"DEL", "k"}, reply);
    EXPECT_EQ(a.env.client.rawTo(kOld), std::vector<std::string>{command({"DEL", "k"})});
    EXPECT_TRUE(a.env.client.rawTo(kNew).empty());  // new does not have k yet: nothing to delete there
    a.env.client.answer(0, ":1\r\n");
    EXPECT_EQ(reply.reply, ":1\r\n");

    answerRead(bulk(dumpPayload("v")), ":-1\r\n");  // read before the delete
    answerLast(kOk);                                 // the copy brings k back on new...
    answerRead(kNil, ":-2\r\n");                     // ...and the copy after the delete removes it
    EXPECT_EQ(sent().sent.back().backend, kNew);
    EXPECT_EQ(sent().sent.back().raw, command({"DEL", "k"}));
    answerLast(":1\r\n");

    EXPECT_EQ(rawsTo(kNew).back(), command({"DEL", "k"}));
    EXPECT_EQ(stats.syncs.load(), 2u);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(SyncEngineTest, Hazard4_SyncsADelWhenDumpFindsNoKey) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "gone");
    answerRead(kNil, ":-2\r\n");
    EXPECT_EQ(rawsTo(kNew), std::vector<std::string>{command({"DEL", "gone"})});
    answerLast(":0\r\n");
    EXPECT_EQ(stats.syncs.load(), 1u);
}

TEST_F(SyncEngineTest, Hazard4_SyncsADelWhenTheKeyIsDeletedBetweenDumpAndPttl) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    answerRead(bulk(dumpPayload("v")), ":-2\r\n");
    EXPECT_EQ(rawsTo(kNew), std::vector<std::string>{command({"DEL", "k"})});
    answerLast(":1\r\n");
    EXPECT_EQ(stats.syncs.load(), 1u);
}

// 5 (of this list): several writes to a queued key collapse into one copy.
TEST_F(SyncEngineTest, ManyMarkDirtyCallsForAQueuedKeyCollapseIntoOneCopy) {
    SyncEngine engine({&host}, 1);
    engine.markDirty(forward(), "a");  // in flight: holds the only shard
    for (int i = 0; i < 10; ++i) engine.markDirty(forward(), "b");
    EXPECT_EQ(engine.pending("old>new"), 2);
    EXPECT_EQ(engine.queuedTotal(), 2u);
    EXPECT_EQ(count(command({"DUMP", "b"})), 0u);

    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    answerLast(kOk);
    answerRead(bulk(dumpPayload("b")), ":-1\r\n");
    answerLast(kOk);

    EXPECT_EQ(count(command({"DUMP", "b"})), 1u);
    EXPECT_EQ(sent().sent.size(), 6u);
    EXPECT_EQ(stats.syncs.load(), 2u);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(SyncEngineTest, CopiesTheKeysTtl) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "session:1");
    std::string payload = dumpPayload("user=7");
    answerRead(bulk(payload), ":29950\r\n");
    EXPECT_EQ(rawsTo(kNew), std::vector<std::string>{restoreReplace("session:1", "29950", payload)});
    answerLast(kOk);
}

// Retries.
TEST_F(SyncEngineTest, RetriesAFailedRestoreAfterABackoff) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kDownNew, true);

    EXPECT_EQ(sent().sent.size(), 3u) << "retried at once, without a backoff";
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(host.timers[0].delay, std::chrono::milliseconds(100));
    EXPECT_EQ(engine.pending("old>new"), 1) << "a key waiting for its retry is still pending";

    ASSERT_TRUE(host.fireTimer());
    ASSERT_EQ(sent().sent.size(), 5u);
    EXPECT_EQ(sent().sent[3].raw, command({"DUMP", "k"}));
    answerRead(bulk(dumpPayload("v2")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().raw, restoreReplace("k", "0", dumpPayload("v2")));
    answerLast(kOk);
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(stats.sync_failures.load(), 0u);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(SyncEngineTest, RetriesAFailedDump) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    answerRead("-ERR laminar: backend 'old' timed out after 1000 ms\r\n", ":-1\r\n");
    EXPECT_TRUE(rawsTo(kNew).empty());
    ASSERT_TRUE(host.fireTimer());
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// A copy the other side refuses is retried quickly 4 times, then counted as a failure and kept in
// the backlog (so the flip waits for it, and with state_dir it outlives a restart), retried with a
// backoff that stops at kRefusedRetry until it is taken: never given up.
TEST_F(SyncEngineTest, ARefusalIsCountedAfterFiveTriesAndKeptInTheBacklogUntilTheKeyIsTaken) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    std::vector<std::chrono::milliseconds> delays;
    for (int attempt = 1; attempt <= 7; ++attempt) {
        SCOPED_TRACE(attempt);
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast("-ERR Bad data format\r\n");
        EXPECT_EQ(engine.pending("old>new"), 1);
        EXPECT_EQ(stats.sync_failures.load(), attempt < 5 ? 0u : 1u);
        EXPECT_EQ(engine.backlog("old>new").keys, attempt < 5 ? 0 : 1);
        ASSERT_EQ(host.timers.size(), 1u);
        delays.push_back(host.timers.front().delay);
        host.fireTimer();
    }
    using std::chrono::milliseconds;
    EXPECT_EQ(delays, (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400), milliseconds(800),
                                                 milliseconds(1600), milliseconds(3200), milliseconds(6400)}));
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(count(command({"DUMP", "k"})), 8u);
    EXPECT_TRUE(host.timers.empty());
    EXPECT_EQ(stats.sync_failures.load(), 1u);
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
}

TEST_F(SyncEngineTest, CopiesTheShardsNextKeyWhileAFailedOneWaitsForItsRetry) {
    SyncEngine engine({&host}, 1);
    engine.markDirty(forward(), "a");
    engine.markDirty(forward(), "b");
    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    answerLast(kDownNew, true);
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(sent().sent[sent().sent.size() - 2].raw, command({"DUMP", "b"}));
    answerRead(bulk(dumpPayload("b")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 1);

    host.fireTimer();
    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(stats.syncs.load(), 2u);
}

// The flip barrier's count.
TEST_F(SyncEngineTest, PendingCountsQueuedAndInFlightKeysPerPair) {
    SyncEngine engine({&host}, 1);
    EXPECT_EQ(engine.pending("old>new"), 0);
    engine.markDirty(forward(), "a");   // in flight
    engine.markDirty(forward(), "b");   // queued
    engine.markDirty(backward(), "c");  // queued, the other direction
    EXPECT_EQ(engine.pending("old>new"), 2);
    EXPECT_EQ(engine.pending("new>old"), 1);
    EXPECT_EQ(engine.pending("old>other"), 0);

    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    EXPECT_EQ(engine.pending("old>new"), 2) << "a is pending until its RESTORE is answered";
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 1);
    answerRead(bulk(dumpPayload("b")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.pending("new>old"), 1);

    // c copies new -> old.
    EXPECT_EQ(sent().sent[sent().sent.size() - 2].backend, kNew);
    EXPECT_EQ(sent().sent[sent().sent.size() - 2].raw, command({"DUMP", "c"}));
    answerRead(bulk(dumpPayload("c")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().backend, kOld);
    answerLast(kOk);
    EXPECT_EQ(engine.pending("new>old"), 0);
    EXPECT_EQ(engine.queuedTotal(), 3u);
}

// 5. A tracker (the online backfill's) counts its own keys, not the pair's.
TEST_F(SyncEngineTest, ATrackerIsDoneWhenItsOwnKeysAreCopiedWhileOtherKeysStayPending) {
    SyncEngine engine({&host}, 1);
    auto tracker = std::make_shared<SyncTracker>();
    engine.markDirty(forward(), "a", false, tracker);  // in flight
    engine.markDirty(forward(), "w");                  // a client's write, queued behind it
    engine.markDirty(forward(), "b", false, tracker);
    EXPECT_EQ(tracker->left.load(), 2);
    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    EXPECT_EQ(tracker->left.load(), 2) << "a is left until its RESTORE is answered";
    answerLast(kOk);
    EXPECT_EQ(tracker->left.load(), 1);
    answerRead(bulk(dumpPayload("w")), ":-1\r\n");
    answerLast(kOk);
    answerRead(bulk(dumpPayload("b")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(tracker->left.load(), 0);
    EXPECT_EQ(tracker->failed.load(), 0u);

    // The pair stays busy with clients' writes (w dirtied again and again): the tracker is done.
    engine.markDirty(forward(), "w");
    EXPECT_EQ(engine.pending("old>new"), 1);
    EXPECT_EQ(tracker->left.load(), 0);
    answerRead(bulk(dumpPayload("w2")), ":-1\r\n");
    answerLast(kOk);
}

TEST_F(SyncEngineTest, ATrackedKeyMarkedDuringItsCopyIsLeftUntilTheNextCopyAnswers) {
    SyncEngine engine({&host}, 1);
    auto tracker = std::make_shared<SyncTracker>();
    engine.markDirty(forward(), "k");  // a client's write: in flight
    engine.markDirty(forward(), "k", false, tracker);  // the backfill's mark lands during that copy
    answerRead(bulk(dumpPayload("1")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(tracker->left.load(), 1) << "the copy in flight may have read k before the backfill's mark";
    answerRead(bulk(dumpPayload("2")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(tracker->left.load(), 0);
}

TEST_F(SyncEngineTest, ATrackedKeyWaitsThroughRetriesAndCountsAsFailedOnceRefusedFiveTimes) {
    SyncEngine engine({&host}, 1);
    auto tracker = std::make_shared<SyncTracker>();
    engine.markDirty(forward(), "k", false, tracker);
    for (int attempt = 1; attempt <= 5; ++attempt) {
        SCOPED_TRACE(attempt);
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast("-ERR Bad data format\r\n");
        if (attempt < 5) {
            EXPECT_EQ(tracker->left.load(), 1);
            host.fireTimer();
        }
    }
    EXPECT_EQ(tracker->left.load(), 0);
    EXPECT_EQ(tracker->failed.load(), 1u);
    EXPECT_EQ(engine.backlog("old>new").keys, 1) << "the engine still owes the key";
    host.fireTimer();
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
    EXPECT_EQ(tracker->left.load(), 0) << "answered once";
}

TEST_F(SyncEngineTest, PendingCountsAKeyUnderThePairOfTheCopyItWaitsFor) {
    // A flip (old>new to new>old) dirties a key whose old>new copy is in flight: its next copy
    // goes new -> old, so a flip back must wait for it under "new>old".
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    engine.markDirty(backward(), "k");
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);  // the old>new copy is done; the new>old one is sent
    ASSERT_EQ(sent().sent.size(), 5u);
    EXPECT_EQ(sent().sent[3].backend, kNew);
    EXPECT_EQ(sent().sent[3].raw, command({"DUMP", "k"}));
    EXPECT_EQ(engine.pending("new>old"), 1) << "a new>old copy in flight is not counted under new>old";
    EXPECT_EQ(engine.pending("old>new"), 0) << "no old>new copy is queued or in flight";
    answerRead(bulk(dumpPayload("v2")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().backend, kOld);
    answerLast(kOk);
    EXPECT_EQ(engine.pending("new>old"), 0);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

// Sharding.
TEST_F(SyncEngineTest, AShardCopiesOneKeyAtATime) {
    SyncEngine engine({&host}, 1);
    engine.markDirty(forward(), "a");
    engine.markDirty(forward(), "b");
    EXPECT_EQ(sent().sent.size(), 2u);
    EXPECT_EQ(count(command({"DUMP", "b"})), 0u);

    answerRead(bulk(dumpPayload("a")), ":-1\r\n");
    EXPECT_EQ(count(command({"DUMP", "b"})), 0u) << "b's DUMP went out before a's copy finished";
    answerLast(kOk);
    EXPECT_EQ(sent().sent[3].raw, command({"DUMP", "b"}));
    answerRead(bulk(dumpPayload("b")), ":-1\r\n");
    answerLast(kOk);
}

TEST_F(SyncEngineTest, KeysOfDifferentShardsAreCopiedConcurrently) {
    SyncEngine engine({&host}, 2);
    auto shard = [](const std::string& k) { return XXH64(k.data(), k.size(), 0) % 2; };
    std::string a = "a", b = "b0";
    for (int i = 1; shard(b) == shard(a); ++i) b = "b" + std::to_string(i);
    engine.markDirty(forward(), a);
    engine.markDirty(forward(), b);
    EXPECT_EQ(rawsTo(kOld), (std::vector<std::string>{command({"DUMP", a}), command({"PTTL", a}), command({"DUMP", b}),
                                                     command({"PTTL", b})}));
    sent().answer(2, bulk(dumpPayload("b")));
    sent().answer(3, ":-1\r\n");
    answerLast(kOk);
    sent().answer(0, bulk(dumpPayload("a")));
    sent().answer(1, ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 0);
}

TEST_F(SyncEngineTest, MarkDirtyFromAnotherThreadRunsOnTheShardsThread) {
    SyncEngine engine({&host}, 4);
    host.current_thread = false;
    engine.markDirty(forward(), "k");
    EXPECT_TRUE(sent().sent.empty());
    EXPECT_EQ(host.posted.size(), 1u);
    host.runPosted();
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(stats.syncs.load(), 1u);
}

// Reloads: a key dirtied again under a new snapshot while its copy under the old one is in flight.
// The copy in flight uses the old snapshot's strategies, so the engine must keep that snapshot
// alive until the copy is done.
TEST_F(SyncEngineTest, KeepsAnInFlightCopysSnapshotAliveWhenAReloadRetasksItsKey) {
    SyncEngine engine({&host}, 4);
    auto taskFor = [&](std::shared_ptr<const Snapshot> snap) {
        SyncTask t;
        t.from = snap->routes()[0].strategy.get();  // route a: old
        t.to = snap->routes()[1].strategy.get();    // route b: new
        t.snapshot = std::move(snap);
        t.stats = &stats;
        t.pair = "old>new";
        return t;
    };
    auto before = testing::makeSnapshot(1);
    std::weak_ptr<const Snapshot> watch = before;
    engine.markDirty(taskFor(std::move(before)), "k");  // only the engine holds generation 1 now
    ASSERT_EQ(sent().sent.size(), 2u);

    engine.markDirty(taskFor(testing::makeSnapshot(2)), "k");  // after the reload
    EXPECT_FALSE(watch.expired()) << "the snapshot whose strategies the in-flight copy of k uses was freed";

    // Failing this copy keeps the test off freed memory either way: it touches no strategy.
    answerRead(kDownNew, kDownNew);
    ASSERT_EQ(sent().sent.size(), 4u);  // copied again under generation 2
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    EXPECT_EQ(sent().sent.back().raw, restoreReplace("k", "0", dumpPayload("v")));
    answerLast(kOk);
    EXPECT_TRUE(watch.expired());
    EXPECT_EQ(engine.pending("old>new"), 0);
}

}  // namespace
}  // namespace laminar::policy

namespace laminar::policy {
namespace {

TEST(SyncEngineCountTest, CountsAKeyAnnouncedToAnotherThreadBeforeThatThreadQueuesIt) {
    testing::FakeSyncHost host;
    host.current_thread = false;  // markDirty from another thread: the enqueue is posted
    SyncEngine engine({&host}, 1);
    SyncTask task;
    task.pair = "old>new";
    engine.markDirty(task, "k");
    EXPECT_EQ(engine.pending("old>new"), 1) << "a key in transit to its shard is pending";
}

TEST(SyncEngineCountTest, AReservedWriteCountsOnceWhateverHappensToItsKey) {
    testing::FakeSyncHost host;
    host.current_thread = false;
    SyncEngine engine({&host}, 1);
    SyncTask task;
    task.pair = "old>new";
    engine.reserve("old>new", 2);
    engine.markDirty(task, "k", true);
    engine.markDirty(task, "k", true);
    EXPECT_EQ(engine.pending("old>new"), 2);
}


// Hazard 7 (an outage longer than a retry): a key whose copy fails because the secondary is away
// is retried for as long as it takes, never given up, and sits in its pair's backlog meanwhile.
TEST_F(SyncEngineTest, AKeyWhoseSecondaryIsAwayIsRetriedUntilItComesBackAndIsNeverGivenUp) {
    SyncEngine engine({&host}, 4);
    engine.markDirty(forward(), "k");
    std::vector<std::chrono::milliseconds> delays;
    for (int attempt = 1; attempt <= 12; ++attempt) {
        SCOPED_TRACE(attempt);
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast(kDownNew, true);
        EXPECT_EQ(engine.pending("old>new"), 1);
        EXPECT_EQ(engine.backlog("old>new").keys, 1);
        ASSERT_EQ(host.timers.size(), 1u);
        delays.push_back(host.timers.front().delay);
        host.fireTimer();
    }
    EXPECT_EQ(stats.sync_failures.load(), 0u);
    EXPECT_EQ(delays.front(), std::chrono::milliseconds(100));
    EXPECT_EQ(delays.back(), SyncEngine::kMaxBackoff);  // doubling, then capped
    ASSERT_EQ(engine.backlogs().size(), 1u);
    EXPECT_EQ(engine.backlogs().front().first, "old>new");

    // Back: the next try copies it and the backlog is empty.
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(stats.syncs.load(), 1u);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
    EXPECT_TRUE(engine.backlogs().empty());
    EXPECT_TRUE(host.timers.empty());
}

// Reloads while a key waits for its retry: background copies are sent by backend index into the
// thread's current backends, so a key queued under the old configuration must never reach another
// backend that took its index.
std::shared_ptr<const Snapshot> snapshotWith(const std::string& backends, const std::string& strategy, uint64_t generation) {
    return std::make_shared<const Snapshot>(config::loadString("backends:\n" + backends + "routes:\n  - name: d\n    strategy: " + strategy + "\n",
                                                               "test.yaml"),
                                            generation);
}

SyncTask taskOf(const std::shared_ptr<const Snapshot>& snap) {
    SyncTask t;
    std::string why;
    EXPECT_TRUE(snap->routes()[0].strategy->backfillTask(t, why)) << why;
    t.snapshot = snap;
    t.stats = snap->routes()[0].stats.get();
    return t;
}

TEST_F(SyncEngineTest, AKeyQueuedBeforeAReloadThatGaveItsBackendsIndexToAnotherIsNotSentThere) {
    SyncEngine engine({&host}, 4);
    auto v1 = snapshotWith("  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n", "{type: dual_write, primary: old, secondary: new}", 1);
    host.current = v1;
    engine.markDirty(taskOf(v1), "k");
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kDownNew, true);
    ASSERT_EQ(engine.backlog("old>new").keys, 1);
    // The reload drops `new`; index 1 is now `other`, and nothing copies old>new any more.
    host.current = snapshotWith("  old: {address: 127.0.0.1:1}\n  other: {address: 127.0.0.1:3}\n", "old", 2);
    size_t before = sent().sent.size();
    ASSERT_TRUE(host.fireTimer());
    EXPECT_EQ(sent().sent.size(), before) << "the retry went to the backend that now holds index 1";
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
}

TEST_F(SyncEngineTest, AKeyQueuedBeforeAReloadThatReorderedTheBackendsFollowsThemByName) {
    SyncEngine engine({&host}, 4);
    auto v1 = snapshotWith("  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n", "{type: dual_write, primary: old, secondary: new}", 1);
    host.current = v1;
    engine.markDirty(taskOf(v1), "k");
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kDownNew, true);
    // Same backends and route, listed the other way round: old is index 1 now.
    host.current = snapshotWith("  new: {address: 127.0.0.1:2}\n  old: {address: 127.0.0.1:1}\n", "{type: dual_write, primary: old, secondary: new}", 2);
    size_t before = sent().sent.size();
    ASSERT_TRUE(host.fireTimer());
    ASSERT_EQ(sent().sent.size(), before + 2);
    EXPECT_EQ(sent().sent[before].backend, 1) << "DUMP must go to old, index 1 now";
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    ASSERT_EQ(sent().sent.size(), before + 3);
    EXPECT_EQ(sent().sent.back().backend, 0) << "RESTORE must go to new, index 0 now";
    answerLast(kOk);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
}

// The ledger (MigrationState on disk) hears of each key entering and leaving the backlog, once
// each however many retries it takes.
struct RecordingLedger final : SyncLedger {
    std::vector<std::string> events;
    void owe(const std::string& pair, std::string_view key) override { events.push_back("+" + pair + " " + std::string(key)); }
    void paid(const std::string& pair, std::string_view key) override { events.push_back("-" + pair + " " + std::string(key)); }
    void ahead(const std::string& pair, std::string_view key) override { events.push_back("W" + pair + " " + std::string(key)); }
    void settled(const std::string& pair, std::string_view key, int64_t units) override {
        events.push_back("d" + pair + " " + std::string(key) + " " + std::to_string(units));
    }
    void changed(const std::string& route, std::string_view key) override { events.push_back("changed " + route + " " + std::string(key)); }
};

TEST_F(SyncEngineTest, TheLedgerHearsOfAKeyOnceWhenItEntersTheBacklogAndOnceWhenItLeaves) {
    SyncEngine engine({&host}, 4);
    RecordingLedger ledger;
    engine.setLedger(&ledger);
    engine.markDirty(forward(), "k");
    for (int attempt = 0; attempt < 3; ++attempt) {
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast(kDownNew, true);
        host.fireTimer();
    }
    EXPECT_EQ(ledger.events, std::vector<std::string>{"+old>new k"});
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(ledger.events, (std::vector<std::string>{"+old>new k", "-old>new k"}));
    // A key copied at the first try never reaches the ledger.
    engine.markDirty(forward(), "j");
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(ledger.events.size(), 2u);
}

// Write-ahead: each write recorded before it was sent is one unit; the key's entry pays every unit
// it absorbed (marks during a copy in flight included) once no copy of the key is owed any more.
TEST_F(SyncEngineTest, UnitsRecordedAheadArePaidOnceTheKeyLeavesTheEngine) {
    SyncEngine engine({&host}, 1);
    EXPECT_FALSE(engine.writeAhead("old>new", "k")) << "no ledger: nothing recorded";
    RecordingLedger ledger;
    engine.setLedger(&ledger);
    ASSERT_TRUE(engine.writeAhead("old>new", "k"));
    engine.markDirty(forward(), "k", false, nullptr, true);  // in flight
    ASSERT_TRUE(engine.writeAhead("old>new", "k"));
    engine.markDirty(forward(), "k", false, nullptr, true);  // during the copy: copied again after it
    answerRead(bulk(dumpPayload("1")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(ledger.events, (std::vector<std::string>{"Wold>new k", "Wold>new k"})) << "the second write's copy is still owed";
    answerRead(bulk(dumpPayload("2")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(ledger.events, (std::vector<std::string>{"Wold>new k", "Wold>new k", "dold>new k 2"}));
}

TEST_F(SyncEngineTest, AKeyOwedByTheLastRunIsInTheBacklogAtOnceAndCopiedByTheRouteOfThatDirection) {
    SyncEngine engine({&host}, 4);
    auto snap = snapshotWith("  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n", "{type: dual_write, primary: old, secondary: new}", 1);
    host.current = snap;
    EXPECT_FALSE(engine.restore(snap, "new>old", "x")) << "no route copies new>old";
    ASSERT_TRUE(engine.restore(snap, "old>new", "k"));
    // Counted before the I/O thread runs: the guardrails at start see it.
    EXPECT_EQ(engine.backlog("old>new").keys, 1);
    EXPECT_EQ(engine.pending("old>new"), 1);
    host.runPosted();
    ASSERT_EQ(sent().sent.size(), 2u) << "DUMP and PTTL of the owed key";
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
    EXPECT_EQ(engine.backlog("old>new").keys, 0);
    EXPECT_EQ(engine.pending("old>new"), 0);
    EXPECT_TRUE(engine.heldKeys().empty());
}

TEST_F(SyncEngineTest, HeldKeysAreEveryKeyQueuedInFlightOrWaitingWithItsDirection) {
    SyncEngine engine({&host}, 1);
    engine.markDirty(forward(), "a");
    engine.markDirty(forward(), "b");  // queued behind a (one shard)
    auto held = engine.heldKeys();
    std::sort(held.begin(), held.end());
    EXPECT_EQ(held, (std::vector<std::pair<std::string, std::string>>{{"old>new", "a"}, {"old>new", "b"}}));
    for (int key = 0; key < 2; ++key) {
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast(kOk);
    }
    EXPECT_TRUE(engine.heldKeys().empty());
}

TEST_F(SyncEngineTest, TheFailureSummaryCountsEachDirectionsFailuresSinceTheLastOne) {
    SyncEngine engine({&host}, 4);
    EXPECT_TRUE(engine.takeFailureSummary(std::chrono::seconds(10)).empty()) << "no failure, no line";
    engine.markDirty(forward(), "k");
    for (int attempt = 0; attempt < 3; ++attempt) {
        answerRead(bulk(dumpPayload("v")), ":-1\r\n");
        answerLast(kDownNew, true);
        host.fireTimer();
    }
    auto lines = engine.takeFailureSummary(std::chrono::seconds(10));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("sync old>new: in the last 10 s, 3 copies failed for a side that was away and will be retried, 0 copies were "
                             "refused by the other side (retried with backoff up to 30 s); backlog 1 keys, oldest ",
                             0),
              0u)
        << lines[0];
    EXPECT_TRUE(engine.takeFailureSummary(std::chrono::seconds(10)).empty()) << "the counts start again";
    answerRead(bulk(dumpPayload("v")), ":-1\r\n");
    answerLast(kOk);
}

TEST(TransientErrors, AwayIsTransientARefusalIsNot) {
    EXPECT_TRUE(backend::isTransientError(backend::unavailableError("new", "connection refused")));
    EXPECT_TRUE(backend::isTransientError(backend::timeoutError("new", 1000)));
    EXPECT_TRUE(backend::isTransientError("-LOADING Redis is loading the dataset in memory\r\n"));
    EXPECT_TRUE(backend::isTransientError("-BUSY Redis is busy running a script.\r\n"));
    EXPECT_TRUE(backend::isTransientError("-MASTERDOWN Link with MASTER is down\r\n"));
    EXPECT_FALSE(backend::isTransientError("-ERR Bad data format\r\n"));
    EXPECT_FALSE(backend::isTransientError("-BUSYKEY Target key name already exists.\r\n"));
    EXPECT_FALSE(backend::isTransientError("-ERR laminar: 'hset' is not supported by memcached backend 'mc'\r\n"));
}

}  // namespace
}  // namespace laminar::policy

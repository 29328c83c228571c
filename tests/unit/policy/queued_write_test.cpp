// SPDX-License-Identifier: Apache-2.0
// Queued write (src/policy/queued_write.cpp), case by case as its header states them: reads on
// primary; ack: primary runs the write there and journals its keys for the queued backends;
// ack: queued journals a fixed-reply write for every target and answers +OK; a full queue
// rejects, blocks or runs the write synchronously. The queue is a real WriteQueue in a temporary
// directory; its I/O thread is a FakeSyncHost whose posted work the test runs, and the records
// the queue applies go to that host's FakeDispatch.
#include "policy/queued_write.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "policy/route_stats.h"
#include "policy/write_queue.h"
#include "queue/frame.h"
#include "queue/record.h"
#include "support/config_error.h"
#include "support/temp_dir.h"
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h

namespace laminar::policy {
namespace {

using testing::ClientSink;
using testing::Cmd;
using testing::command;
using testing::kNew;
using testing::kOk;
using testing::kOld;

using WhenFull = config::QueueConfig::WhenFull;

// 2026-01-01T00:00:00Z, in ms: what the test's clock says.
constexpr int64_t kNowMs = 1'767'225'600'000;

class QueuedWriteTest : public ::testing::Test {
protected:
    QueuedWriteTest() { env.clock.set(std::chrono::system_clock::time_point(std::chrono::milliseconds(kNowMs))); }
    ~QueuedWriteTest() override {
        if (queue) queue->flushBatch();  // the batch is per thread: none is left for the next test
    }

    // Opens a 1 MiB queue over backends old and new (both its targets).
    void open(WhenFull when_full = WhenFull::kReject, std::chrono::milliseconds block_timeout = std::chrono::milliseconds(5000)) {
        auto queue_cfg = testing::twoBackends();
        queue_cfg.queue.dir = dir.path().string();
        queue_cfg.queue.max_bytes = 1 << 20;
        queue_cfg.queue.when_full = when_full;
        queue_cfg.queue.block_timeout = block_timeout;
        std::string error;
        queue = WriteQueue::open(queue_cfg, host, [snap = snapshot] { return snap; }, error);
        ASSERT_TRUE(queue) << error;
        env.ctx.host = &host;
        env.ctx.queue = queue.get();
        env.ctx.stats = &stats;
    }
    std::unique_ptr<Strategy> build(const std::string& yaml) { return testing::buildStrategy(yaml, cfg); }
    std::string buildError(const std::string& yaml) { return laminar::testing::configError([&] { build(yaml); }); }
    void run(const Strategy& s, const Cmd& c, ClientSink& client) { s.execute(c.request(), &client, env.ctx); }

    // Fills the queue with records for both targets to max_bytes exactly, so it has no room.
    void fill() {
        const std::vector<std::string> both = {"old", "new"};
        auto filler = [](size_t value_bytes) { return command({"SET", "filler", std::string(value_bytes, 'x')}); };
        // What a record takes of max_bytes: its frame header and the record.
        auto cost = [&](const std::string& resp) { return laminar::queue::kFrameHeaderBytes + laminar::queue::encodeCommandRecord(both, resp).size(); };
        int appended = 0;
        while (queue->appendCommand(both, filler(100 * 1024)) != 0) ASSERT_LT(++appended, 100);
        for (int i = 0; i < 10; ++i) {
            uint64_t left = queue->config().max_bytes - queue->status().bytes;
            if (left < cost(filler(0))) break;
            size_t v = left - cost(filler(0));
            while (v > 0 && cost(filler(v)) > left) --v;  // the value's length has digits too
            ASSERT_NE(queue->appendCommand(both, filler(v)), 0u);
        }
        ASSERT_EQ(queue->status().bytes, queue->config().max_bytes);
        ASSERT_FALSE(queue->hasRoom());
    }
    uint64_t appended() { return queue->status().appended; }
    // A key record for new alone: applying it reads the key's state on old (DUMP, PTTL), once.
    void expectKeyCopiedToNewOnly(const std::string& key) {
        EXPECT_EQ(applied(kOld), (std::vector<std::string>{command({"DUMP", key}), command({"PTTL", key})}))
            << "the key's state is read on primary, once: old is no target of its own keys";
        EXPECT_TRUE(host.dispatch.rawTo(kNew).empty()) << "nothing reaches new before primary's state is in";
    }
    // The queue's thread applies what it can: its records go out on host.dispatch.
    std::vector<std::string> applied(int backend) {
        host.runPosted();
        return host.dispatch.rawTo(backend);
    }

    config::Config cfg = testing::twoBackends();
    laminar::testing::TempDir dir;
    std::shared_ptr<const Snapshot> snapshot = testing::makeSnapshot();
    testing::FakeSyncHost host;
    testing::FakeEnv env;
    RouteStats stats;
    std::unique_ptr<WriteQueue> queue;  // last: it uses the host
};

const std::string kPrimary = "{type: queued_write, primary: old, queued: [new]}";
const std::string kAckQueued = "{type: queued_write, primary: old, queued: [new], ack: queued}";

// 1
TEST_F(QueuedWriteTest, AReadGoesToPrimaryOnlyAndNeedsNoQueue) {
    auto s = build(kPrimary);
    ClientSink client;
    Cmd get({"GET", "k"});
    run(*s, get, client);
    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[0].raw, get.raw);
    env.client.answer(0, "$1\r\nv\r\n");
    EXPECT_EQ(client.reply, "$1\r\nv\r\n");
}

TEST_F(QueuedWriteTest, AWriteWithoutAnOpenQueueIsRefusedNamingTheRoute) {
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_EQ(client.reply, "-ERR laminar: route 'r' needs the write queue, which is not open (see the log)\r\n");
    EXPECT_FALSE(client.failed);
}

TEST_F(QueuedWriteTest, ABackendTheQueueDoesNotKnowIsRefusedUntilARestart) {
    open();
    cfg = config::loadString(
        "backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n  extra: {address: 127.0.0.1:3}\n"
        "routes:\n  - name: r\n    strategy: old\n",
        "test.yaml");
    auto s = build("{type: queued_write, primary: old, queued: [extra]}");
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_EQ(client.reply, "-ERR laminar: backend 'extra' is not a write queue target yet: restart laminar to add it\r\n");
}

// 2
TEST_F(QueuedWriteTest, AckPrimaryRunsTheWriteOnPrimaryAndJournalsItsKeysForTheQueuedOnes) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    Cmd set({"SET", "k", "v", "EX", "10"});
    run(*s, set, client);
    ASSERT_EQ(env.client.sent.size(), 1u);
    EXPECT_EQ(env.client.sent[0].backend, kOld);
    EXPECT_EQ(env.client.sent[0].raw, set.raw) << "primary runs the command as the client sent it";
    EXPECT_EQ(queue->status().appended, 0u) << "nothing is journaled before primary has run it";
    EXPECT_FALSE(client.reply.has_value());

    env.client.answer(0, kOk);
    EXPECT_EQ(client.reply, kOk);
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(queue->status().appended, 1u);
    EXPECT_EQ(appended(), 1u);
    EXPECT_EQ(stats.queued.load(), 1u);
}

// 2: the queue copies the key's state from primary when it applies the record.
TEST_F(QueuedWriteTest, AckPrimaryKeysAreCopiedFromPrimaryWhenApplied) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, kOk);
    expectKeyCopiedToNewOnly("k");
}

// 2
TEST_F(QueuedWriteTest, AckPrimaryJournalsTheKeysEvenAfterAnErrorReply) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    EXPECT_EQ(client.reply, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    EXPECT_EQ(appended(), 1u);
    expectKeyCopiedToNewOnly("k");
}

// 2
TEST_F(QueuedWriteTest, AckPrimaryJournalsAfterALaminarFailureTooAndPassesItOn) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, testing::kDownOld, true);
    EXPECT_EQ(client.reply, testing::kDownOld);
    EXPECT_TRUE(client.failed);
    EXPECT_EQ(appended(), 1u) << "a timeout may hide an applied write";
    expectKeyCopiedToNewOnly("k");
}

// 5
TEST_F(QueuedWriteTest, AWriteWithoutKeysRunsOnPrimaryThenIsJournaledAsACommand) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    Cmd flush({"FLUSHALL"});
    run(*s, flush, client);
    ASSERT_EQ(env.client.rawTo(kOld), std::vector<std::string>{flush.raw});
    env.client.answer(0, kOk);
    EXPECT_EQ(client.reply, kOk);
    EXPECT_EQ(appended(), 1u);
    EXPECT_EQ(applied(kNew), std::vector<std::string>{flush.raw}) << "the command itself is applied to new";
    EXPECT_TRUE(host.dispatch.rawTo(kOld).empty());
}

// 5
TEST_F(QueuedWriteTest, AWriteWithoutKeysThatPrimaryRefusedIsNotJournaled) {
    open();
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"FLUSHALL"}), client);
    env.client.answer(0, "-ERR unknown command 'FLUSHALL'\r\n");
    EXPECT_EQ(client.reply, "-ERR unknown command 'FLUSHALL'\r\n");
    EXPECT_EQ(queue->status().appended, 0u);
}

// 3
TEST_F(QueuedWriteTest, AckQueuedJournalsAFixedReplyWriteForEveryTargetAndAnswersOk) {
    open();
    auto s = build(kAckQueued);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v", "EX", "10"}), client);
    EXPECT_TRUE(env.client.sent.empty()) << "primary gets it through the queue";
    queue->flushBatch();  // as the I/O thread does once it has handled what it read
    EXPECT_EQ(client.reply, kOk);
    EXPECT_FALSE(client.failed);
    EXPECT_EQ(stats.queued.load(), 1u);

    auto journaled = command({"SET", "k", "v", "PXAT", std::to_string(kNowMs + 10'000)});
    EXPECT_EQ(applied(kOld), std::vector<std::string>{journaled}) << "the expiry is made absolute";
    EXPECT_EQ(host.dispatch.rawTo(kNew), std::vector<std::string>{journaled});
}

// 3
TEST_F(QueuedWriteTest, AckQueuedAnswersOnlyOnceTheBatchIsWritten) {
    open();
    auto s = build(kAckQueued);
    ClientSink first, second;
    run(*s, Cmd({"SET", "a", "1"}), first);
    run(*s, Cmd({"MSET", "b", "2", "c", "3"}), second);
    EXPECT_FALSE(first.reply.has_value());
    EXPECT_FALSE(second.reply.has_value());
    EXPECT_EQ(queue->status().appended, 0u);
    queue->flushBatch();
    EXPECT_EQ(first.reply, kOk);
    EXPECT_EQ(second.reply, kOk);
    EXPECT_EQ(queue->status().appended, 2u);
    EXPECT_EQ(applied(kNew), (std::vector<std::string>{command({"SET", "a", "1"}), command({"MSET", "b", "2", "c", "3"})})) << "in order";
}

// 3: a write whose reply depends on the data runs on primary, as in case 2.
TEST_F(QueuedWriteTest, AckQueuedRunsAWriteWhoseReplyDependsOnTheDataOnPrimary) {
    open();
    auto s = build(kAckQueued);
    ClientSink client;
    Cmd incr({"INCR", "n"});
    run(*s, incr, client);
    ASSERT_EQ(env.client.rawTo(kOld), std::vector<std::string>{incr.raw}) << "nothing was queued before it: it runs at once";
    env.client.answer(0, ":5\r\n");
    EXPECT_EQ(client.reply, ":5\r\n");
    EXPECT_EQ(appended(), 1u);
    expectKeyCopiedToNewOnly("n");
}

// 3: it cannot overtake the commands queued before it.
TEST_F(QueuedWriteTest, AckQueuedHoldsAWriteThroughUntilPrimaryHasAppliedWhatWasQueuedBefore) {
    open();
    auto s = build(kAckQueued);
    ClientSink set, incr;
    run(*s, Cmd({"SET", "n", "1"}), set);
    queue->flushBatch();
    EXPECT_EQ(set.reply, kOk);
    run(*s, Cmd({"INCR", "n"}), incr);
    host.runPosted();
    EXPECT_TRUE(env.client.sent.empty()) << "SET n 1 is not applied on primary yet";
    EXPECT_FALSE(incr.reply.has_value());
    EXPECT_EQ(host.dispatch.rawTo(kOld), std::vector<std::string>{command({"SET", "n", "1"})});
}

// 3
TEST_F(QueuedWriteTest, AckQueuedSetWithAConditionIsNotAFixedReply) {
    open();
    auto s = build(kAckQueued);
    ClientSink client;
    Cmd setnx({"SET", "k", "v", "NX"});
    run(*s, setnx, client);
    queue->flushBatch();
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{setnx.raw});
    EXPECT_FALSE(client.reply.has_value()) << "the reply is primary's";
    env.client.answer(0, "$-1\r\n");
    EXPECT_EQ(client.reply, "$-1\r\n");
}

// 4
TEST_F(QueuedWriteTest, AFullQueueRejectsAWriteNamingTheQueueAndTheRoute) {
    open(WhenFull::kReject);
    fill();
    uint64_t rejected_by_fill = queue->status().rejected;
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_TRUE(env.client.sent.empty()) << "rejected before primary runs it";
    EXPECT_EQ(client.reply,
              "-ERR laminar: the write queue is full (queue.max_bytes: 1048576 bytes not applied yet), route 'r' refuses writes until it drains\r\n");
    EXPECT_EQ(queue->status().rejected, rejected_by_fill + 1);
    EXPECT_EQ(stats.queue_rejects.load(), 1u);
}

// 4
TEST_F(QueuedWriteTest, AFullQueueRejectsAnAckQueuedWriteToo) {
    open(WhenFull::kReject);
    fill();
    auto s = build(kAckQueued);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    queue->flushBatch();
    EXPECT_EQ(client.reply,
              "-ERR laminar: the write queue is full (queue.max_bytes: 1048576 bytes not applied yet), route 'r' refuses writes until it drains\r\n");
    EXPECT_TRUE(env.client.sent.empty());
}

// 4: laminar_queue_rejected_total counts writes refused, each once.
TEST_F(QueuedWriteTest, AnAckQueuedWriteRefusedAsFullCountsOnceAsRejected) {
    open(WhenFull::kReject);
    fill();
    uint64_t before = queue->status().rejected;
    auto s = build(kAckQueued);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    queue->flushBatch();
    ASSERT_TRUE(client.reply.has_value());
    EXPECT_EQ(queue->status().rejected, before + 1);
    EXPECT_EQ(stats.queue_rejects.load(), 1u);
}

// 4: a write that ran on primary instead was not refused.
TEST_F(QueuedWriteTest, AWriteWhenFullSyncRanOnPrimaryIsNotCountedAsRejected) {
    open(WhenFull::kSync);
    fill();
    uint64_t before = queue->status().rejected;
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    env.client.answer(0, kOk);
    EXPECT_EQ(client.reply, kOk);
    EXPECT_EQ(queue->status().rejected, before);
}

// 4: nor is an ack: queued write that found no room and runs through primary instead.
TEST_F(QueuedWriteTest, AnAckQueuedWriteWhenFullSyncIsNotCountedAsRejected) {
    open(WhenFull::kSync);
    fill();
    uint64_t before = queue->status().rejected;
    auto s = build(kAckQueued);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    queue->flushBatch();
    EXPECT_EQ(queue->status().rejected, before);
    EXPECT_EQ(stats.queue_rejects.load(), 0u);
}

// 4
TEST_F(QueuedWriteTest, WhenFullSyncRunsTheWriteOnPrimaryAndStillJournalsItsKeys) {
    open(WhenFull::kSync);
    fill();
    auto s = build(kPrimary);
    ClientSink client;
    Cmd set({"SET", "k", "v"});
    run(*s, set, client);
    ASSERT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    uint64_t before = queue->status().appended;
    env.client.answer(0, kOk);
    EXPECT_EQ(client.reply, kOk);
    EXPECT_EQ(queue->status().appended, before + 1) << "a key record may go a quarter over max_bytes";
    EXPECT_EQ(queue->status().targets.at("new").undelivered, 0u);
}

// 4, then 3: an ack: queued write that found no room runs through primary, after what was queued.
TEST_F(QueuedWriteTest, WhenFullSyncRunsAnAckQueuedWriteOnPrimaryAfterTheQueuedCommands) {
    open(WhenFull::kSync);
    fill();
    auto s = build(kAckQueued);
    ClientSink client;
    Cmd set({"SET", "k", "v"});
    run(*s, set, client);
    queue->flushBatch();
    EXPECT_FALSE(client.reply.has_value());
    host.runPosted();
    EXPECT_TRUE(env.client.sent.empty()) << "the filler queued for primary goes first";
    EXPECT_FALSE(host.dispatch.rawTo(kOld).empty());
}

// 4
TEST_F(QueuedWriteTest, WhenFullBlockWaitsForRoomThenRuns) {
    open(WhenFull::kBlock);
    fill();
    auto s = build(kPrimary);
    ClientSink client;
    Cmd set({"SET", "k", "v"});
    run(*s, set, client);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_FALSE(client.reply.has_value());
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(host.timers.front().delay, std::chrono::milliseconds(10));
    auto retry = std::move(host.timers.front().fn);
    host.timers.pop_front();
    retry();  // still full: it waits again
    EXPECT_TRUE(env.client.sent.empty());
    ASSERT_EQ(host.timers.size(), 1u);
    retry = std::move(host.timers.front().fn);
    host.timers.pop_front();

    // The queue drains: both targets apply every record.
    host.runPosted();
    for (int round = 0; round < 10 && host.dispatch.unanswered(); ++round) {
        host.dispatch.answerAll(kOld, kOk);
        host.dispatch.answerAll(kNew, kOk);
        host.runPosted();
    }
    ASSERT_TRUE(queue->hasRoom());
    retry();
    EXPECT_EQ(env.client.rawTo(kOld), std::vector<std::string>{set.raw});
    env.client.answer(0, kOk);
    EXPECT_EQ(client.reply, kOk);
}

// 4
TEST_F(QueuedWriteTest, WhenFullBlockRejectsOnceBlockTimeoutHasPassed) {
    open(WhenFull::kBlock, std::chrono::milliseconds(0));
    fill();
    auto s = build(kPrimary);
    ClientSink client;
    run(*s, Cmd({"SET", "k", "v"}), client);
    EXPECT_TRUE(env.client.sent.empty());
    EXPECT_EQ(client.reply,
              "-ERR laminar: the write queue is full (queue.max_bytes: 1048576 bytes not applied yet), route 'r' refuses writes until it drains\r\n");
}

TEST_F(QueuedWriteTest, AWriteInsideMultiJournalsItsKeyAfterwards) {
    open();
    auto s = build(kPrimary);
    s->afterPinnedWrite("k", env.ctx);
    EXPECT_EQ(appended(), 1u);
    expectKeyCopiedToNewOnly("k");
}

TEST_F(QueuedWriteTest, PinsOnPrimaryAndWritesReachEveryQueuedBackend) {
    auto s = build(kPrimary);
    EXPECT_EQ(s->type(), "queued_write");
    EXPECT_EQ(s->pinTarget(), kOld);
    Cmd set({"SET", "k", "v"});
    std::vector<int> reads, writes;
    s->targets(set.request(), env.ctx, false, reads);
    s->targets(set.request(), env.ctx, true, writes);
    EXPECT_EQ(reads, std::vector<int>{kOld});
    EXPECT_EQ(writes, (std::vector<int>{kOld, kNew}));
}

TEST_F(QueuedWriteTest, DescribesPrimaryQueuedAndAck) {
    EXPECT_EQ(build(kPrimary)->describe(), "queued_write(primary=old, queued=[new], ack=primary)");
    EXPECT_EQ(build(kAckQueued)->describe(), "queued_write(primary=old, queued=[new], ack=queued)");
}

// 6
TEST_F(QueuedWriteTest, QueuedMustListOtherBackendsOnceEach) {
    EXPECT_EQ(buildError("{type: queued_write, primary: old}"),
              "test.yaml:1: routes[0].strategy.queued: must be a list of one or more backend names");
    EXPECT_EQ(buildError("{type: queued_write, primary: old, queued: []}"),
              "test.yaml:1: routes[0].strategy.queued: must be a list of one or more backend names");
    EXPECT_EQ(buildError("{type: queued_write, primary: old, queued: [old]}"),
              "test.yaml:1: routes[0].strategy.queued[0]: 'old' is the primary already");
    EXPECT_EQ(buildError("{type: queued_write, primary: old, queued: [new, new]}"),
              "test.yaml:1: routes[0].strategy.queued[1]: 'new' is listed twice");
    EXPECT_EQ(buildError("{type: queued_write, primary: old, queued: [nope]}"), "test.yaml:1: routes[0].strategy.queued[0]: unknown backend 'nope'");
    EXPECT_TRUE(laminar::testing::failsWithConfigError([&] { build("{type: queued_write, primary: old, queued: [new], ack: later}"); }, "ack"));
}

}  // namespace
}  // namespace laminar::policy

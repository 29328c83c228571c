// SPDX-License-Identifier: Apache-2.0
// Invalidations, CLIENT TRACKING's table: who is told what when a key changes, in each mode.
#include "net/invalidations.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace laminar::net {
namespace {

// What was delivered, per target: each delivery's keys joined by ",", or "*" for a flush.
struct Sent {
    std::map<uint64_t, std::vector<std::string>> to;
    std::map<uint64_t, int> worker;
};

Invalidations::Mode bcast(std::vector<std::string> prefixes = {}) {
    Invalidations::Mode m;
    m.bcast = true;
    m.prefixes = std::move(prefixes);
    return m;
}
Invalidations::Mode noloop() {
    Invalidations::Mode m;
    m.noloop = true;
    return m;
}
Invalidations::Mode redirect(uint64_t target, int worker) {
    Invalidations::Mode m;
    m.redirect = target;
    m.redirect_worker = worker;
    return m;
}

class InvalidationsTest : public ::testing::Test {
protected:
    explicit InvalidationsTest(size_t max_keys = Invalidations::kDefaultMaxKeys) : inv(max_keys) {
        inv.setDeliver([this](int worker, uint64_t target, std::shared_ptr<const std::vector<std::string>> keys) {
            std::string what = "*";
            if (keys) {
                what.clear();
                for (const auto& k : *keys) what += (what.empty() ? "" : ",") + k;
            }
            sent.to[target].push_back(what);
            sent.worker[target] = worker;
        });
        inv.setFeedsUp(true);
    }
    Invalidations inv;
    Sent sent;
};

TEST_F(InvalidationsTest, AReadKeyIsInvalidatedOnceThenForgotten) {
    inv.enable(1, 0, {});
    inv.enable(2, 1, {});
    inv.remember(1, "k");
    inv.remember(2, "k");
    inv.remember(1, "k");  // twice read, once told
    EXPECT_EQ(inv.trackedKeys(), 1u);
    inv.changed("k", 0);
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"k"});
    EXPECT_EQ(sent.to[2], std::vector<std::string>{"k"});
    EXPECT_EQ(sent.worker[2], 1);
    inv.changed("k", 0);
    EXPECT_EQ(sent.to[1].size(), 1u);
    EXPECT_EQ(inv.trackedKeys(), 0u);
}

TEST_F(InvalidationsTest, NoloopSkipsTheWritersOwnChangeOnly) {
    inv.enable(1, 0, noloop());
    inv.remember(1, "a");
    inv.remember(1, "b");
    inv.changed("a", 1);
    inv.changed("b", 2);
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"b"});
}

TEST_F(InvalidationsTest, BcastMatchesPrefixesAndAddsThemUp) {
    inv.enable(1, 0, bcast({"user:"}));
    inv.enable(1, 0, bcast({"job:"}));
    inv.enable(2, 0, bcast());  // no prefix: every key
    std::vector<std::string> keys{"user:1", "job:2", "other"};
    inv.changed(keys, 0);
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"user:1,job:2"});
    EXPECT_EQ(sent.to[2], std::vector<std::string>{"user:1,job:2,other"});
}

TEST_F(InvalidationsTest, RedirectSendsToTheTargetOnItsThread) {
    inv.enable(1, 0, redirect(9, 3));
    inv.remember(1, "k");
    inv.changed("k", 0);
    inv.flush(1);
    EXPECT_TRUE(sent.to[1].empty());
    EXPECT_EQ(sent.to[9], (std::vector<std::string>{"k", "*"}));
    EXPECT_EQ(sent.worker[9], 3);
}

TEST_F(InvalidationsTest, ADisabledClientIsToldNothing) {
    inv.enable(1, 0, {});
    EXPECT_TRUE(inv.active());
    inv.remember(1, "k");
    inv.disable(1);
    EXPECT_FALSE(inv.active());
    inv.changed("k", 0);
    inv.flushAll();
    EXPECT_TRUE(sent.to.empty());
}

TEST_F(InvalidationsTest, FlushAllTellsEveryClientOnceAndForgetsEveryKey) {
    inv.enable(1, 0, {});
    inv.enable(2, 0, bcast());
    inv.remember(1, "k");
    inv.flushAll();
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"*"});
    EXPECT_EQ(sent.to[2], std::vector<std::string>{"*"});
    EXPECT_EQ(inv.trackedKeys(), 0u);
}

// While a change feed is down a change may go unseen: a client that read meanwhile, or started
// BCAST, gets a flush once the feeds are up again; one that did nothing does not.
TEST_F(InvalidationsTest, WhatWasCachedWhileAFeedWasDownIsFlushedWhenItIsUp) {
    inv.setFeedsUp(false);
    inv.enable(1, 0, {});
    inv.enable(2, 0, {});
    inv.enable(3, 0, bcast());
    inv.remember(1, "k");
    EXPECT_TRUE(sent.to.empty());
    inv.setFeedsUp(true);
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"*"});
    EXPECT_TRUE(sent.to[2].empty());
    EXPECT_EQ(sent.to[3], std::vector<std::string>{"*"});
    inv.setFeedsUp(true);  // no change: nothing more
    EXPECT_EQ(sent.to[1].size(), 1u);
}

TEST_F(InvalidationsTest, AScheduledMoveIsSetOncePerKey) {
    inv.enable(1, 0, {});
    inv.remember(1, "k");
    EXPECT_TRUE(inv.scheduleMove("k"));
    EXPECT_FALSE(inv.scheduleMove("k"));
    inv.moved("k");
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"k"});
    EXPECT_TRUE(inv.scheduleMove("k"));
}

class SmallInvalidationsTest : public InvalidationsTest {
protected:
    SmallInvalidationsTest() : InvalidationsTest(2) {}
};

// Past max_keys, keys are invalidated to make room, as Redis does past tracking-table-max-keys.
TEST_F(SmallInvalidationsTest, TheTableIsBoundedByInvalidatingKeys) {
    inv.enable(1, 0, {});
    inv.remember(1, "a");
    inv.remember(1, "b");
    inv.remember(1, "c");
    EXPECT_EQ(inv.trackedKeys(), 2u);
    EXPECT_EQ(sent.to[1].size(), 1u);
}

// A sink that records its one reply.
struct Recorder final : backend::ReplySink {
    std::string got;
    void complete(std::string_view raw, bool) override { got.assign(raw); }
};

TEST_F(InvalidationsTest, LaminarsOwnWritesAreAnnouncedOnceAnswered) {
    inv.enable(1, 0, {});
    inv.remember(1, "k");
    Recorder r;
    backend::ReplySink* read = announceChanges(inv, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &r);
    EXPECT_EQ(read, &r);  // a read: passed through
    backend::ReplySink* write = announceChanges(inv, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", &r);
    ASSERT_NE(write, &r);
    EXPECT_TRUE(sent.to[1].empty());
    write->complete("+OK\r\n", false);  // deletes itself
    EXPECT_EQ(r.got, "+OK\r\n");
    EXPECT_EQ(sent.to[1], std::vector<std::string>{"k"});
}

}  // namespace
}  // namespace laminar::net

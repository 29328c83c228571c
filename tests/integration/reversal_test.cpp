// SPDX-License-Identifier: Apache-2.0
// The reverse gear, per strategy: move a route forward, write, move it back (and forward again),
// and every value written at any point is still readable through laminar with its last value.
// ("Have a reverse migration strategy, and try not to use it.")
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class ReversalTest : public ::testing::Test {
protected:
    void start(const std::string& routes) {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes));
        c_ = std::make_unique<Client>(lam_->port());
    }
    // Rewrites the file and reloads; LAMINAR RELOAD answers once this client's thread has it.
    void flip(const std::string& routes) {
        lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(), routes));
        ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    }
    // The runbook's backfill of a route, until it says done.
    void backfill(const std::string& route) {
        ASSERT_EQ(show(c_->cmd({"LAMINAR", "BACKFILL", "START", route, "RATE", "5000", "RECONCILE"})), "+OK");
        ASSERT_TRUE(waitFor([&] { return show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", route})).find("done") != std::string::npos; }, 20s))
            << show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", route}));
    }
    // Writes through laminar and remembers the value as the key's last.
    void set(const std::string& key, const std::string& value) {
        EXPECT_EQ(show(c_->cmd({"SET", key, value})), "+OK") << key;
        want_[key] = "$" + value;
    }
    void incr(const std::string& key) {
        auto r = c_->cmd({"INCR", key});
        long long expect = counters_[key] + 1;
        EXPECT_EQ(show(r), cat(":", expect)) << key << ": a counter restarted or lost increments across the flip";
        counters_[key] = r.type == REDIS_REPLY_INTEGER ? r.integer : expect;
        want_[key] = cat("$", counters_[key]);
    }
    void rpush(const std::string& key, const std::string& item) {
        auto& list = lists_[key];
        list.push_back(item);
        EXPECT_EQ(show(c_->cmd({"RPUSH", key, item})), cat(":", list.size())) << key;
    }
    // Every value written so far, read back through laminar; one line per key that is wrong.
    std::vector<std::string> unreadable(const std::string& when) {
        std::vector<std::string> out;
        for (const auto& [k, v] : want_) {
            auto got = show(c_->cmd({"GET", k}));
            if (got != v) out.push_back(cat(when, ": ", k, " reads ", got, ", last written ", v));
        }
        for (const auto& [k, items] : lists_) {
            std::string v = "[";
            for (size_t i = 0; i < items.size(); ++i) v += (i ? ", $" : "$") + items[i];
            v += "]";
            auto got = show(c_->cmd({"LRANGE", k, "0", "-1"}));
            if (got != v) out.push_back(cat(when, ": ", k, " reads ", got, ", written ", v));
        }
        return out;
    }
    void expectAllReadable(const std::string& when) {
        auto bad = unreadable(when);
        EXPECT_TRUE(bad.empty()) << firstLines(bad, 20);
    }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
    std::unique_ptr<Client> c_;
    std::map<std::string, std::string> want_;
    std::map<std::string, long long> counters_;
    std::map<std::string, std::vector<std::string>> lists_;
};

// ------------------------------------------------------------------ proxy

// A proxy moves no data: the cold copy (docs/design.md) is read_only (freeze), copy, proxy to the
// other side, and the same steps back.
TEST_F(ReversalTest, ProxyOldToNewAndBackThroughAFreezeAndACopy) {
    auto carts = [](const std::string& body) { return route("carts", "cart:*", body); };
    start(carts("strategy: {type: proxy, target: old}"));
    set("cart:a", "written-on-old");
    set("cart:shared", "v1");
    incr("cart:n");

    flip(carts("strategy: {type: read_only, target: old}"));
    EXPECT_EQ(show(c_->cmd({"SET", "cart:frozen", "x"})), "-READONLY laminar: route 'carts' is read-only");
    expectAllReadable("frozen on old");
    copyKeys(old_.port(), new_.port(), allKeys(old_.port(), "cart:*"));

    flip(carts("strategy: {type: proxy, target: new}"));
    expectAllReadable("proxy to new");
    set("cart:b", "written-on-new");
    set("cart:shared", "v2");
    incr("cart:n");

    flip(carts("strategy: {type: read_only, target: new}"));
    expectAllReadable("frozen on new");
    copyKeys(new_.port(), old_.port(), allKeys(new_.port(), "cart:*"));

    flip(carts("strategy: {type: proxy, target: old}"));
    expectAllReadable("back on old");
    set("cart:c", "written-on-old-again");
    incr("cart:n");
    expectAllReadable("after writing on old again");
    EXPECT_EQ(show(c_->cmd({"EXISTS", "cart:frozen"})), ":0");
}

// ------------------------------------------------------------------ dual_lookup

TEST_F(ReversalTest, DualLookupSwapAndBackKeepsEveryKeyReadable) {
    auto profiles = [](const char* first, const char* second) {
        return route("profiles", "profile:*",
                     cat("strategy: {type: dual_lookup, first: ", first, ", second: ", second, ", writes: first, warm: true}"));
    };
    Client(old_.port()).cmd({"SET", "profile:pre", "was-on-old"});
    want_["profile:pre"] = "$was-on-old";
    Client(old_.port()).cmd({"SET", "profile:doomed", "x"});
    start(profiles("new", "old"));
    expectAllReadable("forward, before writing");
    set("profile:a", "a-on-new");
    rpush("profile:list-a", "a1");

    flip(profiles("old", "new"));
    expectAllReadable("swapped");
    set("profile:b", "b-on-old");
    rpush("profile:list-b", "b1");
    EXPECT_EQ(show(c_->cmd({"DEL", "profile:doomed"})), ":1");

    flip(profiles("new", "old"));
    expectAllReadable("swapped back");
    set("profile:c", "c-on-new");
    expectAllReadable("swapped back, after writing");
    EXPECT_EQ(show(c_->cmd({"GET", "profile:doomed"})), "(nil)") << "a deleted key came back through the fallback";
}

// With writes: first, an overwrite made while the route is swapped goes to old only; new keeps
// the value from before. Swapping back must not make that stale copy the answer again.
TEST_F(ReversalTest, DualLookupWithWritesBothKeepsOverwritesAcrossSwaps) {
    auto profiles = [](const char* first, const char* second) {
        return route("profiles", "profile:*", cat("strategy: {type: dual_lookup, first: ", first, ", second: ", second, ", writes: both}"));
    };
    start(profiles("new", "old"));
    set("profile:k", "v1");
    flip(profiles("old", "new"));
    set("profile:k", "v2");
    set("profile:j", "j1");
    flip(profiles("new", "old"));
    expectAllReadable("swapped back");
    set("profile:k", "v3");
    flip(profiles("old", "new"));
    expectAllReadable("swapped again");
}

// ------------------------------------------------------------------ dual_write

TEST_F(ReversalTest, DualWriteSwapPrimaryAndBackKeepsEveryValueAndBothSidesEqual) {
    auto orders = [](const char* primary, const char* secondary) {
        return route("orders", "order:*", cat("strategy: {type: dual_write, primary: ", primary, ", secondary: ", secondary, "}"));
    };
    {
        Client o(old_.port());
        o.cmd({"SET", "order:count", "100"});
        counters_["order:count"] = 100;
    }
    start(orders("old", "new"));
    for (int i = 0; i < 20; ++i) incr("order:count");
    incr("order:fresh");
    set("order:shared", "s1");
    set("order:a", "a");
    rpush("order:log", "1");

    for (int round = 0; round < 3; ++round) {
        flip(orders("new", "old"));
        expectAllReadable(cat("round ", round, ": primary new"));
        for (int i = 0; i < 10; ++i) incr("order:count");
        incr("order:fresh");
        set("order:shared", cat("s-new-", round));
        set(cat("order:new-", round), "n");
        rpush("order:log", cat("new-", round));

        flip(orders("old", "new"));
        expectAllReadable(cat("round ", round, ": primary old again"));
        for (int i = 0; i < 10; ++i) incr("order:count");
        set("order:shared", cat("s-old-", round));
        set(cat("order:old-", round), "o");
        rpush("order:log", cat("old-", round));
    }
    expectAllReadable("end");
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "order:*"); }, 10s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

// ------------------------------------------------------------------ migration

TEST_F(ReversalTest, MigrationForwardToDualWriteReadNewAndBackToOldOnly) {
    auto phase = [](const char* p) { return migrationRoute("sessions", "session:*", p); };
    start(phase("old_only"));
    set("session:a", "written-old-only");
    incr("session:ctr");
    rpush("session:list", "old_only");

    flip(phase("dual_write_read_old"));
    expectAllReadable("dual_write_read_old");
    set("session:b", "written-read-old");
    set("session:a", "overwritten-read-old");
    incr("session:ctr");
    rpush("session:list", "read_old");
    // What was written before dual_write_read_old must be copied before reads move to new: the
    // guardrail refuses the flip until a backfill has run (the runbook's step).
    lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(), phase("dual_write_read_new")));
    auto refused = show(c_->cmd({"LAMINAR", "RELOAD"}));
    EXPECT_NE(refused.find("dual_write_read_old -> dual_write_read_new refused: no reconciling backfill of route 'sessions'"), std::string::npos)
        << refused;
    EXPECT_EQ(show(c_->cmd({"GET", "session:a"})), "$overwritten-read-old") << "the refused reload changed nothing";
    backfill("sessions");

    flip(phase("dual_write_read_new"));
    expectAllReadable("dual_write_read_new");
    set("session:c", "written-read-new");
    set("session:b", "overwritten-read-new");
    incr("session:ctr");
    rpush("session:list", "read_new");

    flip(phase("dual_write_read_old"));
    expectAllReadable("back to dual_write_read_old");
    set("session:d", "written-read-old-again");
    incr("session:ctr");
    rpush("session:list", "read_old_again");

    flip(phase("old_only"));
    expectAllReadable("back to old_only");
    set("session:e", "written-old-only-again");
    incr("session:ctr");
    expectAllReadable("old_only, after writing");
}

// migration.h: "Every step back is valid at any time." Writes made in new_only must survive the
// steps back to dual_write_read_new, dual_write_read_old and old_only.
// Keys written in new_only are on new alone: stepping back to dual_write_read_new (reads from new)
// keeps them; going further back needs them copied to old first (README, migration).
TEST_F(ReversalTest, MigrationBackFromNewOnlyToDualWriteReadNewKeepsWhatWasWrittenInNewOnly) {
    auto phase = [](const char* p) { return migrationRoute("sessions", "session:*", p); };
    start(phase("dual_write_read_old"));
    set("session:a", "a1");
    incr("session:ctr");
    backfill("sessions");
    flip(phase("dual_write_read_new"));
    set("session:b", "b1");
    incr("session:ctr");
    flip(phase("new_only"));
    expectAllReadable("new_only");
    set("session:n", "written-in-new-only");
    set("session:a", "a-overwritten-in-new-only");
    incr("session:ctr");

    flip(phase("dual_write_read_new"));
    expectAllReadable("back to dual_write_read_new");
}

}  // namespace
}  // namespace laminar::test

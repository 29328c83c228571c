// SPDX-License-Identifier: Apache-2.0
// timed_rollover, condition and shadow with two real redis-servers (old, new) behind laminar:
// where reads and writes land (checked directly on each redis-server), what the client sees, the
// counters LAMINAR STATUS reports, and the reverse gear of each (flip forward, write, flip back).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

// key_date of the README and config/examples/timed_rollover.yaml: "...#YYYY-MM-DD" at the end.
const std::string kKeyDate = R"y('#(\d{4}-\d{2}-\d{2})$')y";

std::string timedRollover(const std::string& cutoff, const std::string& extra = "") {
    return cat("strategy: {type: timed_rollover, cutoff: ", cutoff, ", key_date: ", kKeyDate, extra,
               ", before: old, after: new}");
}

class StrategyMoreFixture : public ::testing::Test {
protected:
    void start(const std::string& routes, int threads = 2) {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes, threads));
    }
    int port() const { return lam_->port(); }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

using StrategyMoreTimedRollover = StrategyMoreFixture;
using StrategyMoreCondition = StrategyMoreFixture;
using StrategyMoreShadow = StrategyMoreFixture;

// ================================================================== timed_rollover

// Cutoff in the past: days before it are read from `before` (old), days from it on from `after`
// (new); every write goes to `after` because the clock is past the cutoff.
TEST_F(StrategyMoreTimedRollover, PastCutoffReadsByTheKeysDateAndWritesGoToAfter) {
    start(route("stats", "stats:*", timedRollover("2000-01-01")));
    Client c(port()), o(old_.port()), n(new_.port());
    // Decoys on the other side of each key: the reply says which side was read.
    o.cmd({"SET", "stats:a#1999-12-31", "a-on-old"});
    n.cmd({"SET", "stats:a#1999-12-31", "a-decoy-on-new"});
    n.cmd({"SET", "stats:b#2000-01-02", "b-on-new"});
    o.cmd({"SET", "stats:b#2000-01-02", "b-decoy-on-old"});
    n.cmd({"SET", "stats:cut#2000-01-01", "cutoff-day-on-new"});
    EXPECT_EQ(show(c.cmd({"GET", "stats:a#1999-12-31"})), "$a-on-old") << "a day before the cutoff reads from before";
    EXPECT_EQ(show(c.cmd({"GET", "stats:b#2000-01-02"})), "$b-on-new") << "a day after the cutoff reads from after";
    EXPECT_EQ(show(c.cmd({"GET", "stats:cut#2000-01-01"})), "$cutoff-day-on-new") << "the cutoff day itself reads from after";
    EXPECT_EQ(laminarRoute(c, {"GET", "stats:a#1999-12-31"})["reads"], "old");
    EXPECT_EQ(laminarRoute(c, {"GET", "stats:b#2000-01-02"})["reads"], "new");

    // Writes go by the clock: past the cutoff, to new, whatever the key's date.
    EXPECT_EQ(show(c.cmd({"SET", "stats:w#2000-01-05", "w"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "stats:hits#2000-01-05"})), ":1");
    EXPECT_EQ(show(c.cmd({"SET", "stats:late#1999-06-01", "late"})), "+OK");
    EXPECT_EQ(show(n.cmd({"GET", "stats:w#2000-01-05"})), "$w");
    EXPECT_EQ(show(n.cmd({"GET", "stats:hits#2000-01-05"})), "$1");
    EXPECT_EQ(show(n.cmd({"GET", "stats:late#1999-06-01"})), "$late");
    EXPECT_EQ(show(o.cmd({"EXISTS", "stats:w#2000-01-05", "stats:hits#2000-01-05", "stats:late#1999-06-01"})), ":0");
    EXPECT_EQ(show(c.cmd({"GET", "stats:w#2000-01-05"})), "$w");
    EXPECT_EQ(laminarRoute(c, {"SET", "stats:a#1999-12-31", "x"})["writes"], "new");

    // Undated keys follow `undated` (default now: where their writes go now, so new).
    EXPECT_EQ(show(c.cmd({"SET", "stats:total", "t"})), "+OK");
    EXPECT_EQ(show(n.cmd({"GET", "stats:total"})), "$t");
    EXPECT_EQ(show(o.cmd({"EXISTS", "stats:total"})), ":0");
    EXPECT_EQ(show(c.cmd({"GET", "stats:total"})), "$t") << "undated: now reads where the write went";
    o.cmd({"SET", "stats:nodate#not-a-date", "decoy"});
    n.cmd({"SET", "stats:nodate#not-a-date", "undated-on-new"});
    EXPECT_EQ(show(c.cmd({"GET", "stats:nodate#not-a-date"})), "$undated-on-new");

    // DEL goes to both sides; the reply is the read side's.
    EXPECT_EQ(show(c.cmd({"DEL", "stats:a#1999-12-31"})), ":1");
    EXPECT_EQ(show(o.cmd({"EXISTS", "stats:a#1999-12-31"})), ":0");
    // The other side's delete is not awaited by the client's reply: a bounded wait.
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"EXISTS", "stats:a#1999-12-31"})) == ":0"; }, 2s))
        << "the copy on the other side survived DEL";
    EXPECT_EQ(show(c.cmd({"UNLINK", "stats:b#2000-01-02"})), ":1");
    EXPECT_TRUE(waitFor([&] { return show(o.cmd({"EXISTS", "stats:b#2000-01-02"})) == ":0"; }, 2s))
        << "the copy on the other side survived UNLINK";
    EXPECT_EQ(show(n.cmd({"EXISTS", "stats:b#2000-01-02"})), ":0");
    // A key only on the side it is not read from: removed there too, and the count is the read side's (0).
    n.cmd({"SET", "stats:d#1999-01-01", "only-on-new"});
    EXPECT_EQ(show(c.cmd({"DEL", "stats:d#1999-01-01"})), ":0");
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"EXISTS", "stats:d#1999-01-01"})) == ":0"; }, 2s));
    auto del = laminarRoute(c, {"DEL", "stats:w#2000-01-05"})["writes"];
    EXPECT_TRUE(del == "new,old" || del == "old,new") << del;
}

// Cutoff far in the future: every write goes to `before` (old); a key dated after the cutoff is
// still read from `after`; undated keys follow `undated`.
TEST_F(StrategyMoreTimedRollover, FutureCutoffWritesGoToBeforeAndUndatedFollowsTheSetting) {
    start(route("stats", "stats:*", timedRollover("2999-01-01")) +
          route("ustats", "ustats:*", timedRollover("2999-01-01", ", undated: after")) +
          route("bstats", "bstats:*", timedRollover("2000-01-01", ", undated: before")));
    Client c(port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "stats:w#2000-01-02", "w"})), "+OK");
    EXPECT_EQ(show(c.cmd({"RPUSH", "stats:l#2500-01-01", "x"})), ":1");
    EXPECT_EQ(show(c.cmd({"SET", "stats:total", "t"})), "+OK");
    EXPECT_EQ(show(o.cmd({"GET", "stats:w#2000-01-02"})), "$w");
    EXPECT_EQ(show(o.cmd({"LLEN", "stats:l#2500-01-01"})), ":1");
    EXPECT_EQ(show(o.cmd({"GET", "stats:total"})), "$t");
    EXPECT_TRUE(allKeys(new_.port()).empty()) << "a write reached new before the cutoff";
    EXPECT_EQ(show(c.cmd({"GET", "stats:w#2000-01-02"})), "$w");
    EXPECT_EQ(show(c.cmd({"GET", "stats:total"})), "$t") << "undated: now reads where the write went (old)";
    EXPECT_EQ(laminarRoute(c, {"SET", "stats:x#2999-06-01", "x"})["writes"], "old");

    // Read by date: a key dated on or after the cutoff reads from after, even now.
    n.cmd({"SET", "stats:f#2999-06-01", "future-on-new"});
    o.cmd({"SET", "stats:f#2999-06-01", "decoy"});
    EXPECT_EQ(show(c.cmd({"GET", "stats:f#2999-06-01"})), "$future-on-new");

    // undated: after / before.
    n.cmd({"SET", "ustats:total", "on-new"});
    o.cmd({"SET", "ustats:total", "on-old"});
    EXPECT_EQ(show(c.cmd({"GET", "ustats:total"})), "$on-new") << "undated: after";
    EXPECT_EQ(show(c.cmd({"SET", "ustats:w", "w"})), "+OK");  // the clock still says before
    EXPECT_EQ(show(o.cmd({"GET", "ustats:w"})), "$w");
    n.cmd({"SET", "bstats:total", "on-new"});
    o.cmd({"SET", "bstats:total", "on-old"});
    EXPECT_EQ(show(c.cmd({"GET", "bstats:total"})), "$on-old") << "undated: before";
}

// A command whose keys read from both sides: refused (timed_rollover rule 6) unless laminar splits
// it per key (MGET, EXISTS, ...: README "Commands across routes").
TEST_F(StrategyMoreTimedRollover, MultiKeyCommandsAcrossTheCutoff) {
    start(route("stats", "stats:*", timedRollover("2000-01-01")));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SADD", "stats:s#1999-12-31", "a"});
    n.cmd({"SADD", "stats:s#2000-01-02", "b"});
    auto r = c.cmd({"SUNION", "stats:s#1999-12-31", "stats:s#2000-01-02"});
    EXPECT_TRUE(r.isError()) << show(r);
    EXPECT_NE(r.str.find("both sides"), std::string::npos) << r.str;
    EXPECT_EQ(showSorted(c.cmd({"SUNION", "stats:s#2000-01-02", "stats:s#2000-01-03"})), "{$b}");

    o.cmd({"SET", "stats:k#1999-12-31", "old-day"});
    n.cmd({"SET", "stats:k#2000-01-02", "new-day"});
    EXPECT_EQ(show(c.cmd({"MGET", "stats:k#1999-12-31", "stats:k#2000-01-02", "stats:k#1999-01-01"})),
              "[$old-day, $new-day, (nil)]");
    EXPECT_EQ(show(c.cmd({"EXISTS", "stats:k#1999-12-31", "stats:k#2000-01-02"})), ":2");
}

// ================================================================== condition

// percent: 50 picks a side per key (a hash of the key), so each key lives on exactly one side,
// roughly half on each, and reads find it where its write went.
TEST_F(StrategyMoreCondition, PercentSplitsKeysConsistently) {
    start(route("pct", "pct:*", "strategy: {type: condition, when: {percent: 50}, then: new, else: old}"));
    Client c(port());
    constexpr int kKeys = 200;
    std::vector<std::vector<std::string>> sets, gets;
    for (int i = 0; i < kKeys; ++i) {
        sets.push_back({"SET", cat("pct:", i), cat("v", i)});
        gets.push_back({"GET", cat("pct:", i)});
    }
    for (const auto& r : pipeline(c, sets)) ASSERT_EQ(show(r), "+OK");
    auto on_old = allKeys(old_.port(), "pct:*"), on_new = allKeys(new_.port(), "pct:*");
    std::set<std::string> o(on_old.begin(), on_old.end()), n(on_new.begin(), on_new.end()), all = o;
    all.insert(n.begin(), n.end());
    EXPECT_EQ(all.size(), size_t(kKeys));
    EXPECT_EQ(o.size() + n.size(), size_t(kKeys)) << "a key landed on both sides";
    EXPECT_GE(n.size(), size_t(kKeys) * 20 / 100) << "new got " << n.size() << " of " << kKeys;
    EXPECT_LE(n.size(), size_t(kKeys) * 80 / 100) << "new got " << n.size() << " of " << kKeys;
    auto replies = pipeline(c, gets);
    for (int i = 0; i < kKeys; ++i) EXPECT_EQ(show(replies[size_t(i)]), cat("$v", i)) << "pct:" << i;

    // The same key always takes the same side: overwrite everything, nothing moves.
    for (auto& s : sets) s[2] += "-again";
    for (const auto& r : pipeline(c, sets)) ASSERT_EQ(show(r), "+OK");
    EXPECT_EQ(allKeys(old_.port(), "pct:*"), on_old);
    EXPECT_EQ(allKeys(new_.port(), "pct:*"), on_new);
    replies = pipeline(c, gets);
    for (int i = 0; i < kKeys; ++i) EXPECT_EQ(show(replies[size_t(i)]), cat("$v", i, "-again")) << "pct:" << i;
    // LAMINAR ROUTE agrees with where the data is.
    for (int i = 0; i < 20; ++i) {
        auto key = cat("pct:", i);
        EXPECT_EQ(laminarRoute(c, {"GET", key})["reads"], n.count(key) ? "new" : "old") << key;
    }
}

// Bad weather: while new is down, commands go to old; when it is back, to new again.
TEST_F(StrategyMoreCondition, BackendDownSendsTrafficToThenUntilTheBackendIsBack) {
    start(route("bd", "bd:*", "strategy: {type: condition, when: {backend_down: new}, then: old, else: new}"));
    Client c(port()), o(old_.port());
    o.cmd({"SET", "bd:k", "on-old"});
    {
        Client n(new_.port());
        n.cmd({"SET", "bd:k", "on-new"});
    }
    EXPECT_EQ(show(c.cmd({"GET", "bd:k"})), "$on-new");

    new_.kill();
    std::string last;
    EXPECT_TRUE(waitFor([&] { return (last = show(c.cmd({"GET", "bd:k"}))) == "$on-old"; }, 5s))
        << "new is killed but reads still do not come from old; last reply " << last << "\n" << laminarStatus(c);
    EXPECT_EQ(show(c.cmd({"SET", "bd:w", "while-down"})), "+OK");
    EXPECT_EQ(show(o.cmd({"GET", "bd:w"})), "$while-down");
    for (int i = 0; i < 10; ++i) EXPECT_EQ(show(c.cmd({"GET", "bd:k"})), "$on-old") << i;
    EXPECT_EQ(laminarRoute(c, {"GET", "bd:k"})["reads"], "old");

    new_.restart();  // empty: no persistence
    {
        Client n(new_.port());
        n.cmd({"SET", "bd:k", "on-new-again"});
    }
    EXPECT_TRUE(waitFor([&] { return (last = show(c.cmd({"GET", "bd:k"}))) == "$on-new-again"; }, 10s))
        << "new is back but reads do not go to it; last reply " << last << "\n" << laminarStatus(c);
    EXPECT_EQ(show(c.cmd({"SET", "bd:w2", "after-restart"})), "+OK");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "bd:w2"})), "$after-restart");
    EXPECT_EQ(show(o.cmd({"EXISTS", "bd:w2"})), ":0");
}

// commands: [write] sends writes to `then` and reads to `else`.
TEST_F(StrategyMoreCondition, CommandsWriteSendsWritesToThenAndReadsToElse) {
    start(route("cw", "cw:*", "strategy: {type: condition, when: {commands: [write]}, then: new, else: old}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "cw:r", "read-from-old"});
    n.cmd({"SET", "cw:r", "decoy-on-new"});
    EXPECT_EQ(show(c.cmd({"GET", "cw:r"})), "$read-from-old");
    EXPECT_EQ(show(c.cmd({"STRLEN", "cw:r"})), ":13");
    EXPECT_EQ(show(c.cmd({"SET", "cw:w", "written"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HSET", "cw:h", "f", "v"})), ":1");
    EXPECT_EQ(show(c.cmd({"INCR", "cw:n"})), ":1");
    EXPECT_EQ(show(n.cmd({"GET", "cw:w"})), "$written");
    EXPECT_EQ(show(n.cmd({"HGET", "cw:h", "f"})), "$v");
    EXPECT_EQ(show(n.cmd({"GET", "cw:n"})), "$1");
    EXPECT_EQ(allKeys(old_.port(), "cw:*"), std::vector<std::string>{"cw:r"});
    // The write went to new, the read goes to old: the condition does not follow the data.
    EXPECT_EQ(show(c.cmd({"GET", "cw:w"})), "(nil)");
    EXPECT_EQ(laminarRoute(c, {"SET", "cw:w", "x"})["writes"], "new");
    EXPECT_EQ(laminarRoute(c, {"GET", "cw:w"})["reads"], "old");
}

// ================================================================== shadow

TEST_F(StrategyMoreShadow, ClientGetsPrimarysRepliesAndIdenticalDataComparesEqual) {
    start(route("sh", "sh:*", "strategy: {type: shadow, primary: old, shadow: new, sample: 1}"));
    Client c(port()), o(old_.port()), n(new_.port());
    constexpr int kKeys = 20;
    for (int i = 0; i < kKeys; ++i) {
        o.cmd({"SET", cat("sh:", i), cat("v", i)});
        n.cmd({"SET", cat("sh:", i), cat("v", i)});
    }
    o.cmd({"HSET", "sh:h", "a", "1", "b", "2"});
    n.cmd({"HSET", "sh:h", "b", "2", "a", "1"});
    for (int i = 0; i < kKeys; ++i) EXPECT_EQ(show(c.cmd({"GET", cat("sh:", i)})), cat("$v", i));
    EXPECT_EQ(showSorted(c.cmd({"HGETALL", "sh:h"})), "{$1, $2, $a, $b}");
    const long long reads = kKeys + 1;
    EXPECT_TRUE(waitFor([&] { return routeCounter(c, "sh", "shadow_compared") >= reads; }, 5s)) << laminarStatus(c);
    EXPECT_EQ(routeCounter(c, "sh", "shadow_mismatches"), 0) << laminarStatus(c);
    EXPECT_EQ(routeCounter(c, "sh", "shadow_failures"), 0) << laminarStatus(c);

    // writes: primary (the default): writes reach old only.
    EXPECT_EQ(show(c.cmd({"SET", "sh:w", "written"})), "+OK");
    EXPECT_EQ(show(o.cmd({"GET", "sh:w"})), "$written");
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(show(n.cmd({"EXISTS", "sh:w"})), ":0");
}

TEST_F(StrategyMoreShadow, AMismatchIsCountedAndLoggedButTheClientGetsPrimarysValue) {
    start(route("sh", "sh:*", "strategy: {type: shadow, primary: old, shadow: new, sample: 1}"));
    Client c(port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "sh:same", "s"});
    n.cmd({"SET", "sh:same", "s"});
    EXPECT_EQ(show(c.cmd({"GET", "sh:same"})), "$s");
    EXPECT_TRUE(waitFor([&] { return routeCounter(c, "sh", "shadow_compared") >= 1; }, 5s)) << laminarStatus(c);
    EXPECT_EQ(routeCounter(c, "sh", "shadow_mismatches"), 0) << laminarStatus(c);

    o.cmd({"SET", "sh:diff", "old-value"});
    n.cmd({"SET", "sh:diff", "new-value"});
    EXPECT_EQ(show(c.cmd({"GET", "sh:diff"})), "$old-value");
    EXPECT_TRUE(waitFor([&] { return routeCounter(c, "sh", "shadow_mismatches") >= 1; }, 5s)) << laminarStatus(c);
    EXPECT_GE(routeCounter(c, "sh", "shadow_compared"), 2) << laminarStatus(c);
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("shadow reply differs") != std::string::npos; }, 3s)) << lam_->log();
    // Reading it again still answers old's value.
    EXPECT_EQ(show(c.cmd({"GET", "sh:diff"})), "$old-value");
    EXPECT_EQ(show(n.cmd({"GET", "sh:diff"})), "$new-value") << "the shadow's data was changed";
}

TEST_F(StrategyMoreShadow, ADeadShadowIsCountedAndNeverSeenByTheClient) {
    start(route("sh", "sh:*", "strategy: {type: shadow, primary: old, shadow: new, sample: 1}"));
    Client c(port()), o(old_.port()), n(new_.port());
    for (int i = 0; i < 10; ++i) {
        o.cmd({"SET", cat("sh:", i), cat("v", i)});
        n.cmd({"SET", cat("sh:", i), cat("v", i)});
    }
    for (int i = 0; i < 10; ++i) EXPECT_EQ(show(c.cmd({"GET", cat("sh:", i)})), cat("$v", i));
    EXPECT_TRUE(waitFor([&] { return routeCounter(c, "sh", "shadow_compared") >= 10; }, 5s)) << laminarStatus(c);
    const long long failures_before = routeCounter(c, "sh", "shadow_failures");
    const long long compared_before = routeCounter(c, "sh", "shadow_compared");
    EXPECT_EQ(failures_before, 0);

    new_.kill();
    constexpr int kReads = 20;
    for (int i = 0; i < kReads; ++i) EXPECT_EQ(show(c.cmd({"GET", cat("sh:", i % 10)})), cat("$v", i % 10)) << i;
    EXPECT_TRUE(waitFor([&] { return routeCounter(c, "sh", "shadow_failures") >= failures_before + kReads; }, 5s))
        << laminarStatus(c);
    EXPECT_EQ(routeCounter(c, "sh", "shadow_compared"), compared_before) << laminarStatus(c);
    EXPECT_EQ(show(c.cmd({"SET", "sh:w", "x"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "sh:w"})), "$x");
}

// ================================================================== reversal

class ReversalMoreTest : public ::testing::Test {
protected:
    void start(const std::string& routes) {
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes));
        c_ = std::make_unique<Client>(lam_->port());
    }
    void flip(const std::string& routes) {
        lam_->rewriteConfig(twoBackendConfig(old_.port(), new_.port(), routes));
        ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    }
    void set(const std::string& key, const std::string& value) {
        EXPECT_EQ(show(c_->cmd({"SET", key, value})), "+OK") << key;
        want_[key] = "$" + value;
    }
    std::vector<std::string> unreadable(const std::string& when) {
        std::vector<std::string> out;
        for (const auto& [k, v] : want_) {
            auto got = show(c_->cmd({"GET", k}));
            if (got != v) out.push_back(cat(when, ": ", k, " reads ", got, ", last written ", v));
        }
        return out;
    }
    void expectAllReadable(const std::string& when) {
        auto bad = unreadable(when);
        EXPECT_TRUE(bad.empty()) << firstLines(bad, 20);
    }
    std::string onOld(const std::string& key) { return show(Client(old_.port()).cmd({"GET", key})); }
    std::string onNew(const std::string& key) { return show(Client(new_.port()).cmd({"GET", key})); }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
    std::unique_ptr<Client> c_;
    std::map<std::string, std::string> want_;
};

// Move the cutoff from the future to the past (writes switch to new) and back (writes to old
// again). Days written to one side stay there (README: "days already written to after stay there
// until copied back"); a move of the cutoff across a written day needs that day copied.
TEST_F(ReversalMoreTest, TimedRolloverCutoffForwardAndBack) {
    auto stats = [](const char* cutoff) { return route("stats", "stats:*", timedRollover(cutoff)); };
    start(stats("2999-01-01"));
    set("stats:a#1999-12-31", "a1");    // before both cutoffs: old, read from old throughout
    set("stats:x#2500-06-01", "x1");    // between the two cutoffs
    EXPECT_EQ(onOld("stats:a#1999-12-31"), "$a1");
    EXPECT_EQ(onOld("stats:x#2500-06-01"), "$x1");
    EXPECT_TRUE(allKeys(new_.port()).empty());
    expectAllReadable("cutoff 2999");

    // Forward: cutoff in the past.
    flip(stats("2000-01-01"));
    EXPECT_EQ(show(c_->cmd({"GET", "stats:a#1999-12-31"})), "$a1") << "a day before the cutoff stays readable where it was written";
    // stats:x is dated after the new cutoff, so it is read from new, but was written to old: the
    // move crossed a written day, which needs a copy (timed_rollover.h, Reverse).
    EXPECT_EQ(show(c_->cmd({"GET", "stats:x#2500-06-01"})), "(nil)");
    copyKeys(old_.port(), new_.port(), {"stats:x#2500-06-01"});
    expectAllReadable("cutoff 2000, after copying the crossed day");
    set("stats:b#2000-01-02", "b1");
    EXPECT_EQ(onNew("stats:b#2000-01-02"), "$b1");
    EXPECT_EQ(onOld("stats:b#2000-01-02"), "(nil)");
    expectAllReadable("cutoff 2000, after writing");

    // Back: cutoff in the future again. stats:b (on new) is now read from old: the README's
    // "days already written to after stay there until copied back".
    flip(stats("2999-01-01"));
    EXPECT_EQ(show(c_->cmd({"GET", "stats:b#2000-01-02"})), "(nil)");
    EXPECT_EQ(onNew("stats:b#2000-01-02"), "$b1");
    copyKeys(new_.port(), old_.port(), {"stats:b#2000-01-02"});
    expectAllReadable("back to cutoff 2999, after copying back");
    set("stats:c#2000-01-03", "c1");
    EXPECT_EQ(onOld("stats:c#2000-01-03"), "$c1");
    EXPECT_EQ(onNew("stats:c#2000-01-03"), "(nil)");
    set("stats:a#1999-12-31", "a2");
    expectAllReadable("back to cutoff 2999, after writing");

    // A delete removes both copies, so moving the cutoff again cannot bring the day back.
    EXPECT_EQ(show(c_->cmd({"DEL", "stats:x#2500-06-01"})), ":1");
    want_.erase("stats:x#2500-06-01");
    EXPECT_EQ(onOld("stats:x#2500-06-01"), "(nil)");
    EXPECT_TRUE(waitFor([&] { return onNew("stats:x#2500-06-01") == "(nil)"; }, 2s)) << "the copy on new survived DEL";
    flip(stats("2000-01-01"));
    EXPECT_EQ(show(c_->cmd({"GET", "stats:x#2500-06-01"})), "(nil)") << "a deleted day came back from the other side";
    EXPECT_EQ(show(c_->cmd({"GET", "stats:a#1999-12-31"})), "$a2");
    EXPECT_EQ(show(c_->cmd({"GET", "stats:b#2000-01-02"})), "$b1");
}

// percent 0 -> 50 -> 0 on reads only (README: keep the condition to reads, or pair it with
// dual_write): writes go to both sides through a dual_write child (plain SETs, mode: command,
// ack: both), so wherever a read goes the value is there.
TEST_F(ReversalMoreTest, ConditionPercentOnReadsUpAndBackDown) {
    auto pct = [](int p) {
        return route("pct", "pct:*",
                     cat("strategy: {type: condition, when: {all: [{commands: [read]}, {percent: ", p,
                         "}]}, then: new, else: {type: dual_write, primary: old, secondary: new, mode: command, ack: both}}"));
    };
    constexpr int kKeys = 40;
    auto readsFromNew = [&] {
        int n = 0;
        for (int i = 0; i < kKeys; ++i) n += laminarRoute(*c_, {"GET", cat("pct:", i)})["reads"] == "new";
        return n;
    };
    start(pct(0));
    for (int i = 0; i < kKeys; ++i) set(cat("pct:", i), cat("p0-", i));
    EXPECT_EQ(readsFromNew(), 0);
    expectAllReadable("percent 0");

    flip(pct(50));
    int from_new = readsFromNew();
    EXPECT_GT(from_new, 0);
    EXPECT_LT(from_new, kKeys);
    expectAllReadable("percent 50");
    for (int i = 0; i < kKeys; i += 2) set(cat("pct:", i), cat("p50-", i));
    set("pct:fresh-50", "f");
    expectAllReadable("percent 50, after writing");

    flip(pct(0));
    EXPECT_EQ(readsFromNew(), 0);
    expectAllReadable("percent 0 again");
    for (int i = 1; i < kKeys; i += 2) set(cat("pct:", i), cat("p0b-", i));
    expectAllReadable("percent 0 again, after writing");
    auto d = diffAll(old_.port(), new_.port(), "pct:*");
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

// shadow -> proxy old -> shadow: the shadow never served a client, so every value written at any
// step reads back as old has it; a shadow left stale while the route was a proxy shows up as
// mismatches, never in a reply.
TEST_F(ReversalMoreTest, ShadowToProxyAndBack) {
    const std::string shadow = route("sh", "sh:*", "strategy: {type: shadow, primary: old, shadow: new, sample: 1, writes: both}");
    const std::string proxy = route("sh", "sh:*", "strategy: {type: proxy, target: old}");
    start(shadow);
    set("sh:a", "a1");
    set("sh:k", "k1");
    // writes: both: the sampled writes reach new in the background.
    EXPECT_TRUE(waitFor([&] { return onNew("sh:a") == "$a1" && onNew("sh:k") == "$k1"; }, 5s));
    expectAllReadable("shadow");
    EXPECT_TRUE(waitFor([&] { return routeCounter(*c_, "sh", "shadow_compared") >= 2; }, 5s)) << laminarStatus(*c_);
    EXPECT_EQ(routeCounter(*c_, "sh", "shadow_mismatches"), 0) << laminarStatus(*c_);

    flip(proxy);
    expectAllReadable("proxy old");
    set("sh:a", "a2");
    set("sh:b", "b1");
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(onNew("sh:a"), "$a1") << "a proxy to old wrote to new";
    EXPECT_EQ(onNew("sh:b"), "(nil)");
    expectAllReadable("proxy old, after writing");

    flip(shadow);
    expectAllReadable("shadow again");  // old's values, though new has a stale sh:a and no sh:b
    EXPECT_TRUE(waitFor([&] { return routeCounter(*c_, "sh", "shadow_mismatches") >= 2; }, 5s)) << laminarStatus(*c_);
    set("sh:c", "c1");
    set("sh:a", "a3");
    EXPECT_TRUE(waitFor([&] { return onNew("sh:c") == "$c1" && onNew("sh:a") == "$a3"; }, 5s));
    expectAllReadable("shadow again, after writing");
    EXPECT_EQ(onOld("sh:b"), "$b1");
}

}  // namespace
}  // namespace laminar::test

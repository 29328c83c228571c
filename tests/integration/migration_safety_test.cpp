// SPDX-License-Identifier: Apache-2.0
// Migration safety when things go wrong (docs/design.md, hazards 7 and on; issue 19): a secondary
// away for longer than a retry, an operator skipping a phase or flipping before the data is there,
// and what an operator sees meanwhile.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"
#include "support/scrape.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class MigrationSafety : public ::testing::Test {
protected:
    std::string config(const std::string& phase, const std::string& route_extra = "") {
        return twoBackendConfig(old_.port(), new_.port(), migrationRoute("app", "app:*", phase) + route_extra, 2,
                                cat("admin: {metrics: 127.0.0.1:", metrics_, "}\n"));
    }
    void start(const std::string& phase) {
        lam_ = std::make_unique<Laminar>(config(phase));
        c_ = std::make_unique<Client>(lam_->port());
    }
    // Rewrites the file and asks for a reload: "+OK" or the error.
    std::string reloadTo(const std::string& phase, const std::string& route_extra = "", bool force = false) {
        lam_->rewriteConfig(config(phase, route_extra));
        if (force) return show(c_->cmd({"LAMINAR", "RELOAD", "FORCE"}));
        return show(c_->cmd({"LAMINAR", "RELOAD"}));
    }
    void backfill() {
        ASSERT_EQ(show(c_->cmd({"LAMINAR", "BACKFILL", "START", "app", "RATE", "5000", "RECONCILE"})), "+OK");
        ASSERT_TRUE(waitFor([&] { return show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"})).find("done") != std::string::npos; }, 20s))
            << show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"}));
    }

    RedisServer old_, new_;
    int metrics_ = freePort();
    std::unique_ptr<Laminar> lam_;
    std::unique_ptr<Client> c_;
};

// Hazard 7: new stopped for longer than the sync engine's retries used to last (5 tries, about
// 1.5 s). Every key written meanwhile is copied once new answers again: none is given up, and the
// operator sees the backlog, a degraded (not unready) instance, and a flip that waits for it.
TEST_F(MigrationSafety, ASecondaryAwayLongerThanTheRetriesGetsEveryKeyOnceItIsBack) {
    start("dual_write_read_old");
    backfill();  // (nothing to copy yet: so that only the backlog stands in the flip's way below)
    new_.pause();
    std::vector<std::string> keys;
    for (int i = 0; i < 60; ++i) {
        auto k = cat("app:k", i);
        keys.push_back(k);
        EXPECT_EQ(show(c_->cmd({"SET", k, cat("v", i)})), "+OK");
        EXPECT_EQ(show(c_->cmd({"INCRBY", "app:counter", "2"})), cat(":", 2 * (i + 1)));
        if (i % 3 == 0) {
            EXPECT_EQ(show(c_->cmd({"DEL", k})), ":1");
        }
    }
    keys.push_back("app:counter");
    // The copies time out (timeout 1s) and wait in the backlog.
    ASSERT_TRUE(waitFor([&] { return laminarStatus(*c_).find("backlog old>new") != std::string::npos; }, 10s)) << laminarStatus(*c_);
    std::this_thread::sleep_for(2500ms);  // past the five tries that used to give up
    auto ready = httpRequest(metrics_, "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_NE(ready.body.find("ready, degraded:"), std::string::npos) << ready.body;
    EXPECT_NE(ready.body.find("wait to be copied old>new"), std::string::npos) << ready.body;
    auto m = scrape(metrics_);
    EXPECT_GT(m.sum("laminar_sync_backlog_keys", {{"pair", "old>new"}}), 0) << "no backlog in /metrics";
    auto refused = reloadTo("dual_write_read_new");
    EXPECT_NE(refused.find("failed to copy old>new and wait for 'new' to answer again"), std::string::npos) << refused;
    EXPECT_NE(show(c_->cmd({"INFO", "laminar"})).find("sync_backlog_old>new:keys="), std::string::npos);
    EXPECT_NE(lam_->log().find("copy of key 'app:"), std::string::npos) << "the failure line names the key\n" << lam_->log();

    new_.resume();
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys); }, 20s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("sync old>new: backlog drained") != std::string::npos; }, 10s)) << lam_->log();
    EXPECT_EQ(laminarStatus(*c_).find("sync_failures="), std::string::npos) << laminarStatus(*c_);
    EXPECT_EQ(httpRequest(metrics_, "GET", "/readyz").body, "ready\n");
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK") << "the backlog drained: the flip is safe now";
}

// A key the secondary refuses (here: new is out of memory, so RESTORE answers -OOM) is counted and
// logged after 5 tries, but never given up: it stays in the backlog, the flip to reading new is
// refused while it waits, and once the cause is fixed the key is copied and the flip is safe.
TEST_F(MigrationSafety, AKeyTheSecondaryRefusesIsKeptUntilItIsTakenAndTheFlipWaitsForIt) {
    start("dual_write_read_old");
    backfill();
    Client direct_new(new_.port());
    ASSERT_EQ(show(direct_new.cmd({"CONFIG", "SET", "maxmemory", "1"})), "+OK");
    EXPECT_EQ(show(c_->cmd({"SET", "app:refused", "value"})), "+OK");
    ASSERT_TRUE(waitFor([&] { return lam_->log().find("key 'app:refused' refused by the other side") != std::string::npos; }, 10s))
        << lam_->log();
    EXPECT_NE(lam_->log().find("OOM"), std::string::npos) << "the line says why";
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("keys the other side refused in this phase (kept in the backlog, retried with backoff up to 30 s): 1"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("backlog old>new: 1 keys"), std::string::npos) << report;
    auto refused = reloadTo("dual_write_read_new");
    EXPECT_NE(refused.find("1 keys of route 'app' failed to copy old>new"), std::string::npos) << refused;
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(show(direct_new.cmd({"EXISTS", "app:refused"})), ":0") << "still refused";

    ASSERT_EQ(show(direct_new.cmd({"CONFIG", "SET", "maxmemory", "0"})), "+OK");
    // The retries back off to 30 s; the key is copied at the next one.
    EXPECT_TRUE(waitFor([&] { return show(direct_new.cmd({"GET", "app:refused"})) == "$value"; }, 40s)) << lam_->log();
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("key 'app:refused' copied after the other side had refused it") != std::string::npos; },
                        5s));
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK") << "nothing owed any more";
}

// laminar verify --report tells the running laminar what it found; LAMINAR MIGRATION shows the
// last result for the route's two backends.
TEST_F(MigrationSafety, TheLastVerifyReportedIsShownByLaminarMigration) {
    start("dual_write_read_old");
    EXPECT_NE(show(c_->cmd({"LAMINAR", "MIGRATION", "app"})).find("last verify: none reported"), std::string::npos);
    for (int i = 0; i < 12; ++i) EXPECT_EQ(show(c_->cmd({"SET", cat("app:", i), "v"})), "+OK");
    ASSERT_TRUE(waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "app:*"); }).empty());
    auto verify = cat(LAMINAR_BINARY, " verify -c ", lam_->configPath(), " --a old --b new --match 'app:*' --report 2>&1");
    int status = -1;
    auto out = run(verify, &status);
    EXPECT_EQ(status, 0) << out;
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("last verify: old vs new (app:*): equal (12 keys compared, 0 differences), 0 s ago in this phase"), std::string::npos)
        << report;
    Client(old_.port()).cmd({"SET", "app:only-on-old", "x"});  // behind laminar's back
    out = run(verify, &status);
    EXPECT_EQ(status, 1) << out;
    report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("last verify: old vs new (app:*): different (13 keys compared, 1 differences)"), std::string::npos) << report;
    EXPECT_NE(show(c_->cmd({"LAMINAR", "VERIFIED", "old"})).find("ERR laminar: use LAMINAR VERIFIED"), std::string::npos);
}

TEST_F(MigrationSafety, ASkippedPhaseIsRefusedBySighupAndTheRunningPhaseStays) {
    start("new_only");
    EXPECT_EQ(show(c_->cmd({"SET", "app:x", "in-new-only"})), "+OK");
    lam_->rewriteConfig(config("old_only"));
    ASSERT_TRUE(sighupAndWait(*lam_, *c_));
    EXPECT_EQ(laminarInfoNumber(*c_, "reloads_failed"), 1);
    // (The counter is counted before the line is written: wait for the line.)
    EXPECT_TRUE(waitFor([&] {
        return lam_->log().find("new_only -> old_only refused: it skips dual_write_read_new and dual_write_read_old; step to "
                                "dual_write_read_new first") != std::string::npos;
    }, 5s)) << lam_->log();
    EXPECT_EQ(show(c_->cmd({"GET", "app:x"})), "$in-new-only") << "the refused reload moved reads to old";

    // One step at a time is fine, and logged per route.
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK");
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("route 'app': migration phase new_only -> dual_write_read_new") != std::string::npos; }, 5s))
        << lam_->log();
    auto m = scrape(metrics_);
    EXPECT_EQ(m.sum("laminar_route_phase", {{"route", "app"}, {"phase", "dual_write_read_new"}}), 1);
    EXPECT_EQ(m.labelValues("laminar_route_phase", "phase"), std::vector<std::string>{"dual_write_read_new"});
    // Back to reading old after new_only: old lacks what new_only wrote until a backfill new>old.
    auto refused = reloadTo("dual_write_read_old");
    EXPECT_NE(refused.find("no reconciling backfill of route 'app' has completed new>old since it entered dual_write_read_new"), std::string::npos)
        << refused;
    backfill();
    EXPECT_EQ(reloadTo("dual_write_read_old"), "+OK");
    EXPECT_EQ(show(c_->cmd({"GET", "app:x"})), "$in-new-only");
    EXPECT_EQ(show(Client(old_.port()).cmd({"GET", "app:x"})), "$in-new-only");
}

// Hazard 8: the runbook's way back from new_only. Keys deleted in new_only stay deleted on old,
// every value written there reaches old, and nothing written before comes back.
TEST_F(MigrationSafety, TheWayBackFromNewOnlyResurrectsNoDeleteAndLosesNoWrite) {
    start("dual_write_read_old");
    std::map<std::string, std::string> want;  // key -> value; absent: deleted
    for (int i = 0; i < 90; ++i) {
        auto k = cat("app:", i);
        EXPECT_EQ(show(c_->cmd({"SET", k, cat("before-", i)})), "+OK");
        want[k] = cat("before-", i);
    }
    backfill();
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK");
    EXPECT_NE(laminarStatus(*c_).find("    backfill (from before this phase): done"), std::string::npos) << laminarStatus(*c_);
    EXPECT_EQ(reloadTo("new_only"), "+OK");
    for (int i = 0; i < 90; ++i) {
        auto k = cat("app:", i);
        if (i % 3 == 0) {
            EXPECT_EQ(show(c_->cmd({"DEL", k})), ":1");
            want.erase(k);
        } else if (i % 3 == 1) {
            EXPECT_EQ(show(c_->cmd({"SET", k, cat("in-new-only-", i)})), "+OK");
            want[k] = cat("in-new-only-", i);
        }
    }
    EXPECT_EQ(show(c_->cmd({"SET", "app:born-in-new-only", "n"})), "+OK");
    want["app:born-in-new-only"] = "n";

    // The runbook: one step back, a reconciling backfill new -> old, then further back.
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK");
    EXPECT_NE(reloadTo("dual_write_read_old").find("refused"), std::string::npos);
    backfill();
    EXPECT_EQ(reloadTo("dual_write_read_old"), "+OK");
    EXPECT_EQ(reloadTo("old_only"), "+OK");

    Client old(old_.port());
    int wrong = 0, resurrected = 0;
    for (int i = 0; i < 90; ++i) {
        auto k = cat("app:", i);
        auto through = show(c_->cmd({"GET", k})), on_old = show(old.cmd({"GET", k}));
        auto it = want.find(k);
        std::string expect = it == want.end() ? "(nil)" : "$" + it->second;
        if (it == want.end() && (through != "(nil)" || on_old != "(nil)")) ++resurrected;
        else if (through != expect || on_old != expect) ++wrong;
    }
    EXPECT_EQ(resurrected, 0);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(show(c_->cmd({"GET", "app:born-in-new-only"})), "$n");
    auto d = diffAll(old_.port(), new_.port(), "app:*");
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

TEST_F(MigrationSafety, ForceOnTheRouteOrOnTheReloadTakesTheStepAndTheLogSaysSo) {
    start("old_only");
    EXPECT_NE(reloadTo("new_only").find("refused"), std::string::npos);
    EXPECT_EQ(reloadTo("new_only", "    force: true\n"), "+OK");
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("route 'app': migration phase old_only -> new_only, forced past the guardrail") != std::string::npos; }, 5s))
        << lam_->log();
    EXPECT_EQ(reloadTo("old_only", "", true), "+OK");
    EXPECT_NE(laminarStatus(*c_).find("phase: old_only"), std::string::npos) << laminarStatus(*c_);
}

// "Is the next step safe?" answered before taking it: LAMINAR MIGRATION says where the route is and
// why a step would be refused; LAMINAR RELOAD DRYRUN says what a reload of the edited file would do.
TEST_F(MigrationSafety, MigrationAndDryRunSayWhetherTheNextStepIsSafeBeforeItIsTaken) {
    start("dual_write_read_old");
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("app: dual_write_read_old for "), std::string::npos) << report;
    EXPECT_NE(report.find("last completed backfill: none"), std::string::npos) << report;
    EXPECT_NE(report.find("next dual_write_read_new: route 'app': dual_write_read_old -> dual_write_read_new refused: no reconciling "
                          "backfill"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("back old_only: safe"), std::string::npos) << report;
    EXPECT_NE(report.find("keys the other side refused in this phase (kept in the backlog, retried with backoff up to 30 s): 0"), std::string::npos) << report;
    EXPECT_NE(show(c_->cmd({"LAMINAR", "MIGRATION", "nope"})).find("no migration route 'nope'"), std::string::npos);

    lam_->rewriteConfig(config("dual_write_read_new"));
    auto dry = show(c_->cmd({"LAMINAR", "RELOAD", "DRYRUN"}));
    EXPECT_NE(dry.find("refused: no reconciling backfill"), std::string::npos) << dry;
    EXPECT_NE(dry.find("a reload would be refused"), std::string::npos) << dry;
    EXPECT_EQ(laminarInfoNumber(*c_, "reloads_failed"), 0) << "a dry run is not a reload";
    EXPECT_NE(laminarStatus(*c_).find("phase: dual_write_read_old"), std::string::npos);

    backfill();
    report = show(c_->cmd({"LAMINAR", "MIGRATION"}));
    EXPECT_NE(report.find("last completed backfill: old>new (reconcile), started "), std::string::npos) << report;
    EXPECT_NE(report.find("next dual_write_read_new: safe"), std::string::npos) << report;
    dry = show(c_->cmd({"LAMINAR", "RELOAD", "DRYRUN"}));
    EXPECT_NE(dry.find("route 'app': dual_write_read_old -> dual_write_read_new: safe"), std::string::npos) << dry;
    EXPECT_NE(dry.find("a reload would be accepted"), std::string::npos) << dry;

    lam_->rewriteConfig("routes: [unterminated");
    dry = show(c_->cmd({"LAMINAR", "RELOAD", "DRYRUN"}));
    EXPECT_NE(dry.find("a reload would fail"), std::string::npos) << dry;
}

// A secondary that is down leaves the instance ready (clients get their answers from the primary);
// the primary down makes it unready.
TEST_F(MigrationSafety, ReadyzFollowsTheBackendThatAnswersClientsNotTheSecondary) {
    start("dual_write_read_old");
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 200; }));
    new_.kill();
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").body.find("backend 'new'") != std::string::npos; }, 10s))
        << httpRequest(metrics_, "GET", "/readyz").body;
    auto r = httpRequest(metrics_, "GET", "/readyz");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("ready, degraded: backend 'new'"), std::string::npos) << r.body;
    EXPECT_EQ(show(c_->cmd({"SET", "app:a", "1"})), "+OK");
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").body.find("wait to be copied old>new") != std::string::npos; }, 10s));
    old_.kill();
    EXPECT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 503; }, 10s));
    EXPECT_NE(httpRequest(metrics_, "GET", "/readyz").body.find("backend 'old'"), std::string::npos);
    // Stopping with a key still owed to new says so: the backlog is in memory.
    c_.reset();
    EXPECT_EQ(lam_->process().stop(), 0);
    EXPECT_NE(lam_->log().find("stopped with 1 keys not copied to the other side, 1 of them waiting for old>new (backlog)"), std::string::npos)
        << lam_->log();
}

// Sync failures are logged at most once a second with the key; a summary line per direction
// follows every log.summary_every, with the counts and the backlog.
TEST(SyncFailureLog, ASummaryLineFollowsTheRateLimitedFailureLines) {
    RedisServer old_redis, new_redis;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info, summary_every: 1s}\n", "backends:\n  old: {address: 127.0.0.1:",
                    old_redis.port(), "}\n  new: {address: 127.0.0.1:", new_redis.port(), ", timeout: 300ms}\nroutes:\n",
                    migrationRoute("app", "app:*", "dual_write_read_old"), "  - name: default\n    strategy: old\n"));
    Client c(lam.port());
    new_redis.pause();
    for (int i = 0; i < 30; ++i) EXPECT_EQ(show(c.cmd({"SET", cat("app:", i), "v"})), "+OK");
    EXPECT_TRUE(waitFor([&] { return lam.log().find("sync old>new: in the last ") != std::string::npos; }, 10s)) << lam.log();
    auto log = lam.log();
    auto line = log.substr(log.find("sync old>new: in the last "));
    line = line.substr(0, line.find('\n'));
    EXPECT_NE(line.find("copies failed for a side that was away and will be retried, 0 copies were refused by the other side"), std::string::npos)
        << line;
    EXPECT_NE(line.find("; backlog "), std::string::npos) << line;
    new_redis.resume();
    auto d = waitNoDiff([&] { return diffAll(old_redis.port(), new_redis.port(), "app:*"); }, 20s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

}  // namespace
}  // namespace laminar::test

namespace laminar::test {
namespace {

// Item 7, the fault drill: a writer models every key (SET, DEL, INCRBY) through laminar while the
// route walks the runbook with the usual trouble: new stopped 8 s in dual_write_read_old, writes
// and deletes in new_only, a phase-skipping reload, and the way back to old_only. It ends with no
// key wrong through laminar, no delete resurrected, and old and new equal, with no repair step
// other than the runbook's.
TEST_F(MigrationSafety, TheFaultDrillLosesNothingAndResurrectsNothing) {
    start("old_only");
    std::mutex mu;
    std::map<std::string, std::string> model;  // key -> RESP of its GET ("(nil)" once deleted)
    std::atomic<bool> stop{false};
    std::atomic<long long> ops{0}, errors{0};
    std::string first_error;
    std::thread writer([&] {
        Client w(lam_->port(), 20s);
        std::mt19937 rng(7);
        while (!stop.load()) {
            auto k = cat("app:", rng() % 300);
            std::vector<std::string> cmd;
            std::string expect;
            switch (rng() % 3) {
                case 0: cmd = {"SET", k, cat("v", ops.load())}; break;
                case 1: cmd = {"DEL", k}; break;
                case 2: cmd = {"INCRBY", k, "3"}; break;
            }
            std::lock_guard lock(mu);  // the model follows the order the replies arrive in
            auto r = show(w.cmd(cmd));
            bool ok = false;
            if (cmd[0] == "SET" && r == "+OK") model[k] = "$" + cmd[2], ok = true;
            else if (cmd[0] == "DEL" && r.starts_with(":")) model[k] = "(nil)", ok = true;
            else if (cmd[0] == "INCRBY" && r.starts_with(":")) model[k] = "$" + r.substr(1), ok = true;
            else if (cmd[0] == "INCRBY" && r.find("not an integer") != std::string::npos) ok = true;  // a SET's "v.." value
            if (!ok && errors++ == 0) first_error = cat(cmd[0], " ", k, ": ", r);
            ++ops;
        }
    });
    auto pause = [](auto d) { std::this_thread::sleep_for(d); };
    auto backlogEmpty = [&] { return show(c_->cmd({"LAMINAR", "MIGRATION", "app"})).find("backlog old>new: 0 keys") != std::string::npos; };

    pause(300ms);
    EXPECT_EQ(reloadTo("dual_write_read_old"), "+OK");
    pause(200ms);
    new_.pause();
    pause(8s);
    new_.resume();
    EXPECT_TRUE(waitFor(backlogEmpty, 30s)) << show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    backfill();
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK");
    pause(300ms);
    EXPECT_EQ(reloadTo("new_only"), "+OK");
    pause(500ms);
    EXPECT_NE(reloadTo("old_only").find("it skips dual_write_read_new and dual_write_read_old"), std::string::npos);
    EXPECT_EQ(reloadTo("dual_write_read_new"), "+OK");
    backfill();
    EXPECT_EQ(reloadTo("dual_write_read_old"), "+OK");
    pause(300ms);
    stop = true;
    writer.join();
    EXPECT_TRUE(waitFor([&] { return laminarStatus(*c_).find("sync: 0 keys pending") != std::string::npos; }, 30s));
    auto d = waitNoDiff([&] { return diffAll(old_.port(), new_.port(), "app:*"); }, 10s);
    EXPECT_EQ(reloadTo("old_only"), "+OK");

    int wrong = 0, resurrected = 0;
    std::string first_wrong;
    for (const auto& [k, want] : model) {
        auto got = show(c_->cmd({"GET", k}));
        if (got == want) continue;
        ++(want == "(nil)" ? resurrected : wrong);
        if (first_wrong.empty()) first_wrong = cat(k, ": want ", want, ", got ", got);
    }
    std::cout << "[ fault drill ] " << ops.load() << " writes over " << model.size() << " keys; wrong " << wrong << ", resurrected "
              << resurrected << ", different between old and new " << d.size() << "\n";
    EXPECT_EQ(errors.load(), 0) << first_error;
    EXPECT_EQ(wrong, 0) << first_wrong;
    EXPECT_EQ(resurrected, 0) << first_wrong;
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(laminarStatus(*c_).find("sync_failures="), std::string::npos) << laminarStatus(*c_);
    EXPECT_GT(ops.load(), 500);
}

// Item 6: a reload that sends a route to an address the running configuration does not have first
// checks that something answers there, in the right protocol.
TEST(ReloadPreflight, AnAddressThatDoesNotAnswerOrSpeaksAnotherProtocolIsRefusedUnlessForced) {
    RedisServer old_r, new_r, elsewhere;
    MemcachedServer mc;
    int dead = freePort();
    auto config = [&](int new_port) {
        return twoBackendConfig(old_r.port(), new_port, migrationRoute("app", "app:*", "dual_write_read_old"));
    };
    Laminar lam(config(new_r.port()));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "app:k", "v"})), "+OK");

    lam.rewriteConfig(config(dead));
    auto r = show(c.cmd({"LAMINAR", "RELOAD"}));
    EXPECT_NE(r.find(cat("backend 'new' cannot be used: cannot connect to 127.0.0.1:", dead, ": Connection refused")), std::string::npos) << r;
    auto dry = show(c.cmd({"LAMINAR", "RELOAD", "DRYRUN"}));
    EXPECT_NE(dry.find("backend 'new' cannot be used"), std::string::npos) << dry;
    EXPECT_NE(dry.find("a reload would be refused"), std::string::npos) << dry;

    lam.rewriteConfig(config(mc.port()));
    r = show(c.cmd({"LAMINAR", "RELOAD"}));
    EXPECT_NE(r.find(cat("127.0.0.1:", mc.port(), " does not speak Redis: it answered PING with 'ERROR'")), std::string::npos) << r;
    EXPECT_EQ(show(c.cmd({"SET", "app:k", "still"})), "+OK") << "the running configuration stays";
    EXPECT_TRUE(waitFor([&] { return show(Client(new_r.port()).cmd({"GET", "app:k"})) == "$still"; }, 5s)) << "the copy went elsewhere";

    lam.rewriteConfig(config(elsewhere.port()));
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD"})), "+OK") << "a live Redis at a new address";

    lam.rewriteConfig(config(dead));
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD", "FORCE"})), "+OK");
}

}  // namespace
}  // namespace laminar::test

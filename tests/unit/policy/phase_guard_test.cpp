// SPDX-License-Identifier: Apache-2.0
#include "policy/phase_guard.h"

#include <gtest/gtest.h>

#include "config/config.h"
#include "policy/snapshot.h"

namespace laminar::policy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::unique_ptr<Snapshot> at(const std::string& phase, const std::string& extra = "") {
    return std::make_unique<Snapshot>(config::loadString(R"(backends:
  old: {address: 127.0.0.1:1}
  new: {address: 127.0.0.1:2}
routes:
  - name: app
    match: {keys: ["app:*"]}
    migration: {from: old, to: new, phase: )" + phase + "}\n" + extra + R"(
  - name: default
    strategy: old
)", "x"), 1);
}

// A board that went through `phases` one reload at a time (each step allowed), the last at `now`.
struct Walk {
    MigrationBoard board;
    Clock::time_point now = Clock::now();
    PhaseFacts facts;

    std::vector<PhaseChange> check(const std::string& phase, const std::string& extra = "", bool force = false) {
        auto s = at(phase, extra);
        return checkPhases(*s, board, facts, force);
    }
    void go(const std::string& phase) {
        now += 1s;
        auto s = at(phase);
        board.replace(phasesAfter(*s, board, now));
    }
    std::string refusal(const std::string& phase, const std::string& extra = "") {
        auto c = check(phase, extra);
        return c.empty() ? "(no change)" : c.front().refusal;
    }
    void backfillDone(const std::string& pair, Clock::time_point started, uint64_t failed = 0, bool reconcile = true) {
        facts.backfill = [=](const std::string& route) -> std::optional<PhaseFacts::Backfill> {
            if (route != "app") return std::nullopt;
            return PhaseFacts::Backfill{pair, started, failed, reconcile};
        };
    }
};

TEST(PhaseGuardTest, ANewMigrationIsRecordedWithoutACheck) {
    Walk w;
    auto c = w.check("new_only");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].route, "app");
    EXPECT_EQ(c[0].before, "");
    EXPECT_EQ(c[0].after, "new_only");
    EXPECT_EQ(c[0].refusal, "");
}

TEST(PhaseGuardTest, ASkippedPhaseIsRefusedNamingThePhaseToGoThrough) {
    Walk w;
    w.go("new_only");
    EXPECT_EQ(w.refusal("old_only"),
              "route 'app': new_only -> old_only refused: it skips dual_write_read_new and dual_write_read_old; step to "
              "dual_write_read_new first (set `force: true` on the route, or LAMINAR RELOAD FORCE, to take this step anyway)");
    Walk v;
    v.go("old_only");
    EXPECT_NE(v.refusal("dual_write_read_new").find("it skips dual_write_read_old; step to dual_write_read_old first"),
              std::string::npos);
    EXPECT_NE(v.refusal("new_only").find("it skips dual_write_read_old and dual_write_read_new"), std::string::npos);
    EXPECT_EQ(v.refusal("dual_write_read_old"), "");
    EXPECT_EQ(v.refusal("old_only"), "(no change)");
}

TEST(PhaseGuardTest, ForceOnTheRouteOrTheReloadLetsTheStepThroughAndSaysSo) {
    Walk w;
    w.go("old_only");
    auto c = w.check("new_only", "    force: true");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_FALSE(c[0].refusal.empty());
    EXPECT_TRUE(c[0].forced);
    auto d = w.check("new_only", "", true);
    EXPECT_TRUE(d[0].forced);
    EXPECT_FALSE(w.check("new_only")[0].forced);
}

TEST(PhaseGuardTest, ReadingNewNeedsABackfillOldToNewCompletedSinceTheDualWriteBegan) {
    Walk w;
    w.go("old_only");
    w.go("dual_write_read_old");
    auto since = w.now;
    EXPECT_NE(w.refusal("dual_write_read_new").find("no reconciling backfill of route 'app' has completed old>new since it entered "
                                                   "dual_write_read_old"),
              std::string::npos);
    w.backfillDone("old>new", since - 1ms);  // started before the dual write: keys written between are missed
    EXPECT_NE(w.refusal("dual_write_read_new").find("no reconciling backfill"), std::string::npos);
    w.backfillDone("new>old", since + 1ms);  // the wrong direction
    EXPECT_NE(w.refusal("dual_write_read_new").find("no reconciling backfill"), std::string::npos);
    w.backfillDone("old>new", since + 1ms, 3);
    EXPECT_NE(w.refusal("dual_write_read_new").find("could not copy 3 keys"), std::string::npos);
    w.backfillDone("old>new", since + 1ms);
    EXPECT_EQ(w.refusal("dual_write_read_new"), "");
}

TEST(PhaseGuardTest, ReadingASideIsRefusedWhileKeysWaitToBeCopiedToIt) {
    Walk w;
    w.go("old_only");
    w.go("dual_write_read_old");
    w.backfillDone("old>new", w.now + 1ms);
    w.facts.backlog = [](const std::string& pair) { return pair == "old>new" ? 120 : 0; };
    auto why = w.refusal("dual_write_read_new");
    EXPECT_NE(why.find("120 keys of route 'app' failed to copy old>new and wait for 'new' to answer again"), std::string::npos) << why;
    w.facts.backlog = [](const std::string&) { return 0; };
    EXPECT_EQ(w.refusal("dual_write_read_new"), "");
}

TEST(PhaseGuardTest, SteppingBackAfterNewOnlyNeedsABackfillNewToOld) {
    Walk w;
    w.go("dual_write_read_new");  // recorded fresh: both sides taken as whole
    EXPECT_EQ(w.refusal("dual_write_read_old"), "") << "the dual write kept old warm";
    w.go("new_only");
    w.go("dual_write_read_new");
    auto since = w.now;
    EXPECT_NE(w.refusal("dual_write_read_old").find("no reconciling backfill of route 'app' has completed new>old since it entered "
                                                   "dual_write_read_new, so 'old' may lack keys"),
              std::string::npos);
    w.backfillDone("new>old", since + 1ms, 0, false);  // copies, but leaves what new_only deleted on old
    EXPECT_NE(w.refusal("dual_write_read_old").find("no reconciling backfill"), std::string::npos);
    w.backfillDone("new>old", since + 1ms);
    EXPECT_EQ(w.refusal("dual_write_read_old"), "");
    w.go("dual_write_read_old");
    // Once back, old is whole again: another round trip needs no backfill new>old.
    w.go("dual_write_read_new");
    w.backfillDone("old>new", Clock::time_point{});
    EXPECT_EQ(w.refusal("dual_write_read_old"), "");
}

TEST(PhaseGuardTest, OldOnlyLeavesNewBehindAgain) {
    Walk w;
    w.go("dual_write_read_old");
    w.backfillDone("old>new", w.now + 1ms);
    EXPECT_EQ(w.refusal("dual_write_read_new"), "");
    w.go("old_only");
    w.go("dual_write_read_old");
    EXPECT_NE(w.refusal("dual_write_read_new").find("no reconciling backfill"), std::string::npos) << "writes in old_only never reached new";
}

TEST(PhaseGuardTest, OtherBackendsStartANewRecord) {
    Walk w;
    w.go("new_only");
    auto s = std::make_unique<Snapshot>(config::loadString(R"(backends:
  old: {address: 127.0.0.1:1}
  other: {address: 127.0.0.1:3}
routes:
  - name: app
    match: {keys: ["app:*"]}
    migration: {from: old, to: other, phase: old_only}
  - name: default
    strategy: old
)", "x"), 1);
    auto c = checkPhases(*s, w.board, w.facts, false);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].refusal, "");
    EXPECT_EQ(c[0].before, "");
}

TEST(PhaseGuardTest, TheMigrationReportShowsTheRunningBackfillAndWhetherItStartedInThisPhase) {
    Walk w;
    w.go("dual_write_read_old");
    auto rec = *w.board.get("app");
    EXPECT_EQ(migrationReport("app", rec, w.facts, w.now, 0).find("running backfill"), std::string::npos);
    auto started = w.now;
    w.facts.running = [&](const std::string& route) -> std::optional<PhaseFacts::Running> {
        if (route != "app") return std::nullopt;
        return PhaseFacts::Running{"running: 1200 of ~5000 keys scanned (24%, ETA 19 s), ...", started};
    };
    EXPECT_NE(migrationReport("app", rec, w.facts, w.now, 0).find("  running backfill: running: 1200 of ~5000 keys scanned (24%, ETA 19 s), ...\n"),
              std::string::npos)
        << migrationReport("app", rec, w.facts, w.now, 0);
    started = w.now - 5s;
    EXPECT_NE(migrationReport("app", rec, w.facts, w.now, 0).find("  running backfill (started before this phase): running: "), std::string::npos)
        << migrationReport("app", rec, w.facts, w.now, 0);
}

TEST(PhaseGuardTest, TheMigrationReportShowsTheLastVerifyOfTheRoutesTwoBackendsInEitherOrder) {
    Walk w;
    w.go("dual_write_read_new");
    auto rec = *w.board.get("app");
    EXPECT_NE(migrationReport("app", rec, w.facts, w.now, 0).find("  last verify: none reported"), std::string::npos);
    std::pair<std::string, std::string> asked;
    w.facts.verify = [&](const std::string& x, const std::string& y) -> std::optional<PhaseFacts::Verify> {
        asked = {x, y};
        return PhaseFacts::Verify{"new", "old", "app:*", false, 40, 3, w.now - 7s};
    };
    auto report = migrationReport("app", rec, w.facts, w.now, 0);
    EXPECT_NE(report.find("  last verify: new vs old (app:*): different (40 keys compared, 3 differences), 7 s ago before this phase\n"),
              std::string::npos)
        << report;
    EXPECT_EQ(asked, (std::pair<std::string, std::string>{"old", "new"}));
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
// What a migration remembers across a restart of laminar (state_dir; docs/operations.md, "State
// across restarts"): the keys owed to a side that is away, each route's phase and its last
// completed backfill, and whether the last run stopped cleanly.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class MigrationStateTest : public ::testing::Test {
protected:
    std::string config(const std::string& phase) {
        return twoBackendConfig(old_.port(), new_.port(), migrationRoute("app", "app:*", phase), 2, cat("state_dir: ", state_, "\n"));
    }
    void start(const std::string& phase) {
        c_.reset();
        lam_ = std::make_unique<Laminar>(config(phase));
        c_ = std::make_unique<Client>(lam_->port());
    }
    // A start the state refuses: laminar exits non-zero; its log.
    std::string refusedStart(const std::string& phase) {
        c_.reset();
        lam_ = std::make_unique<Laminar>(config(phase), false);
        int status = lam_->process().wait(10s);
        EXPECT_NE(status, 0) << "laminar started in " << phase << ":\n" << lam_->log();
        return lam_->log();
    }
    int stop(int signo) {
        c_.reset();
        return lam_->process().stop(signo);
    }
    void backfill() {
        ASSERT_EQ(show(c_->cmd({"LAMINAR", "BACKFILL", "START", "app", "RECONCILE"})), "+OK");
        ASSERT_TRUE(waitFor([&] { return show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"})).find("done") != std::string::npos; }, 20s))
            << show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"}));
    }
    // Writes keys through laminar while `new` is stopped, until they wait in the backlog.
    std::vector<std::string> writeWhileNewIsAway(int n) {
        new_.pause();
        std::vector<std::string> keys;
        for (int i = 0; i < n; ++i) {
            keys.push_back(cat("app:k", i));
            EXPECT_EQ(show(c_->cmd({"SET", keys.back(), cat("v", i)})), "+OK");
        }
        EXPECT_TRUE(waitFor([&] { return laminarStatus(*c_).find(cat("backlog old>new: ", n, " keys")) != std::string::npos; }, 15s))
            << laminarStatus(*c_);
        return keys;
    }

    RedisServer old_, new_;
    std::string state_ = tempDir() + "/state";
    std::unique_ptr<Laminar> lam_;
    std::unique_ptr<Client> c_;
};

// Hazard 7 across a restart: keys owed to a side that is away are written down at a clean stop
// and copied by the next run once the side answers, with no backfill.
TEST_F(MigrationStateTest, KeysOwedToASideThatIsAwayAreCopiedAfterACleanRestart) {
    start("dual_write_read_old");
    auto keys = writeWhileNewIsAway(40);
    EXPECT_EQ(stop(SIGTERM), 0);
    EXPECT_NE(lam_->log().find("they are written down in " + state_), std::string::npos) << lam_->log();
    new_.resume();
    EXPECT_FALSE(diffKeys(old_.port(), new_.port(), keys).empty()) << "nothing copied them before the restart";
    start("dual_write_read_old");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys); }, 20s);
    EXPECT_TRUE(d.empty()) << firstLines(d) << lam_->log();
    EXPECT_NE(lam_->log().find("40 keys owed to a side by the last run are copied again"), std::string::npos) << lam_->log();
    EXPECT_TRUE(waitFor([&] { return laminarStatus(*c_).find("backlog old>new") == std::string::npos; }, 10s)) << laminarStatus(*c_);
}

// SIGKILL right after laminar acknowledged writes whose copies were still in flight (new paused,
// so none had even failed yet): each write's record went out before the write did, so the next run
// copies every key, and the backfill of before still holds: the flip is safe with nothing more.
TEST_F(MigrationStateTest, SigkillRightAfterAcknowledgedWritesLosesNoCopyAndAsksForNothingMore) {
    Client direct_new(new_.port());
    start("dual_write_read_old");
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i) {
        keys.push_back(cat("app:gone", i));
        EXPECT_EQ(show(c_->cmd({"SET", keys.back(), "old-value"})), "+OK");
    }
    backfill();
    ASSERT_EQ(show(direct_new.cmd({"EXISTS", "app:gone3"})), ":1");
    // The completed backfill is on record (the board is saved about once a second).
    ASSERT_TRUE(waitFor(
        [&] {
            std::ifstream in(state_ + "/migrations");
            std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            return text.find("backfill\tapp") != std::string::npos;
        },
        5s));
    new_.pause();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(show(c_->cmd({"DEL", cat("app:gone", i)})), ":1");
    for (int i = 0; i < 30; ++i) {
        keys.push_back(cat("app:k", i));
        EXPECT_EQ(show(c_->cmd({"SET", keys.back(), cat("v", i)})), "+OK");
        EXPECT_EQ(show(c_->cmd({"INCRBY", "app:counter", "3"})), cat(":", 3 * (i + 1)));
    }
    keys.push_back("app:counter");
    stop(SIGKILL);  // at once: every copy is still in flight, none in the backlog yet
    new_.resume();
    EXPECT_FALSE(diffKeys(old_.port(), new_.port(), keys).empty()) << "nothing was copied before the kill";

    start("dual_write_read_old");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys); }, 20s);
    EXPECT_TRUE(d.empty()) << firstLines(d) << lam_->log();
    EXPECT_NE(lam_->log().find("its write-ahead records are whole"), std::string::npos) << lam_->log();
    EXPECT_EQ(show(direct_new.cmd({"EXISTS", "app:gone3"})), ":0") << "the deletes reached new too";
    EXPECT_TRUE(waitFor([&] { return laminarStatus(*c_).find("backlog old>new") == std::string::npos; }, 10s)) << laminarStatus(*c_);
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("next dual_write_read_new: safe"), std::string::npos) << report;
    lam_->rewriteConfig(config("dual_write_read_new"));
    EXPECT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK") << "no reconciling backfill asked for";
}

// When the files cannot be trusted after a SIGKILL (here the machine restarted: written records
// may never have reached the disk), the owed keys on record are still copied, but the route's
// target is marked as possibly lacking writes, so reads cannot move there before a reconciling
// backfill.
TEST_F(MigrationStateTest, AfterAMachineRestartTheFlipWaitsForANewReconcilingBackfill) {
    start("dual_write_read_old");
    backfill();
    auto keys = writeWhileNewIsAway(25);
    stop(SIGKILL);
    new_.resume();
    std::ofstream(state_ + "/ahead-intact") << "00000000-0000-0000-0000-boot-before\n";

    auto log = refusedStart("dual_write_read_new");
    EXPECT_NE(log.find("did not stop cleanly"), std::string::npos) << log;
    EXPECT_NE(log.find("the machine restarted since"), std::string::npos) << log;
    EXPECT_NE(log.find("no reconciling backfill of route 'app' has completed old>new since it entered dual_write_read_old"),
              std::string::npos)
        << "the backfill of before the crash cannot cover the copies the crash cut off\n"
        << log;

    start("dual_write_read_old");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), keys); }, 20s);
    EXPECT_TRUE(d.empty()) << firstLines(d) << lam_->log();
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("next dual_write_read_new: route 'app': dual_write_read_old -> dual_write_read_new refused"), std::string::npos)
        << report;
    backfill();
    lam_->rewriteConfig(config("dual_write_read_new"));
    EXPECT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
}

// The phase and the last completed backfill outlive a clean restart: the flip the backfill allowed
// is still allowed, and a start that skips a phase is refused as a reload would be.
TEST_F(MigrationStateTest, ThePhaseAndTheLastBackfillOutliveACleanRestartAndASkippingStartIsRefused) {
    Client direct(old_.port());
    for (int i = 0; i < 20; ++i) direct.cmd({"SET", cat("app:old", i), "x"});
    start("dual_write_read_old");
    backfill();
    EXPECT_EQ(stop(SIGTERM), 0);

    start("dual_write_read_new");
    EXPECT_EQ(show(c_->cmd({"GET", "app:old7"})), "$x") << "reads from new, which the backfill filled";
    auto report = show(c_->cmd({"LAMINAR", "MIGRATION", "app"}));
    EXPECT_NE(report.find("app: dual_write_read_new"), std::string::npos) << report;
    EXPECT_NE(report.find("last completed backfill: old>new (reconcile)"), std::string::npos) << report;
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("migration phase dual_write_read_old -> dual_write_read_new") != std::string::npos; }, 5s))
        << lam_->log();
    EXPECT_EQ(stop(SIGTERM), 0);

    auto log = refusedStart("old_only");
    EXPECT_NE(log.find("dual_write_read_new -> old_only refused: it skips dual_write_read_old; step to dual_write_read_old first"),
              std::string::npos)
        << log;
    // The refused start changed nothing: the next one is still a neighbour of dual_write_read_new.
    start("new_only");
    EXPECT_NE(show(c_->cmd({"LAMINAR", "MIGRATION", "app"})).find("app: new_only"), std::string::npos);
}

// Hazard 8 without a scan: the keys written (or deleted) in new_only are recorded, and the step
// back copies just those to old (LAMINAR BACKFILL START <route> CHANGED), deletions included.
TEST_F(MigrationStateTest, AChangedBackfillCopiesBackJustTheKeysNewOnlyWroteOrDeleted) {
    start("dual_write_read_new");
    for (const char* k : {"app:a", "app:b", "app:keep"}) EXPECT_EQ(show(c_->cmd({"SET", k, "1"})), "+OK");
    lam_->rewriteConfig(config("new_only"));
    ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    EXPECT_EQ(show(c_->cmd({"SET", "app:a", "2"})), "+OK");
    EXPECT_EQ(show(c_->cmd({"DEL", "app:b"})), ":1");
    EXPECT_EQ(show(c_->cmd({"INCR", "app:n"})), ":1");
    // A restart in the middle of the spell keeps the record, even a SIGKILL right after a write:
    // each key's record went out before its write did.
    stop(SIGKILL);
    start("new_only");
    EXPECT_EQ(show(c_->cmd({"MSET", "app:m1", "x", "app:m2", "y"})), "+OK");
    // A blocking write runs on a dedicated connection, outside the strategy: recorded all the same.
    EXPECT_EQ(show(c_->cmd({"RPUSH", "app:src", "v"})), ":1");
    EXPECT_EQ(show(c_->cmd({"BLMOVE", "app:src", "app:dst", "LEFT", "LEFT", "1"})), "$v");
    Client direct_new(new_.port());
    direct_new.cmd({"SET", "app:direct", "not through laminar"});
    EXPECT_NE(show(c_->cmd({"LAMINAR", "BACKFILL", "START", "app", "CHANGED"})).find("does not write both sides"), std::string::npos);

    lam_->rewriteConfig(config("dual_write_read_new"));
    ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    lam_->rewriteConfig(config("dual_write_read_old"));
    EXPECT_NE(show(c_->cmd({"LAMINAR", "RELOAD"})).find("no reconciling backfill of route 'app' has completed new>old"), std::string::npos);
    ASSERT_EQ(show(c_->cmd({"LAMINAR", "BACKFILL", "START", "app", "CHANGED"})), "+OK");
    ASSERT_TRUE(waitFor([&] { return show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"})).find("done") != std::string::npos; }, 20s));
    auto status = show(c_->cmd({"LAMINAR", "BACKFILL", "STATUS", "app"}));
    EXPECT_NE(status.find("7 keys scanned"), std::string::npos) << status;
    EXPECT_NE(status.find("changed: the 7 keys written in new_only"), std::string::npos) << status;
    EXPECT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK") << "the changed keys are back on old: reads may move there";

    Client old_side(old_.port());
    EXPECT_EQ(show(old_side.cmd({"GET", "app:a"})), "$2");
    EXPECT_EQ(show(old_side.cmd({"EXISTS", "app:b"})), ":0") << "the delete in new_only reached old";
    EXPECT_EQ(show(old_side.cmd({"GET", "app:n"})), "$1");
    EXPECT_EQ(show(old_side.cmd({"GET", "app:m2"})), "$y");
    EXPECT_EQ(show(old_side.cmd({"LRANGE", "app:dst", "0", "-1"})), "[$v]") << "a blocking write is recorded too";
    EXPECT_EQ(show(old_side.cmd({"EXISTS", "app:src"})), ":0");
    EXPECT_EQ(show(old_side.cmd({"GET", "app:keep"})), "$1");
    EXPECT_EQ(show(old_side.cmd({"EXISTS", "app:direct"})), ":0") << "only the recorded keys are copied, not a scan of new";
}

TEST_F(MigrationStateTest, AChangedBackfillOutlivesASigkillButNotAMachineRestart) {
    start("dual_write_read_new");
    lam_->rewriteConfig(config("new_only"));
    ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    EXPECT_EQ(show(c_->cmd({"SET", "app:a", "2"})), "+OK");
    stop(SIGKILL);
    std::ofstream(state_ + "/ahead-intact") << "00000000-0000-0000-0000-boot-before\n";
    start("new_only");
    lam_->rewriteConfig(config("dual_write_read_new"));
    ASSERT_EQ(show(c_->cmd({"LAMINAR", "RELOAD"})), "+OK");
    auto refused = show(c_->cmd({"LAMINAR", "BACKFILL", "START", "app", "CHANGED"}));
    EXPECT_NE(refused.find("is incomplete"), std::string::npos) << refused;
    EXPECT_NE(refused.find("use RECONCILE"), std::string::npos) << refused;
}

TEST_F(MigrationStateTest, TwoInstancesCannotShareAStateDir) {
    start("dual_write_read_old");
    Laminar second(config("dual_write_read_old"), false);
    EXPECT_NE(second.process().wait(10s), 0);
    EXPECT_NE(second.log().find("is in use by another laminar (pid " + std::to_string(lam_->pid()) + ")"), std::string::npos) << second.log();
    EXPECT_EQ(show(c_->cmd({"PING"})), "+PONG") << "the first one runs on";
}

}  // namespace
}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
#include "policy/migration_state.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <unordered_set>

#include "support/temp_dir.h"

namespace laminar::policy {
namespace {

using testing::TempDir;

using Phase = Migration::Phase;
using std::chrono::seconds;

std::string readFile(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> flat(const std::vector<MigrationState::Owed>& owed) {
    std::vector<std::string> out;
    for (const auto& o : owed) out.push_back(o.pair + " " + o.key);
    return out;
}

MigrationRecord record(Phase phase, bool to_missing, bool from_missing) {
    MigrationRecord r;
    r.phase = phase;
    r.from = "old";
    r.to = "new";
    r.since = std::chrono::steady_clock::now() - seconds(90);
    r.to_missing = to_missing;
    r.from_missing = from_missing;
    return r;
}

TEST(MigrationStateFormat, TheBoardAndBackfillsComeBackAsWrittenWithNamesThatNeedEscaping) {
    std::map<std::string, MigrationRecord> board{{"app", record(Phase::kReadOld, true, false)},
                                                 {"odd\tname\\with\nall", record(Phase::kNewOnly, false, true)}};
    board["odd\tname\\with\nall"].from = "a\tb";
    std::map<std::string, PhaseFacts::Backfill> backfills{
        {"app", {"old>new", std::chrono::steady_clock::now() - seconds(30), 2, true}}};
    MigrationState::Loaded back;
    std::string error;
    ASSERT_TRUE(MigrationState::decodeBoard(MigrationState::encodeBoard(board, backfills), back, error)) << error;
    ASSERT_EQ(back.board.size(), 2u);
    const auto& app = back.board.at("app");
    EXPECT_EQ(app.phase, Phase::kReadOld);
    EXPECT_EQ(app.from, "old");
    EXPECT_EQ(app.to, "new");
    EXPECT_TRUE(app.to_missing);
    EXPECT_FALSE(app.from_missing);
    // Times go through the wall clock: within a second of what they were.
    EXPECT_LT(std::chrono::abs(app.since - board["app"].since), seconds(1));
    const auto& odd = back.board.at("odd\tname\\with\nall");
    EXPECT_EQ(odd.phase, Phase::kNewOnly);
    EXPECT_EQ(odd.from, "a\tb");
    EXPECT_TRUE(odd.from_missing);
    ASSERT_EQ(back.backfills.count("app"), 1u);
    EXPECT_EQ(back.backfills["app"].pair, "old>new");
    EXPECT_EQ(back.backfills["app"].failed, 2u);
    EXPECT_TRUE(back.backfills["app"].reconcile);
}

TEST(MigrationStateFormat, ADamagedBoardLineIsAnErrorNamingIt) {
    MigrationState::Loaded back;
    std::string error;
    EXPECT_FALSE(MigrationState::decodeBoard("route\tapp\tsideways\told\tnew\t0\t0\t0\n", back, error));
    EXPECT_NE(error.find("line 1"), std::string::npos) << error;
    EXPECT_FALSE(MigrationState::decodeBoard("# header\nbackfill\tapp\n", back, error));
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
}

TEST(MigrationStateFormat, OwedRecordsReplayToTheKeysStillOwedAndATornTailIsIgnored) {
    std::string bytes;
    MigrationState::appendRecord(bytes, '+', "old>new", "a");
    MigrationState::appendRecord(bytes, '+', "old>new", std::string("bin\0\r\nkey", 9));
    MigrationState::appendRecord(bytes, '+', "new>old", "c");
    MigrationState::appendRecord(bytes, '-', "old>new", "a");
    MigrationState::appendRecord(bytes, '-', "old>new", "never-owed");
    std::string whole = bytes;
    MigrationState::appendRecord(bytes, '+', "old>new", "torn");
    bytes.resize(bytes.size() - 2);
    EXPECT_EQ(flat(MigrationState::decodeOwed(bytes)),
              (std::vector<std::string>{"new>old c", "old>new " + std::string("bin\0\r\nkey", 9)}));
    EXPECT_EQ(flat(MigrationState::decodeOwed(bytes)), flat(MigrationState::decodeOwed(whole)));
}

TEST(MigrationStateDir, AFreshDirectoryIsCleanAndEmptyAndASecondInstanceIsRefused) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path() / "state", loaded, error);
    ASSERT_TRUE(state) << error;
    EXPECT_FALSE(loaded.unclean);
    EXPECT_TRUE(loaded.board.empty());
    EXPECT_TRUE(loaded.owed.empty());
    MigrationState::Loaded other;
    EXPECT_FALSE(MigrationState::open(dir.path() / "state", other, error));
    EXPECT_NE(error.find("in use by another laminar"), std::string::npos) << error;
}

TEST(MigrationStateDir, ACleanStopKeepsTheBoardBackfillsAndEveryHeldKey) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    std::map<std::string, PhaseFacts::Backfill> backfills{{"app", {"old>new", std::chrono::steady_clock::now(), 0, true}}};
    ASSERT_TRUE(state->save({{"app", record(Phase::kReadOld, true, false)}}, backfills, error)) << error;
    ASSERT_TRUE(state->closeCleanly({{"old>new", "k1"}, {"old>new", "k2"}}, error)) << error;
    state.reset();
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "running"));

    MigrationState::Loaded again;
    state = MigrationState::open(dir.path(), again, error);
    ASSERT_TRUE(state) << error;
    EXPECT_FALSE(again.unclean);
    EXPECT_EQ(again.board.at("app").phase, Phase::kReadOld);
    EXPECT_EQ(again.backfills.count("app"), 1u) << "a clean stop keeps the backfill that completed";
    EXPECT_EQ(flat(again.owed), (std::vector<std::string>{"old>new k1", "old>new k2"}));
}

// What a run leaves when it is killed: a backfill done, keys in the backlog, writes recorded ahead
// (drained, as before their bytes were sent) and their copies partly done.
std::unique_ptr<MigrationState> crashedRun(const std::filesystem::path& dir) {
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir, loaded, error);
    EXPECT_TRUE(state) << error;
    std::map<std::string, PhaseFacts::Backfill> backfills{{"a", {"old>new", std::chrono::steady_clock::now(), 0, true}}};
    EXPECT_TRUE(state->save({{"a", record(Phase::kReadOld, false, false)}, {"b", record(Phase::kReadNew, false, false)},
                             {"c", record(Phase::kNewOnly, false, false)}},
                            backfills, error))
        << error;
    state->owe("old>new", "x");
    state->owe("old>new", "y");
    state->paid("old>new", "x");
    state->ahead("old>new", "w1");  // two writes of w1 and one of w2 sent; one copy of w1 done
    state->ahead("old>new", "w1");
    state->ahead("old>new", "w2");
    state->drainAhead();
    state->settled("old>new", "w2", 1);
    state->drainAhead();  // a later send
    state->settled("old>new", "w1", 1);  // buffered, lost with the process: w1 is copied once more
    state->ahead("old>new", "never-sent");  // buffered, and the process died before the send
    return state;
}

TEST(MigrationStateDir, AfterACrashOnTheSameBootTheWriteAheadRecordsAreTrustedAndNothingElseIsAsked) {
    TempDir dir;
    crashedRun(dir.path()).reset();  // no clean stop: as after a SIGKILL

    MigrationState::Loaded again;
    std::string error;
    auto state = MigrationState::open(dir.path(), again, error);
    ASSERT_TRUE(state) << error;
    EXPECT_TRUE(again.unclean);
    EXPECT_EQ(again.untrusted, "");
    EXPECT_FALSE(again.board.at("a").to_missing);
    EXPECT_FALSE(again.board.at("b").from_missing);
    EXPECT_EQ(again.backfills.count("a"), 1u) << "the backfill of before still holds: every copy since is on record";
    EXPECT_EQ(flat(again.owed), (std::vector<std::string>{"old>new w1", "old>new y"})) << "w2's copy was done; never-sent was never sent";
}

TEST(MigrationStateDir, AfterACrashOfTheMachineOrAFailedRecordTheSideBeingCopiedToMayLackWrites) {
    for (const char* how : {"another boot", "a failed record"}) {
        SCOPED_TRACE(how);
        TempDir dir;
        crashedRun(dir.path()).reset();
        if (std::string_view(how) == "another boot") std::ofstream(dir.path() / "ahead-intact") << "00000000-boot-of-before\n";
        else std::filesystem::remove(dir.path() / "ahead-intact");

        MigrationState::Loaded again;
        std::string error;
        auto state = MigrationState::open(dir.path(), again, error);
        ASSERT_TRUE(state) << error;
        EXPECT_TRUE(again.unclean);
        EXPECT_NE(again.untrusted, "");
        EXPECT_TRUE(again.board.at("a").to_missing) << "dual_write_read_old copies to `to`";
        EXPECT_FALSE(again.board.at("a").from_missing);
        EXPECT_TRUE(again.board.at("b").from_missing) << "dual_write_read_new copies to `from`";
        EXPECT_FALSE(again.board.at("c").to_missing);
        EXPECT_TRUE(again.backfills.empty());
        EXPECT_EQ(flat(again.owed), (std::vector<std::string>{"old>new w1", "old>new y"}));
        EXPECT_TRUE(std::filesystem::exists(dir.path() / "ahead-intact")) << "this run's records start whole again";
    }
}

TEST(MigrationStateDir, TheOwedFileIsCompactedToWhatIsStillOwed) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    for (int i = 0; i < 100; ++i) {
        state->owe("old>new", "k" + std::to_string(i));
        state->paid("old>new", "k" + std::to_string(i));
    }
    ASSERT_TRUE(state->flush(error)) << error;
    EXPECT_EQ(state->owedFileSize(), 0) << "nothing owed: emptied";
    const std::string big(200, 'v');
    state->ahead("old>new", "still-owed");
    state->owe("new>old", "in-backlog");
    for (int i = 0; i < 6000; ++i) {
        state->ahead("old>new", big + std::to_string(i));
        state->settled("old>new", big + std::to_string(i), 1);
    }
    state->drainAhead();
    EXPECT_GT(state->owedFileSize(), MigrationState::kCompactAt);
    ASSERT_TRUE(state->flush(error)) << error;
    EXPECT_LT(state->owedFileSize(), 100);
    EXPECT_EQ(flat(MigrationState::decodeOwed(readFile(dir.path() / "owed"))),
              (std::vector<std::string>{"new>old in-backlog", "old>new still-owed"}));
    state->settled("old>new", "still-owed", 1);  // appended after the compaction, to the new file
    ASSERT_TRUE(state->flush(error)) << error;
    EXPECT_EQ(flat(MigrationState::decodeOwed(readFile(dir.path() / "owed"))), std::vector<std::string>{"new>old in-backlog"});
}

TEST(MigrationStateFormat, UnitsRecordedAheadArePaidByCount) {
    std::string bytes;
    MigrationState::appendUnits(bytes, 'W', "old>new", "k", 3);
    MigrationState::appendUnits(bytes, 'd', "old>new", "k", 2);
    MigrationState::appendUnits(bytes, 'W', "old>new", "j", 1);
    MigrationState::appendUnits(bytes, 'd', "old>new", "j", 1);
    MigrationState::appendRecord(bytes, '+', "new>old", "j");
    EXPECT_EQ(flat(MigrationState::decodeOwed(bytes)), (std::vector<std::string>{"new>old j", "old>new k"}));
    MigrationState::appendUnits(bytes, 'd', "old>new", "k", 1);
    bytes.pop_back();  // torn: the last record is ignored
    EXPECT_EQ(flat(MigrationState::decodeOwed(bytes)), (std::vector<std::string>{"new>old j", "old>new k"}));
}

TEST(MigrationStateFormat, ChangedRecordsReplayPerRoute) {
    std::string bytes;
    MigrationState::appendRecord(bytes, '0', "a", {});
    MigrationState::appendRecord(bytes, '+', "a", "k1");
    MigrationState::appendRecord(bytes, '+', "a", "k2");
    MigrationState::appendRecord(bytes, 's', "a", {});
    MigrationState::appendRecord(bytes, '+', "a", "after-the-spell");  // not recording: ignored
    MigrationState::appendRecord(bytes, 'i', "b", {});
    MigrationState::appendRecord(bytes, '+', "b", "x");
    MigrationState::appendRecord(bytes, '0', "c", {});
    MigrationState::appendRecord(bytes, '+', "c", "y");
    MigrationState::appendRecord(bytes, 'x', "c", {});  // past the cap
    auto c = MigrationState::decodeChanged(bytes);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_TRUE(c["a"].complete);
    EXPECT_FALSE(c["a"].recording);
    EXPECT_EQ(c["a"].keys, (std::unordered_set<std::string>{"k1", "k2"}));
    EXPECT_FALSE(c["b"].complete);
    EXPECT_TRUE(c["b"].recording);
    EXPECT_FALSE(c["c"].complete);
    EXPECT_TRUE(c["c"].keys.empty());
}

TEST(MigrationStateDir, TheKeysANewOnlySpellChangedOutliveACrashOfLaminarButNotOneOfTheMachine) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    state->changed("app", "before");  // no record yet: not kept
    state->beginChanges("app", true);
    state->changed("app", "k1");
    state->changed("app", "k1");
    state->changed("other", "k2");
    ASSERT_TRUE(state->closeCleanly({}, error)) << error;
    state.reset();

    state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    auto c = state->changedKeys("app");
    EXPECT_TRUE(c.known && c.recording && c.complete);
    EXPECT_EQ(c.keys, std::vector<std::string>{"k1"});
    EXPECT_FALSE(state->changedKeys("other").known);
    state->changed("app", "k3");
    state->endChanges("app");
    state->changed("app", "k4");  // after the spell: not kept
    state->drainAhead();  // as before the writes were sent
    state.reset();  // no clean stop

    state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    c = state->changedKeys("app");
    EXPECT_TRUE(c.known);
    EXPECT_FALSE(c.recording);
    EXPECT_TRUE(c.complete) << "written ahead of the writes: a crash of laminar alone cut nothing";
    std::sort(c.keys.begin(), c.keys.end());
    EXPECT_EQ(c.keys, (std::vector<std::string>{"k1", "k3"}));
    state.reset();  // again no clean stop, and now the machine restarted too

    std::ofstream(dir.path() / "ahead-intact") << "00000000-boot-of-before\n";
    state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    EXPECT_FALSE(state->changedKeys("app").complete) << "the last records may never have reached the disk";
}

TEST(MigrationStateDir, ADamagedBoardFileStopsTheOpenWithWhatToDo) {
    TempDir dir;
    std::ofstream(dir.path() / "migrations") << "route\tapp\n";
    MigrationState::Loaded loaded;
    std::string error;
    EXPECT_FALSE(MigrationState::open(dir.path(), loaded, error));
    EXPECT_NE(error.find("move the file aside"), std::string::npos) << error;
}

}  // namespace
}  // namespace laminar::policy

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

TEST(MigrationStateDir, AfterACrashTheSideBeingCopiedToMayLackWritesAndEarlierBackfillsAreForgotten) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    std::map<std::string, PhaseFacts::Backfill> backfills{{"a", {"old>new", std::chrono::steady_clock::now(), 0, true}}};
    ASSERT_TRUE(state->save({{"a", record(Phase::kReadOld, false, false)}, {"b", record(Phase::kReadNew, false, false)},
                             {"c", record(Phase::kNewOnly, false, false)}},
                            backfills, error))
        << error;
    // Keys that entered the backlog, one of them copied since; flushed as the main thread does.
    state->owe("old>new", "x");
    state->owe("old>new", "y");
    state->paid("old>new", "x");
    ASSERT_TRUE(state->flush(false, error)) << error;
    state->owe("old>new", "lost-with-the-process");  // buffered, never flushed
    state.reset();  // no clean stop: as after a SIGKILL

    MigrationState::Loaded again;
    state = MigrationState::open(dir.path(), again, error);
    ASSERT_TRUE(state) << error;
    EXPECT_TRUE(again.unclean);
    EXPECT_TRUE(again.board.at("a").to_missing) << "dual_write_read_old copies to `to`";
    EXPECT_FALSE(again.board.at("a").from_missing);
    EXPECT_TRUE(again.board.at("b").from_missing) << "dual_write_read_new copies to `from`";
    EXPECT_FALSE(again.board.at("c").to_missing);
    EXPECT_TRUE(again.backfills.empty());
    EXPECT_EQ(flat(again.owed), std::vector<std::string>{"old>new y"});
}

TEST(MigrationStateDir, AFlushWithNothingOwedEmptiesTheFileButKeepsWhatWasOwedSince) {
    TempDir dir;
    MigrationState::Loaded loaded;
    std::string error;
    auto state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    for (int i = 0; i < 100; ++i) {
        state->owe("old>new", "k" + std::to_string(i));
        state->paid("old>new", "k" + std::to_string(i));
    }
    ASSERT_TRUE(state->flush(false, error)) << error;
    EXPECT_GT(std::filesystem::file_size(dir.path() / "owed"), 1000u);
    state->owe("old>new", "after");  // owed after the caller found the backlog empty
    ASSERT_TRUE(state->flush(true, error)) << error;
    EXPECT_EQ(flat(MigrationState::decodeOwed(readFile(dir.path() / "owed"))), std::vector<std::string>{"old>new after"});
    EXPECT_LT(std::filesystem::file_size(dir.path() / "owed"), 30u);
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

TEST(MigrationStateDir, TheKeysANewOnlySpellChangedOutliveACleanStopButACrashMakesThemIncomplete) {
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
    ASSERT_TRUE(state->flush(true, error)) << error;
    state.reset();  // no clean stop

    state = MigrationState::open(dir.path(), loaded, error);
    ASSERT_TRUE(state) << error;
    c = state->changedKeys("app");
    EXPECT_TRUE(c.known);
    EXPECT_FALSE(c.recording);
    EXPECT_FALSE(c.complete) << "a crash may have cut the last records";
    std::sort(c.keys.begin(), c.keys.end());
    EXPECT_EQ(c.keys, (std::vector<std::string>{"k1", "k3"}));
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

// SPDX-License-Identifier: Apache-2.0
// The copy progress line (src/tools/progress.cpp): the bar on a terminal, its counts and limits.
#include "tools/progress.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace laminar::tools {
namespace {

// A first update on a terminal always draws (nothing is drawn yet), so these tests need no clock.

TEST(ProgressTest, ATerminalGetsTheBarRedrawnInPlaceWithTheCounts) {
    std::ostringstream out;
    Progress p(out, /*terminal=*/true, /*total=*/100);
    p.update(50, 40, 5, 5, 1'500'000);
    auto s = out.str();
    EXPECT_TRUE(s.starts_with("\r\033[K")) << "back to the start of the line, which is cleared";
    EXPECT_NE(s.find("[" + std::string(15, '#') + std::string(15, '.') + "]  50% "), std::string::npos) << s;
    EXPECT_NE(s.find("50 keys (40 copied, 5 skipped, 5 failed), 1.5 MB, "), std::string::npos) << s;
    EXPECT_NE(s.find(" keys/s"), std::string::npos) << s;
    EXPECT_EQ(s.find('\n'), std::string::npos) << "the bar stays on its line";
}

TEST(ProgressTest, AnUnfinishedCopyWithAKnownTotalShowsAnEta) {
    std::ostringstream out;
    Progress p(out, true, 100);
    p.update(50, 50, 0, 0, 0);
    EXPECT_NE(out.str().find(", ETA "), std::string::npos) << out.str();
}

TEST(ProgressTest, NothingScannedShowsAnEmptyBarNoRateAndNoEta) {
    std::ostringstream out;
    Progress p(out, true, 10);
    p.update(0, 0, 0, 0, 0);
    auto s = out.str();
    EXPECT_NE(s.find("[" + std::string(30, '.') + "]   0% 0 keys (0 copied, 0 skipped, 0 failed), 0.0 MB, 0 keys/s"), std::string::npos) << s;
    EXPECT_EQ(s.find("ETA"), std::string::npos) << s;
}

TEST(ProgressTest, MoreKeysThanTheTotalFillTheBarAtOneHundredPercent) {
    std::ostringstream out;
    Progress p(out, true, 10);
    p.update(25, 25, 0, 0, 0);  // keys written while the copy ran
    auto s = out.str();
    EXPECT_NE(s.find("[" + std::string(30, '#') + "] 100% 25 keys"), std::string::npos) << s;
    EXPECT_EQ(s.find("ETA"), std::string::npos) << "no time left to guess";
}

TEST(ProgressTest, AnUnknownTotalShowsNoBar) {
    std::ostringstream out;
    Progress p(out, true, 0);
    p.update(7, 7, 0, 0, 0);
    auto s = out.str();
    EXPECT_EQ(s.find('[', 4), std::string::npos) << "no bar after the clearing escape: " << s;
    EXPECT_EQ(s.find('%'), std::string::npos) << s;
    EXPECT_EQ(s.find("ETA"), std::string::npos) << s;
    EXPECT_TRUE(s.starts_with("\r\033[K7 keys (7 copied, 0 skipped, 0 failed)")) << s;
}

TEST(ProgressTest, DeletedKeysAreShownOnlyWhenGiven) {
    std::ostringstream with, without;
    Progress a(with, true, 0), b(without, true, 0);
    a.update(3, 1, 0, 0, 0, 2);
    b.update(3, 1, 0, 0, 0);
    EXPECT_NE(with.str().find("(1 copied, 0 skipped, 0 failed, 2 deleted)"), std::string::npos) << with.str();
    EXPECT_EQ(without.str().find("deleted"), std::string::npos) << without.str();
}

TEST(ProgressTest, AZeroDeletedCountIsStillShown) {
    std::ostringstream out;
    Progress p(out, true, 0);
    p.update(3, 3, 0, 0, 0, 0);
    EXPECT_NE(out.str().find(", 0 deleted)"), std::string::npos) << out.str();
}

TEST(ProgressTest, FinishEndsADrawnBarsLineOnce) {
    std::ostringstream out;
    Progress p(out, true, 0);
    p.update(1, 1, 0, 0, 0);
    p.finish();
    EXPECT_TRUE(out.str().ends_with("\n"));
    auto once = out.str();
    p.finish();
    EXPECT_EQ(out.str(), once) << "a second finish() adds nothing";
}

TEST(ProgressTest, FinishWithNothingDrawnWritesNothing) {
    std::ostringstream terminal, log;
    Progress a(terminal, true, 10), b(log, false, 10);
    a.finish();
    b.finish();
    EXPECT_EQ(terminal.str(), "");
    EXPECT_EQ(log.str(), "");
}

TEST(ProgressTest, AfterFinishTheNextUpdateDrawsAgainAtOnce) {
    std::ostringstream out;
    Progress p(out, true, 0);
    p.update(1, 1, 0, 0, 0);
    p.finish();
    auto before = out.str();
    p.update(2, 2, 0, 0, 0);
    EXPECT_TRUE(out.str().substr(before.size()).starts_with("\r\033[K2 keys")) << out.str();
}

TEST(ProgressTest, ALogNeverGetsTerminalControlCharacters) {
    std::ostringstream out;
    Progress p(out, false, 100);
    for (int i = 0; i < 1000; ++i) p.update(static_cast<uint64_t>(i), 0, 0, 0, 0);
    p.finish();
    auto s = out.str();
    EXPECT_EQ(s.find('\r'), std::string::npos);
    EXPECT_EQ(s.find('\033'), std::string::npos);
    EXPECT_EQ(s.find('['), std::string::npos) << "no bar in a log";
    // Whatever was written (one line per 5 s at most) is whole lines of the copy.
    std::istringstream lines(s);
    for (std::string line; std::getline(lines, line);) EXPECT_TRUE(line.starts_with("copy: ")) << line;
}

}  // namespace
}  // namespace laminar::tools

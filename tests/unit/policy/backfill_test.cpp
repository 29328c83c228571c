// SPDX-License-Identifier: Apache-2.0
// A backfill's progress against the total counted when it started: the percent and ETA of
// LAMINAR STATUS, LAMINAR BACKFILL STATUS and LAMINAR MIGRATION (policy/backfill.h).
#include "policy/backfill.h"

#include <gtest/gtest.h>

namespace laminar::policy {
namespace {

TEST(BackfillEstimateTest, AnUnknownTotalHasNoPercentAndNoEta) {
    EXPECT_FALSE(estimateScan(1200, 0, 12.0, false));
    EXPECT_FALSE(estimateScan(1200, 0, 12.0, true));
    EXPECT_EQ(describeScan(1200, 0, false, 12.0, false, true), "1200 keys scanned");
    EXPECT_EQ(describeScan(1200, 0, true, 12.0, true, false), "1200 keys scanned");
}

TEST(BackfillEstimateTest, PercentIsTheShareOfTheTotalScannedAndEtaTheRestAtTheAveragePace) {
    auto e = estimateScan(1200, 5000, 6.0, false);  // 200 keys/s: 3800 keys left take 19 s
    ASSERT_TRUE(e);
    EXPECT_EQ(e->percent, 24);
    ASSERT_TRUE(e->eta_seconds);
    EXPECT_DOUBLE_EQ(*e->eta_seconds, 19.0);
    EXPECT_EQ(describeScan(1200, 5000, false, 6.0, false, true), "1200 of 5000 keys scanned (24%, ETA 19 s)");
    EXPECT_EQ(describeScan(1200, 5000, true, 6.0, false, true), "1200 of ~5000 keys scanned (24%, ETA 19 s)");
}

TEST(BackfillEstimateTest, NothingScannedYetIsZeroPercentWithoutAnEta) {
    auto e = estimateScan(0, 5000, 0.5, false);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->percent, 0);
    EXPECT_FALSE(e->eta_seconds);
    EXPECT_EQ(describeScan(0, 5000, false, 0.5, false, true), "0 of 5000 keys scanned (0%)");
    EXPECT_FALSE(estimateScan(10, 5000, 0.0, false)->eta_seconds) << "no time has passed: no pace to go by";
}

TEST(BackfillEstimateTest, ARunningScanStaysBelowOneHundredPercentEvenPastItsTotal) {
    EXPECT_EQ(estimateScan(4999, 5000, 10.0, false)->percent, 99);  // 99.98% is not done
    auto past = estimateScan(5300, 5000, 10.0, false);              // keys written meanwhile
    EXPECT_EQ(past->percent, 99);
    EXPECT_FALSE(past->eta_seconds);
    EXPECT_EQ(describeScan(5300, 5000, false, 10.0, false, true), "5300 of 5000 keys scanned (99%)");
}

TEST(BackfillEstimateTest, ACompleteScanIsOneHundredPercentWhateverTheCount) {
    for (uint64_t scanned : {800u, 5000u, 5300u}) {
        auto e = estimateScan(scanned, 5000, 10.0, true);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->percent, 100) << scanned;
        EXPECT_FALSE(e->eta_seconds) << scanned;
    }
    // A MATCH scan ends below its upper bound.
    EXPECT_EQ(describeScan(800, 5000, true, 10.0, true, false), "800 keys scanned (100%)");
}

TEST(BackfillEstimateTest, AStoppedScanKeepsItsPercentButHasNoEta) {
    EXPECT_EQ(describeScan(1200, 5000, true, 3.0, false, false), "1200 of ~5000 keys scanned (24%)");
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "config/units.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace laminar::config {
namespace {

using std::chrono::milliseconds;

TEST(UnitsTest, ParsesSizesInPowersOf1024) {
    EXPECT_EQ(parseSize("512mb"), 512ull << 20);
    EXPECT_EQ(parseSize("1GB"), 1ull << 30);
    EXPECT_EQ(parseSize("64k"), 64u << 10);
    EXPECT_EQ(parseSize("100"), 100u);
    EXPECT_FALSE(parseSize("mb"));
    EXPECT_FALSE(parseSize("5xb"));
    EXPECT_FALSE(parseSize("99999999999999999999gb"));
}

TEST(UnitsTest, ParsesDurationsThatHaveAUnit) {
    EXPECT_EQ(parseDuration("500ms")->count(), 500);
    EXPECT_EQ(parseDuration("2s")->count(), 2000);
    EXPECT_EQ(parseDuration("1m")->count(), 60000);
    EXPECT_FALSE(parseDuration("5"));
    EXPECT_FALSE(parseDuration("-1s"));
}

TEST(UnitsTest, SizeUnitsIgnoreCaseAndAcceptBytesAndZero) {
    EXPECT_EQ(parseSize("3Kb"), 3u << 10);
    EXPECT_EQ(parseSize("2M"), 2u << 20);
    EXPECT_EQ(parseSize("7b"), 7u);
    EXPECT_EQ(parseSize("0"), 0u);
    EXPECT_EQ(parseSize("0gb"), 0u);
}

TEST(UnitsTest, RefusesSizesThatAreNotANumberAndAUnit) {
    EXPECT_FALSE(parseSize(""));
    EXPECT_FALSE(parseSize("5 mb"));
    EXPECT_FALSE(parseSize(" 5mb"));
    EXPECT_FALSE(parseSize("1.5gb"));
    EXPECT_FALSE(parseSize("-1"));
    EXPECT_FALSE(parseSize("1tb"));
    EXPECT_FALSE(parseSize("1mbs"));
}

// 2^64 bytes is 17179869184gb: one gigabyte less still fits, and so does the largest byte count.
TEST(UnitsTest, RefusesSizesThatOverflowSixtyFourBits) {
    EXPECT_EQ(parseSize("17179869183gb"), (17179869183ull << 30));
    EXPECT_FALSE(parseSize("17179869184gb"));
    EXPECT_EQ(parseSize("18446744073709551615"), std::numeric_limits<uint64_t>::max());
    EXPECT_FALSE(parseSize("18446744073709551616"));
}

TEST(UnitsTest, RefusesDurationsWithoutAKnownUnit) {
    EXPECT_FALSE(parseDuration(""));
    EXPECT_FALSE(parseDuration("s"));
    EXPECT_FALSE(parseDuration("1d"));
    EXPECT_FALSE(parseDuration("1.5s"));
    EXPECT_FALSE(parseDuration("10 ms"));
    EXPECT_EQ(parseDuration("0s"), milliseconds(0));
    EXPECT_EQ(parseDuration("1h"), milliseconds(3'600'000));
}

// Milliseconds are signed 64 bits: 2562047788015h fits, one hour more does not.
TEST(UnitsTest, RefusesDurationsBeyondSignedSixtyFourBitMilliseconds) {
    EXPECT_EQ(parseDuration("9223372036854775807ms"), milliseconds(std::numeric_limits<int64_t>::max()));
    EXPECT_FALSE(parseDuration("9223372036854775808ms"));
    EXPECT_EQ(parseDuration("2562047788015h"), milliseconds(9'223'372'036'854'000'000));
    EXPECT_FALSE(parseDuration("2562047788016h"));
}

TEST(UnitsTest, FormatsASizeInTheLargestUnitThatDividesIt) {
    EXPECT_EQ(formatSize(0), "0b");
    EXPECT_EQ(formatSize(1536), "1536b");
    EXPECT_EQ(formatSize(1024), "1kb");
    EXPECT_EQ(formatSize(3ull << 20), "3mb");
    EXPECT_EQ(formatSize(5ull << 30), "5gb");
    EXPECT_EQ(formatSize((1ull << 30) + 1024), "1048577kb");
}

TEST(UnitsTest, FormatsADurationInSecondsOnlyWhenWhole) {
    EXPECT_EQ(formatDuration(milliseconds(0)), "0ms");
    EXPECT_EQ(formatDuration(milliseconds(1500)), "1500ms");
    EXPECT_EQ(formatDuration(milliseconds(2000)), "2s");
    EXPECT_EQ(formatDuration(milliseconds(3'600'000)), "3600s");
}

TEST(UnitsTest, WhatIsFormattedParsesBackToTheSameValue) {
    const uint64_t sizes[] = {0, 1, 1023, 1024, 4097, 64ull << 20, (7ull << 30) + 512, std::numeric_limits<uint64_t>::max()};
    for (uint64_t bytes : sizes) {
        EXPECT_EQ(parseSize(formatSize(bytes)), bytes) << formatSize(bytes);
    }
    const int64_t durations[] = {0, 1, 999, 1000, 60'000, 86'400'001, std::numeric_limits<int64_t>::max()};
    for (int64_t ms : durations) {
        EXPECT_EQ(parseDuration(formatDuration(milliseconds(ms))), milliseconds(ms)) << formatDuration(milliseconds(ms));
    }
}

}  // namespace
}  // namespace laminar::config

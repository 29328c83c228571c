// SPDX-License-Identifier: Apache-2.0
#include "resp/glob.h"

#include <gtest/gtest.h>

namespace laminar::resp {
namespace {

TEST(GlobTest, MatchesLikeRedisKeys) {
    EXPECT_TRUE(globMatch("user:*", "user:42"));
    EXPECT_TRUE(globMatch("user:*", "user:"));
    EXPECT_FALSE(globMatch("user:*", "users:1"));
    EXPECT_TRUE(globMatch("h?llo", "hello"));
    EXPECT_FALSE(globMatch("h?llo", "hllo"));
    EXPECT_TRUE(globMatch("h[ae]llo", "hallo"));
    EXPECT_FALSE(globMatch("h[ae]llo", "hillo"));
    EXPECT_TRUE(globMatch("h[^e]llo", "hallo"));
    EXPECT_FALSE(globMatch("h[^e]llo", "hello"));
    EXPECT_TRUE(globMatch("h[a-c]llo", "hbllo"));
    EXPECT_TRUE(globMatch("a\\*b", "a*b"));
    EXPECT_FALSE(globMatch("a\\*b", "axb"));
    EXPECT_TRUE(globMatch("*", ""));
    EXPECT_TRUE(globMatch("*:*:end", "a:b:c:end"));
    EXPECT_TRUE(globMatch("stats:*#2015-*", "stats:page#2015-05-13"));
}

TEST(GlobTest, StaysLinearOnAHostilePattern) {
    std::string text(10000, 'a');
    EXPECT_FALSE(globMatch("*a*a*a*a*a*a*a*a*a*a*b", text));
}

}  // namespace
}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
// The change feed's reading of Redis's invalidation pushes.
#include "net/change_feed.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace laminar::net {
namespace {

TEST(ChangeFeedTest, ReadsTheKeysOfAnInvalidationPush) {
    std::vector<std::string> keys;
    bool all = true;
    ASSERT_TRUE(parseInvalidation(">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n$4\r\nb\r\nc\r\n", keys, all));
    EXPECT_FALSE(all);
    EXPECT_EQ(keys, (std::vector<std::string>{"a", "b\r\nc"}));
}

TEST(ChangeFeedTest, ANullIsTheWholeKeyspace) {
    std::vector<std::string> keys{"stale"};
    bool all = false;
    ASSERT_TRUE(parseInvalidation(">2\r\n$10\r\ninvalidate\r\n_\r\n", keys, all));
    EXPECT_TRUE(all);
    EXPECT_TRUE(keys.empty());
}

TEST(ChangeFeedTest, OtherRepliesAreNotInvalidations) {
    std::vector<std::string> keys;
    bool all = false;
    EXPECT_FALSE(parseInvalidation("+OK\r\n", keys, all));
    EXPECT_FALSE(parseInvalidation(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", keys, all));
    EXPECT_FALSE(parseInvalidation(">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n", keys, all));  // cut short
    EXPECT_FALSE(parseInvalidation(">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\na\r\n", keys, all));
}

}  // namespace
}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
// The small readers strategies use to look inside a reply (resp/reply_view.h).
#include "resp/reply_view.h"

#include <gtest/gtest.h>

namespace laminar::resp {
namespace {

TEST(ReplyView, NullsOfEveryProtocol) {
    for (std::string_view r : {"$-1\r\n", "*-1\r\n", "_\r\n"}) EXPECT_TRUE(isNull(r)) << r;
    for (std::string_view r : {"$0\r\n\r\n", "$1\r\n-\r\n", "*0\r\n", "$-", "$-2\r\n", "_", "", "+OK\r\n", ":-1\r\n", "-ERR x\r\n"})
        EXPECT_FALSE(isNull(r)) << r;
}

TEST(ReplyView, MissesAreNullsEmptyAggregatesNoneAndMinusTwo) {
    for (std::string_view r : {"$-1\r\n", "*-1\r\n", "_\r\n", "*0\r\n", "%0\r\n", "~0\r\n", "+none\r\n", ":-2\r\n"})
        EXPECT_TRUE(isMiss(r)) << r;
    // Hits, and replies that only look close to a miss.
    for (std::string_view r : {"$3\r\nxxx\r\n", "$0\r\n\r\n", "*1\r\n$1\r\na\r\n", "%1\r\n+a\r\n+b\r\n", "~1\r\n+a\r\n", "*00\r\n",
                               "%0", "~0\r", "+none2\r\n", "+string\r\n", ":-1\r\n", ":-20\r\n", ":0\r\n", ":2\r\n", "-ERR x\r\n", "",
                               "$", "#f\r\n"})
        EXPECT_FALSE(isMiss(r)) << r;
}

TEST(ReplyView, ErrorsIntegersAndBulkBodies) {
    EXPECT_TRUE(isError("-ERR x\r\n"));
    EXPECT_TRUE(isError("!5\r\nerror\r\n"));
    EXPECT_FALSE(isError("+OK\r\n"));
    long long v = 0;
    EXPECT_TRUE(integerValue(":42\r\n", v));
    EXPECT_EQ(v, 42);
    EXPECT_FALSE(integerValue("$2\r\n42\r\n", v));
    std::string_view body;
    EXPECT_TRUE(bulkBody("$3\r\nxyz\r\n", body));
    EXPECT_EQ(body, "xyz");
    EXPECT_FALSE(bulkBody("$9\r\nxyz\r\n", body)) << "a length past the end";
}

}  // namespace
}  // namespace laminar::resp

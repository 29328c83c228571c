// SPDX-License-Identifier: Apache-2.0
// resp3.h: the RESP3 forms laminar writes for a client that said HELLO 3.
#include "resp/resp3.h"

#include <gtest/gtest.h>

namespace laminar::resp {
namespace {

TEST(Resp3FormsTest, TheNullReplyFollowsTheProtocol) {
    EXPECT_EQ(nullReply(true), "_\r\n");
    EXPECT_EQ(nullReply(false), "$-1\r\n");
}

// As redis-server 7.0 answers INFO to a RESP3 connection: =<len>\r\ntxt:<body>\r\n.
TEST(Resp3FormsTest, AVerbatimStringCountsItsFormatPrefix) {
    std::string out;
    appendVerbatim(out, "a\r\nb");
    EXPECT_EQ(out, "=8\r\ntxt:a\r\nb\r\n");
    EXPECT_EQ(bulkToVerbatim("$0\r\n\r\n"), "=4\r\ntxt:\r\n");
    EXPECT_EQ(bulkToVerbatim("$3\r\nabc\r\n"), "=7\r\ntxt:abc\r\n");
}

TEST(Resp3FormsTest, OnlyACompleteBulkBecomesVerbatim) {
    EXPECT_EQ(bulkToVerbatim("$-1\r\n"), "$-1\r\n");
    EXPECT_EQ(bulkToVerbatim("-ERR x\r\n"), "-ERR x\r\n");
    EXPECT_EQ(bulkToVerbatim("$5\r\nabc\r\n"), "$5\r\nabc\r\n");
}

TEST(Resp3FormsTest, NullsAtAnyDepthBecomeUnderscores) {
    EXPECT_EQ(nullsToResp3("$-1\r\n"), "_\r\n");
    EXPECT_EQ(nullsToResp3("*-1\r\n"), "_\r\n");
    EXPECT_EQ(nullsToResp3("*3\r\n$1\r\na\r\n$-1\r\n*2\r\n*-1\r\n:5\r\n"), "*3\r\n$1\r\na\r\n_\r\n*2\r\n_\r\n:5\r\n");
}

TEST(Resp3FormsTest, WhatHasNoNullIsUnchanged) {
    for (std::string_view r : {"+OK\r\n", "-ERR no\r\n", ":-2\r\n", "$0\r\n\r\n", "*0\r\n", "$4\r\n$-1\r\r\n"})
        EXPECT_EQ(nullsToResp3(r), r);
    // A body that looks like a null is a body.
    EXPECT_EQ(nullsToResp3("*1\r\n$5\r\n$-1\r\n\r\n"), "*1\r\n$5\r\n$-1\r\n\r\n");
}

TEST(Resp3FormsTest, WhatIsNotWellFormedRESP2IsPassedAsItCame) {
    for (std::string_view r : {"", "$", "$3\r\nab", "*2\r\n:1\r\n", "%1\r\n+a\r\n+b\r\n", "$-2\r\n", ":1\r\n:2\r\n"})
        EXPECT_EQ(nullsToResp3(r), r);
}

TEST(Resp3FormsTest, HellosIdBecomesTheClientsOwn) {
    EXPECT_EQ(withHelloId("%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:812\r\n", 7), "%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n");
    EXPECT_EQ(withHelloId("*4\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n", 12345),
              "*4\r\n$2\r\nid\r\n:12345\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n");
    EXPECT_EQ(withHelloId("-NOPROTO unsupported protocol version\r\n", 7), "-NOPROTO unsupported protocol version\r\n");
}

}  // namespace
}  // namespace laminar::resp

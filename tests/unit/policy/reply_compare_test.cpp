// SPDX-License-Identifier: Apache-2.0
#include "policy/reply_compare.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace laminar::policy {
namespace {

const resp::CommandInfo& cmd(std::vector<std::string_view> argv) {
    const auto* info = resp::lookupCommand(argv);
    EXPECT_NE(info, nullptr) << argv[0];
    return *info;
}

Verdict compare(std::vector<std::string_view> argv, std::string_view a, std::string_view b) {
    return compareReplies(cmd(argv), a, b);
}

constexpr Verdict kEqual = Verdict::kEqual;
constexpr Verdict kDifferent = Verdict::kDifferent;
constexpr Verdict kNotComparable = Verdict::kNotComparable;

// 1
TEST(ReplyCompareTest, IdenticalBytesAreEqual) {
    EXPECT_EQ(compare({"GET", "k"}, "$3\r\nabc\r\n", "$3\r\nabc\r\n"), kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "$3\r\nabc\r\n", "$3\r\nabd\r\n"), kDifferent);
}

// 2
TEST(ReplyCompareTest, Resp2AndResp3NullsAreEqual) {
    EXPECT_EQ(compare({"GET", "k"}, "$-1\r\n", "_\r\n"), kEqual);
    EXPECT_EQ(compare({"LPOP", "k", "2"}, "*-1\r\n", "_\r\n"), kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "$-1\r\n", "$0\r\n\r\n"), kDifferent);
    EXPECT_EQ(compare({"LRANGE", "k", "0", "-1"}, "*-1\r\n", "*0\r\n"), kDifferent);
}

// 3
TEST(ReplyCompareTest, StringsCompareByBytesWhateverTheirEncoding) {
    EXPECT_EQ(compare({"TYPE", "k"}, "+string\r\n", "$6\r\nstring\r\n"), kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "$5\r\nhello\r\n", "=9\r\ntxt:hello\r\n"), kEqual);
    EXPECT_EQ(compare({"EXISTS", "k"}, ":1\r\n", "#t\r\n"), kEqual);
    EXPECT_EQ(compare({"EXISTS", "k"}, ":0\r\n", "#t\r\n"), kDifferent);
    EXPECT_EQ(compare({"INCR", "k"}, ":5\r\n", ":6\r\n"), kDifferent);
    EXPECT_EQ(compare({"GET", "k"}, ":1\r\n", "$1\r\n1\r\n"), kDifferent);
}

// 4
TEST(ReplyCompareTest, ScoresCompareByValueButStringsDoNot) {
    EXPECT_EQ(compare({"ZSCORE", "z", "m"}, "$3\r\n1.5\r\n", "$4\r\n1.50\r\n"), kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "$3\r\n1.5\r\n", "$4\r\n1.50\r\n"), kDifferent);
    EXPECT_EQ(compare({"ZSCORE", "z", "m"}, "$3\r\n1.5\r\n", "$3\r\n1.6\r\n"), kDifferent);
}

TEST(ReplyCompareTest, FloatsWithinARelativeOneInABillionAreEqual) {
    EXPECT_EQ(compare({"INCRBYFLOAT", "k", "0.1"}, "$19\r\n0.30000000000000004\r\n", "$3\r\n0.3\r\n"), kEqual);
    EXPECT_EQ(compare({"INCRBYFLOAT", "k", "0.1"}, "$10\r\n1.00000001\r\n", "$1\r\n1\r\n"), kDifferent);
    EXPECT_EQ(compare({"GEODIST", "g", "a", "b"}, "$11\r\n166274.1516\r\n", "$15\r\n166274.15160000\r\n"), kEqual);
}

TEST(ReplyCompareTest, Resp3DoublesCompareByValueWithAnyCommand) {
    EXPECT_EQ(compare({"ZSCORE", "z", "m"}, ",1.5\r\n", "$3\r\n1.5\r\n"), kEqual);
    EXPECT_EQ(compare({"ZSCORE", "z", "m"}, ",inf\r\n", "$3\r\ninf\r\n"), kEqual);
    EXPECT_EQ(compare({"ZSCORE", "z", "m"}, ",inf\r\n", ",-inf\r\n"), kDifferent);
    EXPECT_EQ(compare({"EVAL_RO", "return 1", "0"}, ",2.0\r\n", ",2\r\n"), kEqual);
}

TEST(ReplyCompareTest, ScoresInsideWithScoresRepliesCompareByValue) {
    EXPECT_EQ(compare({"ZRANGE", "z", "0", "-1", "WITHSCORES"}, "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
                      "*4\r\n$1\r\na\r\n$3\r\n1.0\r\n$1\r\nb\r\n$4\r\n2.50\r\n"),
              kEqual);
    // RESP3: [[member, score], ...] with doubles.
    EXPECT_EQ(compare({"ZRANGE", "z", "0", "-1", "WITHSCORES"}, "*1\r\n*2\r\n$1\r\na\r\n,1\r\n",
                      "*1\r\n*2\r\n$1\r\na\r\n,1.0\r\n"),
              kEqual);
    EXPECT_EQ(compare({"ZRANGE", "z", "0", "-1", "WITHSCORES"}, "*2\r\n$1\r\na\r\n$1\r\n1\r\n",
                      "*2\r\n$1\r\nb\r\n$1\r\n1\r\n"),
              kDifferent);
}

// 5
TEST(ReplyCompareTest, ErrorsCompareByTheirFirstWord) {
    EXPECT_EQ(compare({"GET", "k"}, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                      "-WRONGTYPE wrong kind\r\n"),
              kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "-WRONGTYPE Operation\r\n", "-ERR Operation\r\n"), kDifferent);
    EXPECT_EQ(compare({"GET", "k"}, "-ERR x\r\n", "!5\r\nERR y\r\n"), kEqual);
    EXPECT_EQ(compare({"GET", "k"}, "-ERR x\r\n", "$3\r\nERR\r\n"), kDifferent);
}

// 6
TEST(ReplyCompareTest, SmembersIgnoresOrder) {
    EXPECT_EQ(compare({"SMEMBERS", "s"}, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n"),
              kEqual);
    EXPECT_EQ(compare({"SMEMBERS", "s"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n"), kDifferent);
    EXPECT_EQ(compare({"SMEMBERS", "s"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\na\r\n$1\r\nc\r\n"), kDifferent);
    // A multiset: duplicates count.
    EXPECT_EQ(compare({"HVALS", "h"}, "*2\r\n$1\r\na\r\n$1\r\na\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"), kDifferent);
}

TEST(ReplyCompareTest, Resp3SetsIgnoreOrderWithAnyCommand) {
    EXPECT_EQ(compare({"SMEMBERS", "s"}, "~2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n"), kEqual);
    EXPECT_EQ(compare({"EVAL_RO", "x", "0"}, "~2\r\n+a\r\n+b\r\n", "~2\r\n+b\r\n+a\r\n"), kEqual);
}

TEST(ReplyCompareTest, HgetallPairsIgnoreOrderButAChangedValueIsDifferent) {
    std::string_view ab = "*4\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n";
    std::string_view ba = "*4\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n";
    std::string_view changed = "*4\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n9\r\n";
    std::string_view swapped = "*4\r\n$1\r\nf\r\n$1\r\n2\r\n$1\r\ng\r\n$1\r\n1\r\n";
    EXPECT_EQ(compare({"HGETALL", "h"}, ab, ba), kEqual);
    EXPECT_EQ(compare({"HGETALL", "h"}, ab, changed), kDifferent);
    EXPECT_EQ(compare({"HGETALL", "h"}, ab, swapped), kDifferent);
}

TEST(ReplyCompareTest, LrangeIsOrderSensitive) {
    EXPECT_EQ(compare({"LRANGE", "l", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n"), kDifferent);
    EXPECT_EQ(compare({"LRANGE", "l", "0", "-1"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n+a\r\n+b\r\n"), kEqual);
}

TEST(ReplyCompareTest, Resp3MapsInADifferentOrderAreEqual) {
    EXPECT_EQ(compare({"HGETALL", "h"}, "%2\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n",
                      "%2\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n"),
              kEqual);
    EXPECT_EQ(compare({"EVAL_RO", "x", "0"}, "%2\r\n+f\r\n:1\r\n+g\r\n:2\r\n", "%2\r\n+g\r\n:2\r\n+f\r\n:1\r\n"), kEqual);
    EXPECT_EQ(compare({"EVAL_RO", "x", "0"}, "%2\r\n+f\r\n:1\r\n+g\r\n:2\r\n", "%2\r\n+g\r\n:1\r\n+f\r\n:2\r\n"), kDifferent);
    // RESP2's flat HGETALL against RESP3's map.
    EXPECT_EQ(compare({"HGETALL", "h"}, "*4\r\n$1\r\ng\r\n$1\r\n2\r\n$1\r\nf\r\n$1\r\n1\r\n",
                      "%2\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\n2\r\n"),
              kEqual);
}

TEST(ReplyCompareTest, NestedArraysCompareAtEveryLevel) {
    std::string_view a = "*2\r\n*2\r\n$1\r\na\r\n:1\r\n*2\r\n$1\r\nb\r\n_\r\n";
    std::string_view same = "*2\r\n*2\r\n$1\r\na\r\n:1\r\n*2\r\n$1\r\nb\r\n$-1\r\n";
    std::string_view deep = "*2\r\n*2\r\n$1\r\na\r\n:1\r\n*2\r\n$1\r\nb\r\n:0\r\n";
    std::string_view shorter = "*2\r\n*2\r\n$1\r\na\r\n:1\r\n*1\r\n$1\r\nb\r\n";
    EXPECT_EQ(compare({"XRANGE", "x", "-", "+"}, a, same), kEqual);
    EXPECT_EQ(compare({"XRANGE", "x", "-", "+"}, a, deep), kDifferent);
    EXPECT_EQ(compare({"XRANGE", "x", "-", "+"}, a, shorter), kDifferent);
    // Only the top level of SMEMBERS-like replies is unordered; nested arrays keep their order.
    EXPECT_EQ(compare({"GEOSEARCH", "g", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "WITHCOORD"},
                      "*2\r\n*2\r\n$1\r\na\r\n*2\r\n$3\r\n1.0\r\n$3\r\n2.0\r\n*2\r\n$1\r\nb\r\n*2\r\n$1\r\n3\r\n$1\r\n4\r\n",
                      "*2\r\n*2\r\n$1\r\nb\r\n*2\r\n$1\r\n3\r\n$1\r\n4\r\n*2\r\n$1\r\na\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
              kEqual);
    EXPECT_EQ(compare({"GEOSEARCH", "g", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "WITHCOORD"},
                      "*1\r\n*2\r\n$1\r\na\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n",
                      "*1\r\n*2\r\n$1\r\na\r\n*2\r\n$1\r\n2\r\n$1\r\n1\r\n"),
              kDifferent);
}

TEST(ReplyCompareTest, AttributesAreSkipped) {
    EXPECT_EQ(compare({"GET", "k"}, "|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.1923\r\n$1\r\nv\r\n", "$1\r\nv\r\n"), kEqual);
    EXPECT_EQ(compare({"LRANGE", "l", "0", "-1"}, "*2\r\n|1\r\n+a\r\n+b\r\n$1\r\nx\r\n$1\r\ny\r\n", "*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
              kEqual);
}

// 7
TEST(ReplyCompareTest, TtlsCompareByClass) {
    EXPECT_EQ(compare({"TTL", "k"}, ":100\r\n", ":99\r\n"), kEqual);
    EXPECT_EQ(compare({"PTTL", "k"}, ":100\r\n", ":-1\r\n"), kDifferent);
    EXPECT_EQ(compare({"TTL", "k"}, ":-2\r\n", ":-1\r\n"), kDifferent);
}

// 8
TEST(ReplyCompareTest, RandomCursorAndServerStateRepliesAreNotComparable) {
    for (auto argv : std::vector<std::vector<std::string_view>>{{"SRANDMEMBER", "s"},
                                                                {"SPOP", "s"},
                                                                {"RANDOMKEY"},
                                                                {"HRANDFIELD", "h"},
                                                                {"ZRANDMEMBER", "z"},
                                                                {"SCAN", "0"},
                                                                {"SSCAN", "s", "0"},
                                                                {"HSCAN", "h", "0"},
                                                                {"ZSCAN", "z", "0"},
                                                                {"TIME"},
                                                                {"INFO"},
                                                                {"DBSIZE"},
                                                                {"LASTSAVE"},
                                                                {"DUMP", "k"},
                                                                {"OBJECT", "ENCODING", "k"},
                                                                {"MEMORY", "USAGE", "k"},
                                                                {"XADD", "x", "*", "f", "v"},
                                                                {"BLPOP", "l", "0"},
                                                                {"PUBLISH", "c", "m"}}) {
        EXPECT_FALSE(repliesComparable(cmd(argv))) << argv[0];
        EXPECT_EQ(compare(argv, ":1\r\n", ":2\r\n"), kNotComparable) << argv[0];
        EXPECT_EQ(compare(argv, ":1\r\n", ":1\r\n"), kNotComparable) << argv[0];
    }
    EXPECT_TRUE(repliesComparable(cmd({"KEYS", "*"})));
    EXPECT_TRUE(repliesComparable(cmd({"PING"})));
    EXPECT_TRUE(repliesComparable(cmd({"GET", "k"})));
}

TEST(ReplyCompareTest, KeysIgnoresOrder) {
    EXPECT_EQ(compare({"KEYS", "*"}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n"), kEqual);
}

TEST(ReplyCompareTest, AReplyThatDoesNotDecodeIsNotComparable) {
    EXPECT_EQ(compare({"GET", "k"}, "$3\r\nabc\r\n", "$9\r\nabc\r\n"), kNotComparable);
    EXPECT_EQ(compare({"GET", "k"}, "$3\r\nabc\r\n", "?what\r\n"), kNotComparable);
    EXPECT_EQ(compare({"LRANGE", "l", "0", "-1"}, "*1\r\n:1\r\n", "*99999999\r\n:1\r\n"), kNotComparable);
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    EXPECT_EQ(compare({"LRANGE", "l", "0", "-1"}, deep, "*1\r\n:1\r\n"), kNotComparable);
}

TEST(ReplyCompareTest, DescribesWhereRepliesDifferWithoutWholeValues) {
    const auto& lrange = cmd({"LRANGE", "l", "0", "-1"});
    EXPECT_EQ(describeDifference(lrange, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\na\r\n$1\r\nc\r\n"), "reply[1]: \"b\" vs \"c\"");
    EXPECT_EQ(describeDifference(lrange, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*1\r\n$1\r\na\r\n"), "reply: sizes differ: 2 vs 1 elements");
    EXPECT_EQ(describeDifference(lrange, "*1\r\n:1\r\n", "*1\r\n:1\r\n"), "equal");
    EXPECT_EQ(describeDifference(cmd({"SPOP", "s"}), "$1\r\na\r\n", "$1\r\nb\r\n"), "not comparable");

    std::string big(5000, 'x'), other(5000, 'x');
    other.back() = 'y';
    std::string a = "$5000\r\n" + big + "\r\n", b = "$5000\r\n" + other + "\r\n";
    auto d = describeDifference(cmd({"GET", "k"}), a, b);
    EXPECT_LT(d.size(), 200u) << d;
    EXPECT_NE(d.find("(5000 bytes)"), std::string::npos) << d;
}

TEST(ReplyCompareTest, ExcerptsEscapeQuotesAndControlBytes) {
    EXPECT_EQ(logExcerpt("a\"b\\c\r\n", 100), "a\\u0022b\\u005cc\\u000d\\u000a");
    EXPECT_EQ(logExcerpt("abcdef", 3), "abc...(6 bytes)");
}

}  // namespace
}  // namespace laminar::policy

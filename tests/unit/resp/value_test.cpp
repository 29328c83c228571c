// SPDX-License-Identifier: Apache-2.0
#include "resp/value.h"

#include <gtest/gtest.h>

#include <string>

namespace laminar::resp {
namespace {

Value parse(const std::string& raw, size_t* end = nullptr) {
    size_t pos = 0;
    auto v = parseValue(raw, pos);
    if (end) *end = pos;
    return v;
}

TEST(ValueTest, ParsesEveryRESP2Type) {
    auto v = parse("*5\r\n+OK\r\n-ERR no\r\n:-42\r\n$3\r\na\r\n\r\n*-1\r\n");
    ASSERT_EQ(v.kind, Value::Kind::kArray);
    ASSERT_EQ(v.elems.size(), 5u);
    EXPECT_EQ(v.elems[0].kind, Value::Kind::kStatus);
    EXPECT_EQ(v.elems[1].str, "ERR no");
    EXPECT_EQ(v.elems[2].integer, -42);
    EXPECT_EQ(v.elems[3].str, "a\r\n") << "a bulk string may hold CR LF";
    EXPECT_TRUE(v.elems[4].isNil());
    size_t end = 0;
    parse("$-1\r\n:1\r\n", &end);
    EXPECT_EQ(end, 5u) << "one reply at a time";
}

TEST(ValueTest, RefusesWhatIsCutShortOrMalformed) {
    for (const char* bad : {"", "+OK", "$5\r\nabc\r\n", "*2\r\n:1\r\n", ":x\r\n", "?\r\n", "$3\r\nabcXY"}) {
        size_t end = 0;
        auto v = parse(bad, &end);
        EXPECT_TRUE(v.isError()) << bad;
        EXPECT_EQ(v.str, "malformed reply") << bad;
        EXPECT_EQ(end, std::string(bad).size()) << bad;
    }
}

TEST(ValueTest, AHugeCountOrADeepNestingIsRefusedWithoutAllocatingOrRecursingForIt) {
    // A count the input cannot hold: refused at once (it used to loop a trillion times).
    EXPECT_TRUE(parse("*1000000000000\r\n:1\r\n").isError());
    // Nesting deeper than any reply laminar reads: refused, not a stack overflow.
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    EXPECT_TRUE(parse(deep).isError());
    std::string ok;
    for (int i = 0; i < 10; ++i) ok += "*1\r\n";
    ok += ":1\r\n";
    EXPECT_FALSE(parse(ok).isError());
}

}  // namespace
}  // namespace laminar::resp

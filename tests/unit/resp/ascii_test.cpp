// SPDX-License-Identifier: Apache-2.0
#include "resp/ascii.h"

#include <gtest/gtest.h>

namespace laminar::resp {
namespace {

static_assert(equalsIgnoreCase("MULTI", "multi"));  // usable where a constant is needed

TEST(Ascii, FoldsAsciiLettersOnly) {
    EXPECT_TRUE(equalsIgnoreCase("SeT", "set"));
    EXPECT_TRUE(equalsIgnoreCase("", ""));
    EXPECT_FALSE(equalsIgnoreCase("set", "sets"));
    EXPECT_FALSE(equalsIgnoreCase("set", "seu"));
    // '@' and '`' sit next to 'A' and 'a'-1: nothing but letters moves.
    EXPECT_FALSE(equalsIgnoreCase("@", "`"));
    EXPECT_FALSE(equalsIgnoreCase("[", "{"));
    // Latin-1 'É' (0xC9) and 'é' (0xE9) stay apart, as in Redis's strcasecmp under the C locale.
    EXPECT_FALSE(equalsIgnoreCase("\xC9", "\xE9"));
    EXPECT_EQ(asciiLower('Z'), 'z');
    EXPECT_EQ(asciiLower('z'), 'z');
    EXPECT_EQ(asciiLower('\xC9'), '\xC9');
}

}  // namespace
}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#include "policy/key_rule.h"

#include <gtest/gtest.h>

#include <random>

namespace laminar::policy {
namespace {

std::string randomBytes(std::mt19937& rng, size_t n, bool compressible) {
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(compressible ? "abcab"[rng() % 5] : rng());
    return out;
}

TEST(KeyRuleTest, IdentityKeepsEveryName) {
    KeyRule same;
    EXPECT_EQ(same.toTarget("user:1"), "user:1");
    EXPECT_EQ(same.toSource(std::string("a\r\nb\0", 5)), std::string("a\r\nb\0", 5));
    EXPECT_FALSE(same.renames());
    EXPECT_EQ(same.describe(), "same");
}

TEST(KeyRuleTest, APrefixRuleReplacesThePrefixBothWaysAndCoversOnlyItsKeys) {
    auto rule = KeyRule::prefix("user:", "u:");
    EXPECT_EQ(rule.toTarget("user:42"), "u:42");
    EXPECT_EQ(rule.toSource("u:42"), "user:42");
    EXPECT_EQ(rule.toSource("u:"), "user:");
    EXPECT_EQ(rule.toSource("u:a\nb"), "user:a\nb");
    EXPECT_FALSE(rule.toSource("user:42").has_value());
    EXPECT_FALSE(rule.toSource("other").has_value());
    EXPECT_FALSE(rule.toTarget("u:42").has_value());
    EXPECT_TRUE(rule.renames());
    EXPECT_FALSE(KeyRule::prefix("k:", "k:").renames());
    EXPECT_EQ(rule.describe(), "prefix 'user:' -> 'u:'");
    // An empty prefix adds one.
    auto add = KeyRule::prefix("", "v2:");
    EXPECT_EQ(add.toTarget("x"), "v2:x");
    EXPECT_EQ(add.toSource("v2:x"), "x");
    EXPECT_FALSE(add.toSource("x").has_value());
}

TEST(KeyRuleTest, ARegexRuleFillsTheTemplateAndIsReversedExactly) {
    auto rule = KeyRule::regex(R"(^user:(\d+)$)", "u:$1");
    EXPECT_EQ(rule.toTarget("user:42"), "u:42");
    EXPECT_EQ(rule.toSource("u:42"), "user:42");
    EXPECT_FALSE(rule.toSource("u:abc").has_value()) << "the inverse matches with the group's own pattern";
    EXPECT_FALSE(rule.toSource("u:42x").has_value()) << "the whole key must match";
    EXPECT_FALSE(rule.toTarget("user:42x").has_value());
    EXPECT_FALSE(rule.toTarget("xuser:42").has_value());
    EXPECT_TRUE(rule.renames());
    EXPECT_EQ(rule.describe(), R"(regex '^user:(\d+)$' -> 'u:$1')");
}

TEST(KeyRuleTest, ARegexRuleMayReorderGroupsAndEscapeLiterals) {
    auto rule = KeyRule::regex(R"(^(\w+)\.v1/(\d+)$)", "v2:$2:$1");
    EXPECT_EQ(rule.toTarget("cart.v1/7"), "v2:7:cart");
    EXPECT_EQ(rule.toSource("v2:7:cart"), "cart.v1/7");
    EXPECT_FALSE(rule.toSource("v2:x:cart").has_value());

    auto dollars = KeyRule::regex(R"(price\$(\d+))", "cost$$:$1");
    EXPECT_EQ(dollars.toTarget("price$5"), "cost$:5");
    EXPECT_EQ(dollars.toSource("cost$:5"), "price$5");

    // Special characters in the template are literal in its inverse.
    auto dots = KeyRule::regex("a:([a-z]+)", "x.(y)*+?[z]{1}|^:$1");
    EXPECT_EQ(dots.toTarget("a:bc"), "x.(y)*+?[z]{1}|^:bc");
    EXPECT_EQ(dots.toSource("x.(y)*+?[z]{1}|^:bc"), "a:bc");
    EXPECT_FALSE(dots.toSource("xx(y)*+?[z]{1}|^:bc").has_value());

    // Groups may hold alternatives, classes and non-capturing groups.
    auto inner = KeyRule::regex(R"(s:((?:ab|cd)[)(]x))", "t:$1");
    EXPECT_EQ(inner.toTarget("s:cd)x"), "t:cd)x");
    EXPECT_EQ(inner.toSource("t:ab(x"), "s:ab(x");
}

// A rule and the inverse rule an operator writes for the reverse route agree key for key.
TEST(KeyRuleTest, TheInverseRuleOfTheReverseRouteUndoesTheRuleForGeneratedKeys) {
    auto forward = KeyRule::regex(R"(^user:(\d+):(\w+)$)", "u:$2:$1");
    auto reverse = KeyRule::regex(R"(^u:(\w+):(\d+)$)", "user:$2:$1");
    auto prefix = KeyRule::prefix("user:", "u:");
    auto prefix_reverse = KeyRule::prefix("u:", "user:");
    std::mt19937 rng(11);
    for (int i = 0; i < 1000; ++i) {
        std::string id = std::to_string(rng() % 100000), field;
        for (size_t n = 1 + rng() % 8; n > 0; --n) field += "abcXYZ_019"[rng() % 10];
        std::string source = "user:" + id + ":" + field;
        auto target = forward.toTarget(source);
        ASSERT_TRUE(target.has_value()) << source;
        EXPECT_EQ(*target, "u:" + field + ":" + id);
        EXPECT_EQ(forward.toSource(*target), source);
        EXPECT_EQ(reverse.toTarget(*target), source);
        EXPECT_EQ(reverse.toSource(source), *target);

        std::string any = randomBytes(rng, rng() % 30, false);
        EXPECT_EQ(prefix.toSource("u:" + any), "user:" + any);
        EXPECT_EQ(prefix_reverse.toTarget("u:" + any), "user:" + any);
        EXPECT_EQ(prefix.toTarget(*prefix.toSource("u:" + any)), "u:" + any);
    }
}

TEST(KeyRuleTest, ARegexRuleDoesNotCoverKeysOverTheLengthLimit) {
    auto rule = KeyRule::regex("k:(.*)", "t:$1");
    std::string tail(KeyRule::kMaxRegexKey - 2, 'x');
    EXPECT_TRUE(rule.toTarget("k:" + tail).has_value());
    EXPECT_FALSE(rule.toTarget("k:" + tail + "x").has_value());
    EXPECT_FALSE(rule.toSource("t:" + tail + "x").has_value());
}

// What cannot be reversed is refused when the config is loaded, naming the field.
TEST(KeyRuleTest, RefusesARegexRuleThatCannotBeReversed) {
    struct Bad {
        const char* regex;
        const char* to;
        const char* field;
        const char* says;
    };
    const std::vector<Bad> bad = {
        {R"(^user:(\d+)", "u:$1", "regex", "is not a valid regex"},
        {R"(^user:\d+$)", "u:", "regex", R"('\d' at offset 6 is not literal text: outside its capture groups)"},
        {"user:.*", "u:", "regex", "'.' at offset 5 is outside a capture group"},
        {"a|b", "u:", "regex", "'|' at offset 1 is outside a capture group"},
        {"(a)+", "u:$1", "regex", "capture group 1 is followed by the quantifier '+'"},
        {"(a(b))", "u:$1$2", "regex", "capture group inside a capture group at offset 2: write the inner one as (?:...)"},
        {"(?:a)(b)", "u:$1", "regex", "'(?' at offset 0 is not a capture group"},
        {R"((a)(b\1))", "$1$2", "regex", "the back-reference at offset 5"},
        {R"(a(\d))", "u:$2", "to", "uses $2 but the regex has 1 capture group"},
        {R"(a(\d))", "u:$1$1", "to", "uses $1 2 times: each capture group of the regex must appear exactly once"},
        {R"(a(\d)(\d))", "u:$2", "to", "does not use $1"},
        {R"(a(\d))", "u:$x$1", "to", "'$' at offset 2 must be followed by a group number 1-9, or by '$' for a '$'"},
        {R"(a(\d))", "u:$1$", "to", "'$' at offset 4 must be followed"},
        {"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "$1", "regex", "has 10 capture groups; at most 9"},
    };
    for (const auto& b : bad) {
        try {
            KeyRule::regex(b.regex, b.to);
            ADD_FAILURE() << b.regex << " -> " << b.to << " was accepted";
        } catch (const KeyRule::Invalid& e) {
            EXPECT_EQ(e.field(), b.field) << b.regex << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << b.regex << ": " << e.what();
        }
    }
}

TEST(KeyRuleTest, AcceptsAnchorsAndAnEscapedFinalDollar) {
    EXPECT_EQ(KeyRule::regex(R"(^a(\d)\$$)", "b$1").toTarget("a1$"), "b1");
    EXPECT_EQ(KeyRule::regex(R"(a(\d)\$)", "b$1").toSource("b1"), "a1$");
    EXPECT_EQ(KeyRule::regex(R"(a(\d)\\$)", "b$1").toSource("b1"), "a1\\") << "an escaped backslash, then the anchor";
}

}  // namespace
}  // namespace laminar::policy

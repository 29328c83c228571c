// SPDX-License-Identifier: Apache-2.0
#include "policy/value_codecs.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace laminar::policy {
namespace {

constexpr size_t kNoLimit = size_t{1} << 30;

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Valid UTF-8 text weighted toward what JSON escapes: control characters, quotes, backslashes,
// NUL, and characters of every UTF-8 length.
std::string randomText(std::mt19937& rng, size_t max_chars) {
    static const std::vector<uint32_t> kSpecial = {0, '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x1f, 0x7f, 0xe9, 0x20ac, 0x1f600, 0x10ffff};
    std::string out;
    size_t n = std::uniform_int_distribution<size_t>(0, max_chars)(rng);
    for (size_t i = 0; i < n; ++i) {
        uint32_t cp;
        switch (rng() % 4) {
            case 0: cp = kSpecial[rng() % kSpecial.size()]; break;
            case 1: cp = 0x20 + rng() % 0x5f; break;
            default:
                do cp = rng() % 0x110000;
                while (cp >= 0xD800 && cp <= 0xDFFF);
        }
        appendUtf8(out, cp);
    }
    return out;
}

std::string randomBytes(std::mt19937& rng, size_t n, bool compressible) {
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(compressible ? "abcab"[rng() % 5] : rng());
    return out;
}

std::string wrapped(std::string_view in) {
    std::string out, why;
    EXPECT_TRUE(jsonWrap(in, out, why)) << why;
    return out;
}

// The unwrapped value, or "refused: why".
std::string unwrapped(std::string_view in) {
    std::string out, why;
    return jsonUnwrap(in, out, why) ? out : "refused: " + why;
}

std::string compressed(std::string_view in) {
    std::string out, why;
    EXPECT_TRUE(zlibCompress(in, out, why)) << why;
    return out;
}

std::string decompressed(std::string_view in, size_t max_out = kNoLimit) {
    std::string out, why;
    return zlibDecompress(in, max_out, out, why) ? out : "refused: " + why;
}

// ------------------------------------------------------------------ json

TEST(CodecJsonTest, WrapsAStringExactlyAsJsonStringifyDoes) {
    EXPECT_EQ(wrapped("hello"), R"("hello")");
    EXPECT_EQ(wrapped(""), R"("")");
    EXPECT_EQ(wrapped(R"(a"b\c/d)"), R"("a\"b\\c/d")");
    EXPECT_EQ(wrapped("\b\f\n\r\t"), R"("\b\f\n\r\t")");
    EXPECT_EQ(wrapped(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
    EXPECT_EQ(wrapped("\x7f"), "\"\x7f\"");
    EXPECT_EQ(wrapped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(CodecJsonTest, WrapRefusesBytesThatAreNotUtf8NamingTheFirstBadByte) {
    const std::vector<std::pair<std::string, size_t>> bad = {
        {"\xff", 0},
        {"ab\xc3", 2},                // truncated sequence
        {"\xc0\xaf", 0},              // overlong '/'
        {"x\xed\xa0\x80", 1},         // a surrogate
        {"\xf4\x90\x80\x80", 0},      // past U+10FFFF
        {"ok\x80", 2},                // a lone continuation byte
        {"\xe2\x82", 0},
    };
    for (const auto& [in, at] : bad) {
        std::string out, why;
        EXPECT_FALSE(jsonWrap(in, out, why)) << in;
        EXPECT_EQ(invalidUtf8At(in), at) << in;
        EXPECT_NE(why.find("not valid UTF-8 (byte " + std::to_string(at)), std::string::npos) << why;
    }
    std::string out, why;
    EXPECT_FALSE(jsonWrap("\xff", out, why));
    EXPECT_EQ(why, "not valid UTF-8 (byte 0 is \\xff), and a JSON string holds text");
}

TEST(CodecJsonTest, UnwrapDecodesEveryEscape) {
    EXPECT_EQ(unwrapped(R"("hello")"), "hello");
    EXPECT_EQ(unwrapped(R"("")"), "");
    EXPECT_EQ(unwrapped(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
    EXPECT_EQ(unwrapped(R"("\u0041\u00e9\u20AC")"), "A\xc3\xa9\xe2\x82\xac");
    EXPECT_EQ(unwrapped(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");
    EXPECT_EQ(unwrapped(R"("\u0000")"), std::string(1, '\0'));
    EXPECT_EQ(unwrapped("\"caf\xc3\xa9\""), "caf\xc3\xa9");
    EXPECT_EQ(unwrapped(" \t\r\n\"x\" \n"), "x") << "JSON whitespace around the value is allowed";
}

TEST(CodecJsonTest, UnwrapRefusesAnythingButOneJsonString) {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"a":1})", "refused: not a JSON string (starts with '{')"},
        {"42", "refused: not a JSON string (starts with '4')"},
        {"null", "refused: not a JSON string (starts with 'n')"},
        {"'x'", "refused: not a JSON string (starts with \\x27)"},
        {"", "refused: empty, not a JSON string"},
        {"  ", "refused: empty, not a JSON string"},
        {R"("abc)", "refused: unterminated JSON string"},
        {R"("abc\)", "refused: unterminated JSON string"},
        {R"("a"x)", "refused: more after the JSON string (byte 3 is 'x')"},
        {R"("a" "b")", "refused: more after the JSON string (byte 4 is '\"')"},
        {R"("\x")", "refused: unknown escape at byte 1 ('x' after the backslash)"},
        {R"("\u12")", "refused: bad \\u escape at byte 1"},
        {R"("\u12g4")", "refused: bad \\u escape at byte 1"},
        {R"("\ud800")", "refused: lone surrogate \\ud800 at byte 1, which UTF-8 cannot hold"},
        {R"("\ud800\u0041")", "refused: lone surrogate \\ud800 at byte 1, which UTF-8 cannot hold"},
        {R"("\udc00")", "refused: lone surrogate \\udc00 at byte 1, which UTF-8 cannot hold"},
        {"\"a\nb\"", "refused: unescaped control character \\x0a at byte 2 of the JSON string"},
        {"\"\xff\"", "refused: not valid UTF-8 (byte 1 is \\xff), so not JSON"},
    };
    for (const auto& [in, want] : bad) EXPECT_EQ(unwrapped(in), want) << in;
}

TEST(CodecJsonTest, UnwrapUndoesWrapForGeneratedText) {
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
        auto text = randomText(rng, 40);
        auto json = wrapped(text);
        ASSERT_EQ(unwrapped(json), text) << json;
        ASSERT_EQ(invalidUtf8At(json), std::string_view::npos);
        // What wrap makes is canonical: wrapping what unwrap gave makes it again.
        ASSERT_EQ(wrapped(unwrapped(json)), json);
        for (char c : json) ASSERT_FALSE(static_cast<unsigned char>(c) < 0x20) << "a raw control character in " << json;
    }
}

TEST(CodecJsonTest, ValidatesUtf8LikeTheStandard) {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(invalidUtf8At(randomText(rng, 20)), std::string_view::npos);
    EXPECT_EQ(invalidUtf8At(""), std::string_view::npos);
    EXPECT_EQ(invalidUtf8At("\xef\xbf\xbf"), std::string_view::npos);      // U+FFFF
    EXPECT_EQ(invalidUtf8At("\xf4\x8f\xbf\xbf"), std::string_view::npos);  // U+10FFFF
    EXPECT_EQ(invalidUtf8At("\xe0\x80\x80"), 0u);                          // overlong NUL
    EXPECT_EQ(invalidUtf8At("\xf5\x80\x80\x80"), 0u);
}

// ------------------------------------------------------------------ zlib

TEST(CodecZlibTest, DecompressUndoesCompressForGeneratedValues) {
    std::mt19937 rng(1);
    for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{100}, size_t{4095}, size_t{4096}, size_t{70000}, size_t{1} << 20}) {
        for (bool compressible : {false, true}) {
            auto value = randomBytes(rng, n, compressible);
            auto z = compressed(value);
            ASSERT_EQ(decompressed(z), value) << n;
            if (compressible && n >= 4096) {
                EXPECT_LT(z.size(), n / 2);
            }
        }
    }
}

TEST(CodecZlibTest, SpeaksPlainZlibBothWays) {
    std::string value(10000, 'x');
    auto z = compressed(value);
    ASSERT_GE(z.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x78) << "a zlib header (RFC 1950)";
    std::string back(value.size(), '\0');
    uLongf size = back.size();
    ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(back.data()), &size, reinterpret_cast<const Bytef*>(z.data()), z.size()), Z_OK);
    EXPECT_EQ(back, value);

    // What another zlib made at another level.
    std::string other(compressBound(value.size()), '\0');
    size = other.size();
    ASSERT_EQ(compress2(reinterpret_cast<Bytef*>(other.data()), &size, reinterpret_cast<const Bytef*>(value.data()), value.size(), 9),
              Z_OK);
    other.resize(size);
    EXPECT_EQ(decompressed(other), value);
}

TEST(CodecZlibTest, DecompressRefusesWhatIsNotOneWholeZlibStream) {
    auto z = compressed("some value that is long enough to compress, some value that is long enough");
    EXPECT_EQ(decompressed("hello"), "refused: not a zlib stream: incorrect header check");
    EXPECT_EQ(decompressed(""), "refused: truncated zlib stream");
    EXPECT_EQ(decompressed(z.substr(0, z.size() - 3)), "refused: truncated zlib stream");
    EXPECT_EQ(decompressed(z + "xy"), "refused: 2 bytes follow the end of the zlib stream");
    std::string corrupt = z;
    corrupt[z.size() / 2] = static_cast<char>(corrupt[z.size() / 2] ^ 0x55);
    EXPECT_EQ(decompressed(corrupt).rfind("refused: not a zlib stream: ", 0), 0u) << decompressed(corrupt);
}

TEST(CodecZlibTest, StopsAZipBombAtTheLimitWithoutInflatingIt) {
    std::string zeros(64u << 20, '\0');
    auto bomb = compressed(zeros);
    zeros = {};
    ASSERT_LT(bomb.size(), 100'000u);
    std::string out, why;
    EXPECT_FALSE(zlibDecompress(bomb, 1u << 20, out, why));
    EXPECT_EQ(why, "decompresses to more than the 1048576 bytes allowed");
    EXPECT_LE(out.capacity(), 3u << 20) << "the output may not grow past the limit";
}

TEST(CodecZlibTest, AcceptsAValueOfExactlyTheLimit) {
    std::string value(5000, 'v');
    auto z = compressed(value);
    EXPECT_EQ(decompressed(z, 5000), value);
    EXPECT_EQ(decompressed(z, 4999), "refused: decompresses to more than the 4999 bytes allowed");
    EXPECT_EQ(decompressed(compressed(""), 0), "");
}

// ------------------------------------------------------------------ codecs by name

TEST(CodecTest, NamesAndInversesAreThoseOfTheConfig) {
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {"identity", "identity"}, {"json_wrap", "json_unwrap"}, {"json_unwrap", "json_wrap"},
        {"zlib_compress", "zlib_decompress"}, {"zlib_decompress", "zlib_compress"}};
    for (const auto& [name, inverse] : pairs) {
        auto c = codecByName(name);
        ASSERT_TRUE(c.has_value()) << name;
        EXPECT_EQ(codecName(*c), name);
        EXPECT_EQ(codecName(inverseCodec(*c)), inverse);
        EXPECT_EQ(inverseCodec(inverseCodec(*c)), *c);
    }
    EXPECT_FALSE(codecByName("gzip").has_value());
    EXPECT_FALSE(codecByName("JSON_WRAP").has_value());
    EXPECT_EQ(codecNames(), "identity, json_wrap, json_unwrap, zlib_compress, zlib_decompress");
}

// The reverse migration runs the inverse codec on what the forward one wrote.
TEST(CodecTest, EveryCodecsInverseGivesTheOriginalBytesBack) {
    std::mt19937 rng(3);
    for (auto name : {"identity", "json_wrap", "json_unwrap", "zlib_compress", "zlib_decompress"}) {
        Codec c = *codecByName(name);
        for (int i = 0; i < 200; ++i) {
            // An original the codec accepts: text for json_wrap, anything for identity and compress;
            // for the unwrapping codecs, what their inverse made.
            std::string original = randomText(rng, 30);
            if (c == Codec::kIdentity || c == Codec::kZlibCompress) original += randomBytes(rng, rng() % 20, false);
            std::string why;
            if (c == Codec::kJsonUnwrap || c == Codec::kZlibDecompress) {
                std::string made;
                ASSERT_TRUE(convertValue(inverseCodec(c), original, kNoLimit, made, why)) << why;
                original = made;
            }
            std::string there, back;
            ASSERT_TRUE(convertValue(c, original, kNoLimit, there, why)) << name << ": " << why;
            ASSERT_TRUE(convertValue(inverseCodec(c), there, kNoLimit, back, why)) << name << ": " << why;
            ASSERT_EQ(back, original) << name;
        }
    }
}

TEST(CodecTest, RefusesAResultLargerThanTheLimit) {
    std::string out, why;
    EXPECT_FALSE(convertValue(Codec::kJsonWrap, std::string(10, '\x01'), 20, out, why));
    EXPECT_EQ(why, "the result would be 62 bytes, more than the 20 allowed");
    EXPECT_FALSE(convertValue(Codec::kIdentity, "abc", 2, out, why));
    EXPECT_TRUE(convertValue(Codec::kIdentity, "abc", 3, out, why));
    EXPECT_EQ(out, "abc");
}

}  // namespace
}  // namespace laminar::policy

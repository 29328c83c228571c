// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/dump_payload.h"

#include <gtest/gtest.h>

#include <string>

namespace laminar::backend::memcached {
namespace {

// A literal's bytes, NULs included.
template <size_t N>
std::string bytes(const char (&s)[N]) {
    return std::string(s, N - 1);
}

// Payloads DUMP returned on Redis 7.0.15 (RDB version 10).
const std::string kHello = bytes("\x00\x05\x68\x65\x6c\x6c\x6f\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a");
const std::string kEmpty = bytes("\x00\x00\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda");
const std::string kInt12345 = bytes("\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9");
const std::string kIntMinus7 = bytes("\x00\xc0\xf9\x0a\x00\x5e\x26\xd1\x30\xd7\xa2\x42\xab");
const std::string kInt100000 = bytes("\x00\xc2\xa0\x86\x01\x00\x0a\x00\xf1\x24\x03\x50\x6f\x2f\xa6\x74");
const std::string kLzf200a =  // 200 'a', LZF-compressed
    bytes("\x00\xc3\x09\x40\xc8\x01\x61\x61\xe0\xbb\x00\x01\x61\x61\x0a\x00\x1f\x99\xf7\x2e\x01\xb2\x0d\xe3");
const std::string kListOfX =  // RPUSH l x
    bytes("\x12\x01\x02\x0a\x0a\x00\x00\x00\x01\x00\x81\x78\x02\xff\x0a\x00\xd1\x7b\x3f\xb8\x5c\x03\x06\x0e");

std::string decoded(const std::string& payload) {
    std::string value, why;
    EXPECT_TRUE(decodeStringDump(payload, value, why)) << why;
    return value;
}

std::string refusal(const std::string& payload) {
    std::string value, why;
    EXPECT_FALSE(decodeStringDump(payload, value, why));
    return why;
}

// CRC-64/REDIS (Jones, reflected, init 0): redis/src/crc64.c gives this check value.
TEST(DumpPayloadTest, Crc64IsRedissJonesVariant) {
    EXPECT_EQ(crc64(0, "123456789"), 0xe9c6d914c4b8d9caull);
    EXPECT_EQ(crc64(0, ""), 0u);
    EXPECT_EQ(crc64(crc64(0, "1234"), "56789"), 0xe9c6d914c4b8d9caull) << "it continues across pieces";
}

TEST(DumpPayloadTest, EncodesStringsExactlyAsRedisDumpsThem) {
    EXPECT_EQ(encodeStringDump("hello"), kHello);
    EXPECT_EQ(encodeStringDump(""), kEmpty);
    // Redis 7.0.15 with rdbcompression off: 14-bit and 32-bit lengths.
    EXPECT_EQ(encodeStringDump(std::string(100, 'a')),
              bytes("\x00\x40\x64") + std::string(100, 'a') + bytes("\x0a\x00\xaf\xa7\xa1\xbf\x69\x71\x70\x45"));
    EXPECT_EQ(encodeStringDump(std::string(20000, 'a')),
              bytes("\x00\x80\x00\x00\x4e\x20") + std::string(20000, 'a') + bytes("\x0a\x00\x88\xe2\x08\x0e\x11\x1c\x80\x5f"));
    std::string all(256, '\0');
    for (int i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = static_cast<char>(i);
    EXPECT_EQ(encodeStringDump(all), bytes("\x00\x41\x00") + all + bytes("\x0a\x00\xa2\xfe\x30\xa4\x0f\x14\x6a\xbf"));
}

TEST(DumpPayloadTest, DecodesRawIntegerAndLzfStringsFromRedis) {
    EXPECT_EQ(decoded(kHello), "hello");
    EXPECT_EQ(decoded(kEmpty), "");
    EXPECT_EQ(decoded(kInt12345), "12345");
    EXPECT_EQ(decoded(kIntMinus7), "-7");
    EXPECT_EQ(decoded(kInt100000), "100000");
    EXPECT_EQ(decoded(kLzf200a), std::string(200, 'a'));
}

// Lengths on both sides of each RDB length encoding's limit (6, 14 and 32 bits).
TEST(DumpPayloadTest, WhatIsEncodedDecodesBack) {
    std::string binary("a\0b\r\n\xff", 6);
    for (size_t n : {size_t{0}, size_t{63}, size_t{64}, size_t{16383}, size_t{16384}, size_t{100000}}) {
        std::string value(n, '\0');
        for (size_t i = 0; i < n; ++i) value[i] = static_cast<char>((i * 131) ^ (i >> 7));
        EXPECT_EQ(decoded(encodeStringDump(value)), value) << n;
    }
    EXPECT_EQ(decoded(encodeStringDump(binary)), binary);
}

TEST(DumpPayloadTest, RefusesAPayloadWithAnyByteChanged) {
    for (size_t i = 0; i < kHello.size(); ++i) {
        std::string bad = kHello;
        bad[i] ^= 0x01;
        EXPECT_EQ(refusal(bad), "DUMP payload version or checksum are wrong") << "byte " << i;
    }
}

TEST(DumpPayloadTest, RefusesATruncatedPayload) {
    std::string payload = encodeStringDump("a value of some length");
    for (size_t n = 0; n < payload.size(); ++n) EXPECT_FALSE(refusal(payload.substr(0, n)).empty()) << n;
}

TEST(DumpPayloadTest, RefusesOtherTypesNamingThem) {
    EXPECT_EQ(refusal(kListOfX), "memcached stores strings only, this is a list value");
}

// A checksum that matches is not enough: the string must fill the body exactly.
TEST(DumpPayloadTest, RefusesBytesAfterTheString) {
    std::string body = bytes("\x00\x05hello!\x0a\x00");
    uint64_t crc = crc64(0, body);
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    EXPECT_EQ(refusal(body), "Bad data format");
}

// Payloads made by redis-server 7.0.15's DUMP.
std::string unhex(std::string_view hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

TEST(DumpPayloadTest, DecodesEachRedisStringEncoding) {
    struct Case {
        const char* hex;
        std::string value;
    } cases[] = {
        {"00c139300a009d94ea2793fc08b9", "12345"},                              // 16-bit integer
        {"00c0f90a005e26d130d7a242ab", "-7"},                                   // 8-bit integer
        {"000568656c6c6f0a006372df766534200a", "hello"},                        // raw
        {"000a333030303030303030300a00e7076b7954bb7947", "3000000000"},         // raw (too big for 32 bits)
        {"00c30b405a0361626361e04b020162630a00238036f9e2d0c780", ""},           // LZF
    };
    std::string abc;
    for (int i = 0; i < 10; ++i) abc += "abcabcabc";
    cases[4].value = abc;
    for (const auto& c : cases) {
        std::string value, why;
        EXPECT_TRUE(decodeStringDump(unhex(c.hex), value, why)) << c.hex << ": " << why;
        EXPECT_EQ(value, c.value);
    }
}

TEST(DumpPayloadTest, RefusesOtherTypesByName) {
    std::string value, why;
    EXPECT_FALSE(decodeStringDump(unhex("100d0d0000000200816602817602ff0a0020f13d442354089d"), value, why));
    EXPECT_EQ(why, "memcached stores strings only, this is a hash value");
    EXPECT_FALSE(decodeStringDump("short", value, why));
}

}  // namespace
}  // namespace laminar::backend::memcached

// SPDX-License-Identifier: Apache-2.0
#include "queue/frame.h"

#include <gtest/gtest.h>

#include <string>

#include "queue/crc32c.h"

namespace laminar::queue {
namespace {

FrameHeader headerOf(uint64_t seq, int64_t unix_ms, std::string_view data) {
    auto bytes = encodeHeader(seq, unix_ms, static_cast<uint32_t>(data.size()), dataChecksum(data));
    return decodeHeader(bytes.data());
}

TEST(FrameTest, DecodeReadsBackWhatEncodeWrote) {
    std::string data = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    FrameHeader h = headerOf(0x0102030405060708ull, -42, data);
    EXPECT_EQ(h.len, data.size());
    EXPECT_EQ(h.seq, 0x0102030405060708ull);
    EXPECT_EQ(h.unix_ms, -42);
    EXPECT_TRUE(checksumMatches(h, data));
}

// The layout of frame.h: [u32 len][u32 crc][u64 seq][i64 unix_ms], little-endian.
TEST(FrameTest, HeaderIsLittleEndianInTheDocumentedOrder) {
    auto b = encodeHeader(0x1122334455667788ull, 0x0a0b0c0d, 0x01020304, 0);
    ASSERT_EQ(b.size(), kFrameHeaderBytes);
    EXPECT_EQ(static_cast<unsigned char>(b[0]), 0x04);
    EXPECT_EQ(static_cast<unsigned char>(b[3]), 0x01);
    EXPECT_EQ(static_cast<unsigned char>(b[8]), 0x88);
    EXPECT_EQ(static_cast<unsigned char>(b[15]), 0x11);
    EXPECT_EQ(static_cast<unsigned char>(b[16]), 0x0d);
    EXPECT_EQ(static_cast<unsigned char>(b[19]), 0x0a);
    EXPECT_EQ(static_cast<unsigned char>(b[20]), 0x00);
}

TEST(FrameTest, DataChecksumIsTheCrc32cOfTheData) {
    EXPECT_EQ(dataChecksum("123456789"), 0xe3069283u);  // CRC-32C's check value
    EXPECT_EQ(dataChecksum(""), 0u);
}

// frame.h: the header's crc is the CRC-32C of data, then seq and unix_ms (8 bytes each, LE).
TEST(FrameTest, HeaderChecksumCoversDataThenSeqThenTime) {
    std::string data = "abc";
    unsigned char meta[16] = {0x05, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 0, 0, 0, 0, 0, 0};  // seq 5, 1000 ms
    uint32_t want = crc32c(crc32c(0, data.data(), data.size()), meta, sizeof meta);
    EXPECT_EQ(headerOf(5, 1000, data).crc, want);
}

TEST(FrameTest, ChecksumFailsWhenTheDataChanges) {
    std::string data = "hello, journal";
    FrameHeader h = headerOf(7, 1700000000000, data);
    std::string changed = data;
    changed[3] ^= 0x01;
    EXPECT_FALSE(checksumMatches(h, changed));
    EXPECT_FALSE(checksumMatches(h, data.substr(0, data.size() - 1))) << "shorter than len";
    EXPECT_FALSE(checksumMatches(h, data + "!")) << "longer than len";
}

// The checksum covers seq and unix_ms too, so a header whose fields were damaged is caught.
TEST(FrameTest, ChecksumFailsWhenSeqOrTimeChanges) {
    std::string data = "payload";
    FrameHeader h = headerOf(7, 1700000000000, data);
    ASSERT_TRUE(checksumMatches(h, data));
    FrameHeader seq = h;
    seq.seq = 8;
    EXPECT_FALSE(checksumMatches(seq, data));
    FrameHeader time = h;
    time.unix_ms += 1;
    EXPECT_FALSE(checksumMatches(time, data));
    FrameHeader crc = h;
    crc.crc ^= 0x80000000u;
    EXPECT_FALSE(checksumMatches(crc, data));
}

TEST(FrameTest, EmptyDataMakesAValidRecord) {
    FrameHeader h = headerOf(1, 0, "");
    EXPECT_EQ(h.len, 0u);
    EXPECT_TRUE(checksumMatches(h, ""));
    EXPECT_FALSE(checksumMatches(h, "x"));
}

}  // namespace
}  // namespace laminar::queue

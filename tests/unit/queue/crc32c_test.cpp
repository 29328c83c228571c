// SPDX-License-Identifier: Apache-2.0
#include "queue/crc32c.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace laminar::queue {
namespace {

// The check value of CRC-32C (RFC 3720, appendix B.4 has more vectors).
TEST(Crc32cTest, MatchesTheStandardCheckValueAndVectors) {
    EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
    EXPECT_EQ(crc32c(0, "", 0), 0u);
    std::string zeros(32, '\0'), ones(32, '\xff');
    EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);
    EXPECT_EQ(crc32c(0, ones.data(), ones.size()), 0x62A8AB43u);
}

// Continuing over two pieces equals one pass, at every split (the 8-byte and 1-byte paths).
TEST(Crc32cTest, ContinuesAcrossPieces) {
    std::string s = "laminar keeps what it acknowledged, on its own disk";
    uint32_t whole = crc32c(0, s.data(), s.size());
    for (size_t cut = 0; cut <= s.size(); ++cut) EXPECT_EQ(crc32c(crc32c(0, s.data(), cut), s.data() + cut, s.size() - cut), whole) << cut;
}

// The table version (CPUs without SSE4.2) gives the same checksums, so a journal moves between hosts.
TEST(Crc32cTest, TheTableVersionAgreesWithTheOneInUse) {
    EXPECT_EQ(crc32cPortable(0, "123456789", 9), 0xE3069283u);
    std::string s;
    for (int i = 0; i < 1000; ++i) s.push_back(static_cast<char>(i * 7));
    for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 1000}) EXPECT_EQ(crc32cPortable(0, s.data(), n), crc32c(0, s.data(), n)) << n;
}

}  // namespace
}  // namespace laminar::queue

// SPDX-License-Identifier: Apache-2.0
#include "backend/cluster/slots.h"

#include <gtest/gtest.h>

namespace laminar::backend::cluster {
namespace {

TEST(ClusterSlots, KeySlotIsRedisClusterHashSlot) {
    // Values from the Redis Cluster specification and `CLUSTER KEYSLOT` on redis 7.0.
    EXPECT_EQ(keySlot("123456789"), 0x31C3 % 16384);
    EXPECT_EQ(keySlot("foo"), 12182);
    EXPECT_EQ(keySlot("bar"), 5061);
    EXPECT_EQ(keySlot(""), 0);
    // Hash tags: the first {...} with something inside.
    EXPECT_EQ(keySlot("{user1000}.following"), keySlot("{user1000}.followers"));
    EXPECT_EQ(keySlot("{user1000}.following"), keySlot("user1000"));
    EXPECT_EQ(keySlot("foo{}{bar}"), keySlot("foo{}{bar}")) << "an empty tag: the whole key";
    EXPECT_NE(keySlot("foo{}{bar}"), keySlot("bar"));
    EXPECT_EQ(keySlot("foo{{bar}}zap"), keySlot("{bar"));
    EXPECT_EQ(keySlot("foo{bar}{zap}"), keySlot("bar"));
    EXPECT_EQ(keySlot("no{close"), keySlot(std::string_view("no{close")));
}

TEST(ClusterSlots, SlotTagPutsAKeyOnEverySlot) {
    for (int slot = 0; slot < kSlots; ++slot) {
        auto s = static_cast<uint16_t>(slot);
        ASSERT_EQ(keySlot("laminar:canary:cl:{" + std::to_string(slotTag(s)) + "}"), s);
    }
    EXPECT_EQ(slotTag(keySlot("0")), 0u);  // the smallest number that lands there
}

TEST(ClusterSlots, ParsesClusterSlotsWithMastersSortedAndReplicasIgnored) {
    std::string raw =
        "*2\r\n"
        "*4\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n"
        "*3\r\n:8192\r\n:16383\r\n*3\r\n$0\r\n\r\n:7000\r\n$2\r\nid\r\n";
    SlotMap map;
    std::string error;
    ASSERT_TRUE(parseClusterSlots(raw, {"10.0.0.9", 7000}, map, error)) << error;
    ASSERT_EQ(map.masters.size(), 2u);
    EXPECT_EQ(map.masters[0].str(), "10.0.0.9:7000") << "an empty host is the node asked";
    EXPECT_EQ(map.masters[1].str(), "127.0.0.1:7001");
    EXPECT_EQ(map.master(0)->port, 7001);
    EXPECT_EQ(map.master(8191)->port, 7001);
    EXPECT_EQ(map.master(8192)->port, 7000);
    EXPECT_EQ(map.covered(), 16384);
    EXPECT_FALSE(parseClusterSlots("-ERR This instance has cluster support disabled\r\n", {"h", 1}, map, error));
    EXPECT_EQ(error, "ERR This instance has cluster support disabled");
    EXPECT_FALSE(parseClusterSlots("*1\r\n*2\r\n:0\r\n:5\r\n", {"h", 1}, map, error));
}

TEST(ClusterSlots, ParsesMovedAndAsk) {
    auto m = parseRedirect("-MOVED 3999 127.0.0.1:6381\r\n", {"127.0.0.1", 6379});
    EXPECT_EQ(m.kind, Redirect::Kind::kMoved);
    EXPECT_EQ(m.slot, 3999);
    EXPECT_EQ(m.to.str(), "127.0.0.1:6381");
    auto a = parseRedirect("-ASK 12 :7002\r\n", {"10.1.1.1", 7000});
    EXPECT_EQ(a.kind, Redirect::Kind::kAsk);
    EXPECT_EQ(a.to.str(), "10.1.1.1:7002");
    EXPECT_EQ(parseRedirect("-ERR MOVED 1 h:1\r\n", {"h", 1}).kind, Redirect::Kind::kNone);
    EXPECT_EQ(parseRedirect("-MOVED 99999 h:1\r\n", {"h", 1}).kind, Redirect::Kind::kNone);
    EXPECT_EQ(parseRedirect("-MOVED 1 h:0\r\n", {"h", 1}).kind, Redirect::Kind::kNone);
    EXPECT_EQ(parseRedirect("-MOVED x\r\n", {"h", 1}).kind, Redirect::Kind::kNone);
}

}  // namespace
}  // namespace laminar::backend::cluster

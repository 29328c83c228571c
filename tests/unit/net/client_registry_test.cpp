// SPDX-License-Identifier: Apache-2.0
#include "net/client_registry.h"

#include <gtest/gtest.h>

namespace laminar::net {
namespace {

using namespace std::chrono_literals;

TEST(ClientRegistryTest, AddedClientsAreFoundWithTheirAddresses) {
    ClientRegistry r;
    uint64_t id = r.add("10.0.0.1:5000", "127.0.0.1:6380");
    EXPECT_EQ(r.size(), 1u);
    ClientRegistry::Entry e;
    ASSERT_TRUE(r.find(id, e));
    EXPECT_EQ(e.id, id);
    EXPECT_EQ(e.addr, "10.0.0.1:5000");
    EXPECT_EQ(e.laddr, "127.0.0.1:6380");
    EXPECT_EQ(e.db, 0);
    EXPECT_EQ(e.resp, 2);
    EXPECT_FALSE(r.find(id + 1, e));
}

TEST(ClientRegistryTest, IdsAreUniqueAndIncreasingEvenAfterRemoval) {
    ClientRegistry r;
    uint64_t a = r.add("a", "l"), b = r.add("b", "l");
    EXPECT_GT(a, 0u) << "0 is no client";
    EXPECT_GT(b, a);
    r.remove(b);
    uint64_t c = r.add("c", "l");
    EXPECT_GT(c, b) << "an id is never given twice";
}

TEST(ClientRegistryTest, UpdateChangesTheStoredEntry) {
    ClientRegistry r;
    uint64_t id = r.add("a", "l");
    r.update(id, [](ClientRegistry::Entry& e) {
        e.name = "worker";
        e.db = 3;
    });
    ClientRegistry::Entry e;
    ASSERT_TRUE(r.find(id, e));
    EXPECT_EQ(e.name, "worker");
    EXPECT_EQ(e.db, 3);
    bool called = false;
    r.update(id + 100, [&](ClientRegistry::Entry&) { called = true; });
    EXPECT_FALSE(called) << "no entry, nothing to update";
}

TEST(ClientRegistryTest, RemoveForgetsTheClientOnce) {
    ClientRegistry r;
    uint64_t a = r.add("a", "l"), b = r.add("b", "l");
    r.remove(a);
    EXPECT_EQ(r.size(), 1u);
    ClientRegistry::Entry e;
    EXPECT_FALSE(r.find(a, e));
    EXPECT_TRUE(r.find(b, e));
    r.remove(a);
    EXPECT_EQ(r.size(), 1u) << "removing twice does not count twice";
}

TEST(ClientRegistryTest, ListIsInIdOrder) {
    ClientRegistry r;
    std::vector<uint64_t> ids;
    for (int i = 0; i < 20; ++i) ids.push_back(r.add("c" + std::to_string(i), "l"));
    r.remove(ids[7]);
    auto list = r.list();
    ASSERT_EQ(list.size(), 19u);
    for (size_t i = 1; i < list.size(); ++i) EXPECT_LT(list[i - 1].id, list[i].id);
    EXPECT_EQ(list[7].id, ids[8]);
}

// CLIENT LIST's fields (those laminar has) in Redis's order, age in whole seconds, one line.
TEST(ClientRegistryTest, FormatWritesOneClientListLine) {
    ClientRegistry::Entry e;
    e.id = 12;
    e.addr = "10.0.0.1:5000";
    e.laddr = "127.0.0.1:6380";
    e.name = "app";
    e.lib_name = "redis-py";
    e.lib_ver = "5.0.1";
    e.db = 2;
    e.resp = 3;
    auto now = std::chrono::steady_clock::now();
    e.since = now - 3500ms;
    std::string line = ClientRegistry::format(e, now);
    EXPECT_TRUE(line.starts_with("id=12 addr=10.0.0.1:5000 laddr=127.0.0.1:6380 ")) << line;
    ASSERT_TRUE(line.ends_with("\n")) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    size_t at = 0;
    for (const char* field : {" name=app ", " age=3 ", " db=2 ", " resp=3 ", " lib-name=redis-py ", " lib-ver=5.0.1\n"}) {
        size_t found = line.find(field, at);
        EXPECT_NE(found, std::string::npos) << field << " after byte " << at << " in " << line;
        if (found != std::string::npos) at = found;
    }
}

}  // namespace
}  // namespace laminar::net

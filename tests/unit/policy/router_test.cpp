// SPDX-License-Identifier: Apache-2.0
#include "policy/router.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace laminar::policy {
namespace {

Snapshot make() {
    return Snapshot(config::loadString(R"(backends:
  old: {address: 127.0.0.1:1}
  new: {address: 127.0.0.1:2}
routes:
  - name: users
    match: {keys: ["user:*"]}
    strategy: {type: proxy, target: new}
  - name: writes
    match: {commands: [write]}
    strategy: new
  - name: default
    strategy: old
)", "x"), 1);
}

const Route* routeOf(const Snapshot& s, std::vector<std::string_view> argv, std::string* err = nullptr) {
    const auto* cmd = resp::lookupCommand(argv);
    std::vector<int> keys;
    resp::keyIndices(*cmd, argv, keys);
    std::string e;
    const Route* r = s.route(*cmd, argv, keys, e);
    if (err) *err = e;
    return r;
}

TEST(RouterTest, FirstMatchingRouteWins) {
    auto s = make();
    EXPECT_EQ(routeOf(s, {"GET", "user:1"})->name, "users");
    EXPECT_EQ(routeOf(s, {"SET", "user:1", "x"})->name, "users");
    EXPECT_EQ(routeOf(s, {"SET", "other", "x"})->name, "writes");
    EXPECT_EQ(routeOf(s, {"GET", "other"})->name, "default");
}

TEST(RouterTest, KeylessCommandsGoToTheCatchAll) {
    auto s = make();
    EXPECT_EQ(routeOf(s, {"DBSIZE"})->name, "default");
    EXPECT_EQ(routeOf(s, {"SCAN", "0"})->name, "default");
}

TEST(RouterTest, RefusesACommandWhoseKeysSpanRoutesNamingThem) {
    auto s = make();
    std::string err;
    EXPECT_EQ(routeOf(s, {"MGET", "user:1", "other"}, &err), nullptr);
    EXPECT_EQ(err, "ERR laminar: 'mget' has keys in routes 'users' and 'default'; send them separately");
    EXPECT_EQ(routeOf(s, {"MGET", "user:1", "user:2"})->name, "users");
}

TEST(RouterTest, DescribesEachRouteStrategy) {
    auto s = make();
    EXPECT_EQ(s.routes()[0].strategy->describe(s.config()), "proxy -> new");
    EXPECT_EQ(s.routes()[2].strategy->describe(s.config()), "proxy -> old");
}

}  // namespace
}  // namespace laminar::policy

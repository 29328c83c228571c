// SPDX-License-Identifier: Apache-2.0
// `laminar copy --delete-extra`'s round over the target's keys (tools/copy.h, deleteExtraKeys),
// against scripted sides: what it deletes, and the key written on the source while it runs.
#include "tools/copy.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tools/sync_client.h"

namespace laminar::tools {
namespace {

// A side holding string keys, answering the commands copy sends. `before` runs before each
// command: another client writing meanwhile.
class FakeSide final : public SyncClient {
public:
    explicit FakeSide(std::string name) { name_ = std::move(name); }
    std::map<std::string, std::string> keys;
    std::map<std::string, std::string> errors;  // key -> error answered for any command on it
    std::function<void(const std::vector<std::string>&)> before = [](const std::vector<std::string>&) {};
    std::vector<std::string> log;

    Value call(const std::vector<std::string>& argv) override {
        before(argv);
        log.push_back(argv[0] + " " + argv[1]);
        const std::string& cmd = argv[0];
        const std::string& key = argv[1];
        if (auto e = errors.find(key); e != errors.end()) return make(Value::Kind::kError, e->second);
        bool has = keys.count(key) > 0;
        if (cmd == "EXISTS") return integer(has ? 1 : 0);
        if (cmd == "DEL") return integer(static_cast<long long>(keys.erase(key)));
        if (cmd == "PTTL") return integer(has ? -1 : -2);
        if (cmd == "DUMP") return has ? make(Value::Kind::kString, keys[key]) : Value{};
        if (cmd == "RESTORE") {
            if (has && (argv.size() < 5 || argv[4] != "REPLACE")) return make(Value::Kind::kError, "BUSYKEY Target key name already exists.");
            keys[key] = argv[3];
            return make(Value::Kind::kStatus, "OK");
        }
        return make(Value::Kind::kError, "ERR unknown command");
    }

private:
    static Value make(Value::Kind kind, std::string s) {
        Value v;
        v.kind = kind;
        v.str = std::move(s);
        return v;
    }
    static Value integer(long long n) {
        Value v;
        v.kind = Value::Kind::kInteger;
        v.integer = n;
        return v;
    }
};

TEST(CopyDeleteExtraTest, DeletesOnTheTargetTheKeysTheSourceLacksAndNoOther) {
    FakeSide src("old"), dst("new");
    src.keys = {{"s:1", "a"}, {"s:2", "b"}};
    dst.keys = {{"s:1", "a"}, {"s:2", "stale b"}, {"s:3", "gone from old"}, {"s:4", "gone too"}};
    CopyCounts n;
    std::map<std::string, uint64_t> reasons;
    deleteExtraKeys(src, dst, {"s:1", "s:2", "s:3", "s:4"}, false, n, reasons);
    EXPECT_EQ(dst.keys, (std::map<std::string, std::string>{{"s:1", "a"}, {"s:2", "stale b"}}));
    EXPECT_EQ(n.deleted, 2u);
    EXPECT_EQ(n.copied, 0u);
    EXPECT_EQ(n.failed, 0u);
    EXPECT_TRUE(reasons.empty());
}

TEST(CopyDeleteExtraTest, AKeyWrittenOnTheSourceBetweenItsCheckAndItsDeleteIsCopiedBack) {
    FakeSide src("old"), dst("new");
    dst.keys = {{"s:1", "stale"}, {"s:2", "stale"}};
    // The source gets s:1 just as the target is told to delete it: after the first EXISTS.
    dst.before = [&](const std::vector<std::string>& argv) {
        if (argv[0] == "DEL" && argv[1] == "s:1") src.keys["s:1"] = "written meanwhile";
    };
    CopyCounts n;
    std::map<std::string, uint64_t> reasons;
    deleteExtraKeys(src, dst, {"s:1", "s:2"}, false, n, reasons);
    EXPECT_EQ(dst.keys, (std::map<std::string, std::string>{{"s:1", "written meanwhile"}}));
    EXPECT_EQ(n.deleted, 1u) << "s:2 only";
    EXPECT_EQ(n.copied, 1u) << "s:1 came back";
    EXPECT_EQ(n.failed, 0u);
}

TEST(CopyDeleteExtraTest, AKeyTheSourceCannotBeAskedAboutIsLeftAndCountedFailed) {
    FakeSide src("old"), dst("new");
    src.errors["s:1"] = "LOADING Redis is loading the dataset in memory";
    dst.keys = {{"s:1", "maybe stale"}, {"s:2", "stale"}};
    CopyCounts n;
    std::map<std::string, uint64_t> reasons;
    deleteExtraKeys(src, dst, {"s:1", "s:2"}, false, n, reasons);
    EXPECT_EQ(dst.keys, (std::map<std::string, std::string>{{"s:1", "maybe stale"}}));
    EXPECT_EQ(n.deleted, 1u);
    EXPECT_EQ(n.failed, 1u);
    EXPECT_EQ(reasons["EXISTS on the source: LOADING Redis is loading the dataset in memory"], 1u);
}

TEST(CopyDeleteExtraTest, AKeyAlreadyGoneFromTheTargetIsNotCountedDeleted) {
    FakeSide src("old"), dst("new");
    dst.keys = {{"s:1", "stale"}};
    // Listed by the target's SCAN, then expired before its DEL.
    CopyCounts n;
    std::map<std::string, uint64_t> reasons;
    deleteExtraKeys(src, dst, {"s:1", "s:expired"}, false, n, reasons);
    EXPECT_TRUE(dst.keys.empty());
    EXPECT_EQ(n.deleted, 1u);
}

}  // namespace
}  // namespace laminar::tools

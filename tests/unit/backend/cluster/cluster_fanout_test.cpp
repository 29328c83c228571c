// SPDX-License-Identifier: Apache-2.0
// Cluster commands split over slots or sent to every master (src/backend/cluster/cluster_fanout.cpp).
// How one reply is made of the parts' (ClusterBackend::Fanout::merged): in the clients' key
// order, summed, +OK, concatenated or the first; the first error wins; a part that is not the
// reply expected is refused rather than merged wrong. Then the commands themselves against two
// scripted masters (scripted_cluster.h): what each master gets, and the reply the client gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "backend/cluster/cluster_internal.h"
#include "scripted_cluster.h"  // tests/unit/backend/cluster/scripted_cluster.h

namespace laminar::backend::cluster {
namespace {

using Fanout = ClusterBackend::Fanout;
using Merge = Fanout::Merge;

const std::string kUnexpected = "-ERR laminar: unexpected reply from a cluster node\r\n";

// A fan-out whose every part has answered: `replies[i]` (failed when `failed` holds i).
Fanout answered(Merge merge, std::vector<std::string> replies, std::vector<size_t> failed = {}) {
    Fanout f;
    f.merge = merge;
    f.failed.assign(replies.size(), false);
    for (size_t i : failed) f.failed[i] = true;
    f.replies = std::move(replies);
    return f;
}

struct Merged {
    std::string reply;
    bool failed;
};

Merged merge(const Fanout& f) {
    bool failed = true;
    std::string reply = f.merged(failed);
    return {reply, failed};
}

TEST(ClusterFanoutTest, ByKeyPutsEachKeysValueBackInTheClientsOrder) {
    // MGET a b c d: a and c on one slot (part 0), b and d on another (part 1).
    auto f = answered(Merge::kByKey, {"*2\r\n$2\r\nva\r\n$2\r\nvc\r\n", "*2\r\n$2\r\nvb\r\n$-1\r\n"});
    f.by_key = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
    auto m = merge(f);
    EXPECT_EQ(m.reply, "*4\r\n$2\r\nva\r\n$2\r\nvb\r\n$2\r\nvc\r\n$-1\r\n");
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, ByKeyKeepsValuesWithCrLfAndResp3Nulls) {
    auto f = answered(Merge::kByKey, {"*1\r\n$4\r\na\r\nb\r\n", "*2\r\n_\r\n$0\r\n\r\n"});
    f.by_key = {{1, 1}, {0, 0}, {1, 0}};
    EXPECT_EQ(merge(f).reply, "*3\r\n$0\r\n\r\n$4\r\na\r\nb\r\n_\r\n");
}

TEST(ClusterFanoutTest, ByKeyRefusesAPartWithFewerValuesThanKeys) {
    auto f = answered(Merge::kByKey, {"*1\r\n$1\r\na\r\n", "*1\r\n$1\r\nb\r\n"});
    f.by_key = {{0, 0}, {1, 0}, {1, 1}};
    auto m = merge(f);
    EXPECT_EQ(m.reply, kUnexpected);
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, ByKeyRefusesAPartThatIsNoArray) {
    auto f = answered(Merge::kByKey, {"*1\r\n$1\r\na\r\n", "+OK\r\n"});
    f.by_key = {{0, 0}, {1, 0}};
    EXPECT_EQ(merge(f).reply, kUnexpected);
}

TEST(ClusterFanoutTest, ByKeyRefusesATruncatedPart) {
    auto f = answered(Merge::kByKey, {"*2\r\n$1\r\na\r\n", "*1\r\n$1\r\nb\r\n"});
    f.by_key = {{0, 0}, {1, 0}};
    EXPECT_EQ(merge(f).reply, kUnexpected);
}

TEST(ClusterFanoutTest, SumAddsThePartsIntegers) {
    // DEL / EXISTS / DBSIZE over three masters.
    auto m = merge(answered(Merge::kSum, {":2\r\n", ":0\r\n", ":40\r\n"}));
    EXPECT_EQ(m.reply, ":42\r\n");
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, SumRefusesAPartThatIsNoInteger) {
    EXPECT_EQ(merge(answered(Merge::kSum, {":2\r\n", "$1\r\n3\r\n"})).reply, kUnexpected);
}

TEST(ClusterFanoutTest, AllOkIsOneOkWhenEveryPartIsFine) {
    auto m = merge(answered(Merge::kAllOk, {"+OK\r\n", "+OK\r\n"}));
    EXPECT_EQ(m.reply, "+OK\r\n");
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, ConcatJoinsThePartsArraysUnderOneHeader) {
    // KEYS * over three masters, one of them empty.
    auto m = merge(answered(Merge::kConcat, {"*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*0\r\n", "*1\r\n$1\r\nc\r\n"}));
    EXPECT_EQ(m.reply, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, ConcatTakesANullArrayAsEmpty) {
    EXPECT_EQ(merge(answered(Merge::kConcat, {"*-1\r\n", "*1\r\n$1\r\nc\r\n"})).reply, "*1\r\n$1\r\nc\r\n");
}

TEST(ClusterFanoutTest, ConcatRefusesAPartThatIsNoArray) {
    EXPECT_EQ(merge(answered(Merge::kConcat, {"*1\r\n$1\r\nc\r\n", ":1\r\n"})).reply, kUnexpected);
}

TEST(ClusterFanoutTest, FirstIsTheFirstPartsReply) {
    // SCRIPT LOAD on every master: each answers the same SHA1.
    auto m = merge(answered(Merge::kFirst, {"$3\r\nabc\r\n", "$3\r\nxyz\r\n"}));
    EXPECT_EQ(m.reply, "$3\r\nabc\r\n");
    EXPECT_FALSE(m.failed);
}

TEST(ClusterFanoutTest, ANodesErrorIsTheReplyAsItCameAndNoFailure) {
    for (auto merge_kind : {Merge::kByKey, Merge::kSum, Merge::kAllOk, Merge::kConcat, Merge::kFirst}) {
        auto f = answered(merge_kind, {"+OK\r\n", "-READONLY You can't write against a read only replica.\r\n"});
        f.by_key = {{0, 0}, {1, 0}};
        auto m = merge(f);
        EXPECT_EQ(m.reply, "-READONLY You can't write against a read only replica.\r\n") << static_cast<int>(merge_kind);
        EXPECT_FALSE(m.failed) << static_cast<int>(merge_kind);
    }
}

TEST(ClusterFanoutTest, AResp3BlobErrorIsAnErrorToo) {
    auto m = merge(answered(Merge::kSum, {":1\r\n", "!9\r\nERR oops!\r\n"}));
    EXPECT_EQ(m.reply, "!9\r\nERR oops!\r\n");
}

TEST(ClusterFanoutTest, APartThatFailedMakesTheWholeReplyAFailure) {
    std::string down = "-ERR laminar: backend 'cluster@127.0.0.1:7001' unavailable: connection refused\r\n";
    auto m = merge(answered(Merge::kSum, {":1\r\n", down}, {1}));
    EXPECT_EQ(m.reply, down);
    EXPECT_TRUE(m.failed);
}

TEST(ClusterFanoutTest, TheFirstErrorInPartOrderWins) {
    std::string down = "-ERR laminar: backend 'cluster@127.0.0.1:7001' unavailable: connection refused\r\n";
    auto m = merge(answered(Merge::kAllOk, {"+OK\r\n", "-ERR first\r\n", down}, {2}));
    EXPECT_EQ(m.reply, "-ERR first\r\n");
    EXPECT_FALSE(m.failed);
    m = merge(answered(Merge::kAllOk, {down, "-ERR second\r\n"}, {0}));
    EXPECT_EQ(m.reply, down);
    EXPECT_TRUE(m.failed);
}

// The masters answer MGET with "<who>:<key>" per key, MSET +OK, DEL and EXISTS with how many keys
// they were given, DBSIZE 3 (low) and 4 (high), KEYS their own key, and SCAN in two steps.
class ClusterFanoutSendTest : public testing::ScriptedCluster {
protected:
    ClusterFanoutSendTest() {
        answers = [](const std::string& who, const testing::Argv& argv) -> std::string {
            const auto& name = argv[0];
            if (name == "MGET") {
                std::string out = "*" + std::to_string(argv.size() - 1) + "\r\n";
                for (size_t i = 1; i < argv.size(); ++i) out += testing::bulk(who + ":" + argv[i]);
                return out;
            }
            if (name == "MSET" || name == "FLUSHALL") return "+OK\r\n";
            if (name == "DEL" || name == "EXISTS") return ":" + std::to_string(argv.size() - 1) + "\r\n";
            if (name == "DBSIZE") return who == "low" ? ":3\r\n" : ":4\r\n";
            if (name == "KEYS") return "*1\r\n" + testing::bulk(who);
            if (name == "SCAN") return "*2\r\n" + testing::bulk(argv[1] == "0" ? "9" : "0") + "*1\r\n" + testing::bulk(who + argv[1]);
            if (name == "SCRIPT") return testing::bulk("sha-" + who);
            return testing::bulk(who + ":" + argv.back());
        };
        start();
        runUntil([&] { return backend->coveredSlots() > 0; });
    }
    std::string reply(std::vector<std::string_view> args) { return call(testing::command(args)).first; }
    // The master a SCAN walks first: the masters in address order.
    bool lowFirst() const { return testing::where(low.port()) < testing::where(high.port()); }

    const std::string low_key2 = low_key + "2";  // the same slot: the hash tag
};

TEST_F(ClusterFanoutSendTest, MgetOverTwoSlotsIsOneMgetPerSlotMergedInTheClientsKeyOrder) {
    EXPECT_EQ(reply({"MGET", low_key, high_key, low_key2}),
              "*3\r\n" + testing::bulk("low:" + low_key) + testing::bulk("high:" + high_key) + testing::bulk("low:" + low_key2));
    EXPECT_EQ(low.received("MGET"), (std::vector<testing::Argv>{{"MGET", low_key, low_key2}}));
    EXPECT_EQ(high.received("MGET"), (std::vector<testing::Argv>{{"MGET", high_key}}));
}

TEST_F(ClusterFanoutSendTest, MsetOverTwoSlotsCarriesEachValueWithItsKey) {
    EXPECT_EQ(reply({"MSET", high_key, "1", low_key, "2", low_key2, "3"}), "+OK\r\n");
    EXPECT_EQ(low.received("MSET"), (std::vector<testing::Argv>{{"MSET", low_key, "2", low_key2, "3"}}));
    EXPECT_EQ(high.received("MSET"), (std::vector<testing::Argv>{{"MSET", high_key, "1"}}));
}

TEST_F(ClusterFanoutSendTest, DelAndExistsOverTwoSlotsAreSummed) {
    EXPECT_EQ(reply({"DEL", low_key, high_key, low_key2}), ":3\r\n");
    EXPECT_EQ(reply({"EXISTS", high_key, low_key}), ":2\r\n");
}

TEST_F(ClusterFanoutSendTest, OneKeyedCommandOnOneSlotIsNotSplit) {
    EXPECT_EQ(reply({"MGET", low_key, low_key2}), "*2\r\n" + testing::bulk("low:" + low_key) + testing::bulk("low:" + low_key2));
    EXPECT_TRUE(high.received("MGET").empty());
}

TEST_F(ClusterFanoutSendTest, AnotherCommandOverTwoSlotsIsCrossslotAndSentNowhere) {
    EXPECT_EQ(reply({"RENAME", low_key, high_key}), "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
    EXPECT_TRUE(low.received("RENAME").empty());
    EXPECT_TRUE(high.received("RENAME").empty());
}

TEST_F(ClusterFanoutSendTest, AnErrorFromOneSlotIsTheReply) {
    answers = [](const std::string& who, const testing::Argv& argv) -> std::string {
        if (who == "high") return "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
        return "*" + std::to_string(argv.size() - 1) + "\r\n" + std::string("$1\r\nv\r\n");
    };
    EXPECT_EQ(call(testing::command({"MGET", low_key, high_key})),
              std::make_pair(std::string("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"), false));
}

TEST_F(ClusterFanoutSendTest, DbsizeIsEveryMastersSum) {
    EXPECT_EQ(reply({"DBSIZE"}), ":7\r\n");
    EXPECT_EQ(low.received("DBSIZE").size(), 1u);
    EXPECT_EQ(high.received("DBSIZE").size(), 1u);
}

TEST_F(ClusterFanoutSendTest, KeysIsEveryMastersKeysUnderOneArray) {
    auto keys = reply({"KEYS", "*"});
    EXPECT_TRUE(keys == "*2\r\n" + testing::bulk("low") + testing::bulk("high") || keys == "*2\r\n" + testing::bulk("high") + testing::bulk("low"))
        << keys;
}

TEST_F(ClusterFanoutSendTest, FlushallGoesToEveryMasterAndIsOneOk) {
    EXPECT_EQ(reply({"FLUSHALL"}), "+OK\r\n");
    EXPECT_EQ(low.received("FLUSHALL").size(), 1u);
    EXPECT_EQ(high.received("FLUSHALL").size(), 1u);
}

TEST_F(ClusterFanoutSendTest, ScriptLoadGoesToEveryMasterAndTheFirstReplyIsTheClients) {
    auto sha = reply({"SCRIPT", "LOAD", "return 1"});
    EXPECT_TRUE(sha == testing::bulk("sha-low") || sha == testing::bulk("sha-high")) << sha;
    EXPECT_EQ(low.received("SCRIPT").size(), 1u);
    EXPECT_EQ(high.received("SCRIPT").size(), 1u);
}

TEST_F(ClusterFanoutSendTest, ScanWalksTheMastersInAddressOrderWithTheCursorSayingWhere) {
    const std::string first = lowFirst() ? "low" : "high", second = lowFirst() ? "high" : "low";
    // master 0: node cursor 0 -> 9, so laminar's 9 * 1024 + 0; then 9 -> 0: next master (1).
    EXPECT_EQ(reply({"SCAN", "0", "COUNT", "5"}), "*2\r\n" + testing::bulk("9216") + "*1\r\n" + testing::bulk(first + "0"));
    EXPECT_EQ(reply({"SCAN", "9216", "COUNT", "5"}), "*2\r\n" + testing::bulk("1") + "*1\r\n" + testing::bulk(first + "9"));
    EXPECT_EQ(reply({"SCAN", "1", "COUNT", "5"}), "*2\r\n" + testing::bulk("9217") + "*1\r\n" + testing::bulk(second + "0"));
    EXPECT_EQ(reply({"SCAN", "9217", "COUNT", "5"}), "*2\r\n" + testing::bulk("0") + "*1\r\n" + testing::bulk(second + "9"));
    const auto& first_node = lowFirst() ? low : high;
    EXPECT_EQ(first_node.received("SCAN"), (std::vector<testing::Argv>{{"SCAN", "0", "COUNT", "5"}, {"SCAN", "9", "COUNT", "5"}}));
}

TEST_F(ClusterFanoutSendTest, AScanCursorNamingNoMasterIsInvalid) {
    EXPECT_EQ(call(testing::command({"SCAN", "2"})), std::make_pair(std::string("-ERR invalid cursor\r\n"), false));
    EXPECT_EQ(reply({"SCAN", "abc"}), "-ERR invalid cursor\r\n");
    EXPECT_TRUE(low.received("SCAN").empty());
    EXPECT_TRUE(high.received("SCAN").empty());
}

}  // namespace
}  // namespace laminar::backend::cluster

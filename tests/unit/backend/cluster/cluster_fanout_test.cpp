// SPDX-License-Identifier: Apache-2.0
// How a cluster command split over slots (or sent to every master) gets one reply from its parts'
// (src/backend/cluster/cluster_fanout.cpp, ClusterBackend::Fanout::merged): in the clients' key
// order, summed, +OK, concatenated or the first; the first error wins; a part that is not the
// reply expected is refused rather than merged wrong.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "backend/cluster/cluster_internal.h"

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

}  // namespace
}  // namespace laminar::backend::cluster

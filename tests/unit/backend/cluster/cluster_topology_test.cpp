// SPDX-License-Identifier: Apache-2.0
// The cluster backend's slot map (src/backend/cluster/cluster_topology.cpp): loaded from a seed's
// CLUSTER SLOTS before the first command goes out, skipping a seed that refuses; -MOVED changes
// it at once and asks for a fresh one; -ASK does not; without a map, commands wait up to
// retry_window and then get the reason; a client's own connection goes where its first key is
// served. The nodes are scripted fakes (scripted_cluster.h).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "obs/logging.h"
#include "scripted_cluster.h"  // tests/unit/backend/cluster/scripted_cluster.h

namespace laminar::backend::cluster {
namespace {

using testing::Argv;
using testing::bulk;
using testing::command;
using testing::RefusingPort;
using testing::Replies;
using testing::where;
using namespace std::chrono_literals;

class ClusterTopologyTest : public testing::ScriptedCluster {};

TEST_F(ClusterTopologyTest, ACommandBeforeTheFirstMapWaitsForItAndGoesToItsSlotsMaster) {
    start();
    EXPECT_EQ(backend->coveredSlots(), 0);
    Replies sink;
    backend->send(1, command({"GET", high_key}), &sink);
    EXPECT_TRUE(sink.got.empty()) << "parked until the map is in";
    runUntil([&] { return !sink.got.empty(); });
    EXPECT_EQ(sink.got[0], std::make_pair(bulk("high:" + high_key), false));
    EXPECT_EQ(backend->coveredSlots(), 16384);
    EXPECT_EQ(low.received("CLUSTER"), (std::vector<Argv>{{"CLUSTER", "SLOTS"}})) << "the seed is asked once";
    EXPECT_TRUE(low.received("GET").empty());
}

TEST_F(ClusterTopologyTest, EachKeyGoesToTheMasterTheMapNames) {
    start();
    EXPECT_EQ(get(low_key), std::make_pair(bulk("low:" + low_key), false));
    EXPECT_EQ(get(high_key), std::make_pair(bulk("high:" + high_key), false));
    EXPECT_EQ(low.received("GET"), (std::vector<Argv>{{"GET", low_key}}));
    EXPECT_EQ(high.received("GET"), (std::vector<Argv>{{"GET", high_key}}));
    EXPECT_EQ(clusterSlotsAsked(), 1u) << "no redirect: no refresh";
}

TEST_F(ClusterTopologyTest, AMapCoveringHalfTheSlotsCountsHalf) {
    ranges = {{0, 8191, low.port()}};
    start();
    EXPECT_EQ(get(low_key).first, bulk("low:" + low_key));
    EXPECT_EQ(backend->coveredSlots(), 8192);
}

TEST_F(ClusterTopologyTest, AMapWithSlotsNoMasterServesIsDownSayingHowMany) {
    // The backend logger's lines, while this test runs.
    std::ostringstream lines;
    auto log = obs::logger("backend");
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(lines);
    log->sinks().push_back(sink);
    struct Unhook {
        std::shared_ptr<spdlog::logger> log;
        ~Unhook() { log->sinks().pop_back(); }
    } unhook{log};

    ranges = {{0, 8191, low.port()}};
    start();
    EXPECT_EQ(get(low_key).first, bulk("low:" + low_key));
    EXPECT_FALSE(backend->anyUp()) << "up needs every slot served";
    EXPECT_NE(lines.str().find("backend 'c' (redis_cluster, seeds " + where(low.port()) + ") is down: 8192 of 16384 slots have no master"),
              std::string::npos)
        << lines.str();
}

TEST_F(ClusterTopologyTest, AMovedIsFollowedTheSlotStaysWithItsNewMasterAndAFreshMapIsAsked) {
    // Slot `slot` moves from low to high: low answers MOVED from then on, and CLUSTER SLOTS
    // (whenever the backend asks) says so too.
    const uint16_t slot = keySlot(low_key);
    std::atomic<bool> moved{false};
    answers = [&](const std::string& who, const Argv& argv) {
        if (who == "low" && argv[0] == "GET") {
            moved = true;
            return "-MOVED " + std::to_string(slot) + " " + where(high.port()) + "\r\n";
        }
        return bulk(who + ":" + argv.back());
    };
    const Ranges after = {{0, slot - 1, low.port()}, {slot, slot, high.port()}, {slot + 1, 8191, low.port()}, {8192, 16383, high.port()}};
    slots_reply = [&] { return moved ? slots(after) : slots(); };
    start();
    EXPECT_EQ(get(high_key).first, bulk("high:" + high_key));  // the first map is in
    EXPECT_EQ(get(low_key), std::make_pair(bulk("high:" + low_key), false)) << "resent where the slot went";
    EXPECT_EQ(counters.moved.value(), 1u);
    EXPECT_EQ(get(low_key), std::make_pair(bulk("high:" + low_key), false));
    EXPECT_EQ(low.received("GET").size(), 1u) << "after the MOVED, straight to the new master";
    runUntil([&] { return clusterSlotsAsked() >= 2; });
    EXPECT_EQ(get(low_key), std::make_pair(bulk("high:" + low_key), false)) << "and so after the fresh map";
    EXPECT_EQ(counters.moved.value(), 1u);
}

TEST_F(ClusterTopologyTest, AnAskIsFollowedOnceAfterAskingAndMovesNoSlot) {
    const uint16_t slot = keySlot(low_key);
    int asked_low = 0;
    answers = [&](const std::string& who, const Argv& argv) {
        if (who == "low" && asked_low++ == 0) return "-ASK " + std::to_string(slot) + " " + where(high.port()) + "\r\n";
        return bulk(who + ":" + argv.back());
    };
    start();
    EXPECT_EQ(get(low_key), std::make_pair(bulk("high:" + low_key), false));
    EXPECT_EQ(high.received(), (std::vector<Argv>{{"PING"}, {"ASKING"}, {"GET", low_key}})) << "ASKING just before the command";
    EXPECT_EQ(counters.ask.value(), 1u);
    EXPECT_EQ(counters.moved.value(), 0u);
    EXPECT_EQ(get(low_key), std::make_pair(bulk("low:" + low_key), false)) << "the slot is still low's";
    EXPECT_EQ(clusterSlotsAsked(), 1u) << "an ASK asks for no fresh map";
}

TEST_F(ClusterTopologyTest, ASeedThatRefusesIsSkippedForTheNext) {
    RefusingPort dead;
    cfg.servers = {{"127.0.0.1", dead.port()}, high.at()};
    start();
    EXPECT_EQ(get(low_key), std::make_pair(bulk("low:" + low_key), false));
    EXPECT_EQ(high.received("CLUSTER").size(), 1u) << "the map came from the second seed";
}

TEST_F(ClusterTopologyTest, WithoutAMapACommandGetsTheReasonOnceRetryWindowHasPassed) {
    slots_reply = [] { return std::string("-ERR This instance has cluster support disabled\r\n"); };
    cfg.retry_window = 300ms;
    start();
    auto reply = get(low_key);
    EXPECT_EQ(reply, std::make_pair(std::string("-ERR laminar: backend 'c' unavailable: no slot map: ERR This instance has cluster support disabled\r\n"),
                                    true));
    EXPECT_EQ(backend->coveredSlots(), 0);
    EXPECT_GE(low.received("CLUSTER").size(), 2u) << "asked again while the command waited";
    EXPECT_TRUE(low.received("GET").empty());
}

TEST_F(ClusterTopologyTest, AnEmptyMapIsNoMap) {
    slots_reply = [] { return std::string("*0\r\n"); };
    cfg.retry_window = 300ms;
    start();
    EXPECT_EQ(get(low_key).first, "-ERR laminar: backend 'c' unavailable: no slot map: CLUSTER SLOTS from " + where(low.port()) + ": no slot is served\r\n");
}

TEST_F(ClusterTopologyTest, AMapThatComesWithinRetryWindowReleasesTheWaitingCommands) {
    int asked = 0;
    slots_reply = [&] { return asked++ == 0 ? std::string("-LOADING Redis is loading the dataset in memory\r\n") : slots(); };
    start();
    Replies a, b;
    backend->send(1, command({"GET", low_key}), &a);
    backend->send(2, command({"GET", high_key}), &b);
    runUntil([&] { return !a.got.empty() && !b.got.empty(); });
    EXPECT_EQ(a.got[0], std::make_pair(bulk("low:" + low_key), false));
    EXPECT_EQ(b.got[0], std::make_pair(bulk("high:" + high_key), false));
    EXPECT_EQ(backend->coveredSlots(), 16384);
}

// Contract 5: a client's own connection is bound to the master of the first key it names.
TEST_F(ClusterTopologyTest, AClientsOwnConnectionGoesToTheMasterOfItsFirstKeyAndRefusesAnotherMastersKeys) {
    start();
    runUntil([&] { return backend->coveredSlots() > 0; });
    auto conn = backend->acquireDedicated(false);
    EXPECT_EQ(sendOn(*conn, command({"GET", high_key})), std::make_pair(bulk("high:" + high_key), false));
    EXPECT_EQ(sendOn(*conn, command({"GET", low_key})),
              std::make_pair("-CROSSSLOT laminar: this client is held on cluster node " + where(high.port()) +
                                 " (MULTI, WATCH, a blocking command or pub/sub) and this command's keys are served by " + where(low.port()) +
                                 "\r\n",
                             false));
    EXPECT_TRUE(low.received("GET").empty());
    backend->releaseDedicated(std::move(conn), false);
}

TEST_F(ClusterTopologyTest, MultiIsAnsweredAtOnceAndReplayedOnTheMasterOfTheFirstKey) {
    start();
    runUntil([&] { return backend->coveredSlots() > 0; });
    auto conn = backend->acquireDedicated(false);
    Replies multi;
    conn->send(command({"MULTI"}), &multi, false);
    EXPECT_EQ(multi.got, (std::vector<std::pair<std::string, bool>>{{"+OK\r\n", false}})) << "before any node is chosen";
    EXPECT_EQ(sendOn(*conn, command({"SET", low_key, "v"})).first, bulk("low:v"));
    auto got = low.received();
    auto at = std::find(got.begin(), got.end(), Argv{"MULTI"});
    ASSERT_NE(at, got.end());
    ASSERT_NE(at + 1, got.end());
    EXPECT_EQ(*(at + 1), (Argv{"SET", low_key, "v"})) << "MULTI goes just before the first command";
    EXPECT_TRUE(high.received("MULTI").empty());
    backend->releaseDedicated(std::move(conn), false);
}

TEST_F(ClusterTopologyTest, AMovedOnAClientsOwnConnectionIsTryagainNamingBothNodesAndMovesTheSlot) {
    const uint16_t slot = keySlot(low_key);
    answers = [&](const std::string& who, const Argv& argv) {
        if (who == "low" && argv[0] == "GET") return "-MOVED " + std::to_string(slot) + " " + where(high.port()) + "\r\n";
        return bulk(who + ":" + argv.back());
    };
    start();
    runUntil([&] { return backend->coveredSlots() > 0; });
    auto conn = backend->acquireDedicated(false);
    EXPECT_EQ(sendOn(*conn, command({"GET", low_key})),
              std::make_pair("-TRYAGAIN laminar: slot " + std::to_string(slot) + " moved to " + where(high.port()) +
                                 " while this client is held on cluster node " + where(low.port()) +
                                 " (MULTI, WATCH, a blocking command or pub/sub); retry\r\n",
                             false));
    EXPECT_EQ(counters.moved.value(), 1u);
    backend->releaseDedicated(std::move(conn), false);
    EXPECT_EQ(get(low_key), std::make_pair(bulk("high:" + low_key), false)) << "the shared connections learnt the move";
    EXPECT_TRUE(high.received("ASKING").empty());
}

TEST_F(ClusterTopologyTest, AClientsOwnConnectionHoldsItsCommandUntilTheFirstMap) {
    int asked = 0;
    slots_reply = [&] { return asked++ == 0 ? std::string("-LOADING Redis is loading the dataset in memory\r\n") : slots(); };
    start();
    auto conn = backend->acquireDedicated(false);
    EXPECT_EQ(sendOn(*conn, command({"GET", high_key})), std::make_pair(bulk("high:" + high_key), false));
    EXPECT_GE(asked, 2);
    backend->releaseDedicated(std::move(conn), false);
}

}  // namespace
}  // namespace laminar::backend::cluster

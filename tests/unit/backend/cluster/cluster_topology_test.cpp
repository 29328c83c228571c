// SPDX-License-Identifier: Apache-2.0
// The cluster backend's slot map (src/backend/cluster/cluster_topology.cpp): loaded from a seed's
// CLUSTER SLOTS before the first command goes out, skipping a seed that refuses; -MOVED changes
// it at once and asks for a fresh one; -ASK does not; without a map, commands wait up to
// retry_window and then get the reason. The nodes are scripted fakes on loopback ports (PING,
// CLUSTER SLOTS and ASKING answered for every test); the backend's io_context runs on the test
// thread until what the test waits for has happened.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/cluster/cluster_backend.h"
#include "obs/logging.h"
#include "resp/writer.h"
#include "support/loopback.h"

namespace laminar::backend::cluster {
namespace {

using laminar::testing::Argv;
using laminar::testing::RefusingPort;
using laminar::testing::ScriptedServer;
using namespace std::chrono_literals;

struct Replies : ReplySink {
    void complete(std::string_view raw, bool failed) override { got.emplace_back(std::string(raw), failed); }
    std::vector<std::pair<std::string, bool>> got;
};

std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

std::string command(std::vector<std::string_view> args) {
    std::string out;
    resp::appendCommand(out, std::span<const std::string_view>(args));
    return out;
}

std::string where(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Two masters: `low` serves slots 0-8191 and `high` 8192-16383, unless a test moves slots.
class ClusterTopologyTest : public ::testing::Test {
protected:
    ClusterTopologyTest()
        : low([this](const Argv& argv) { return answer("low", argv); }), high([this](const Argv& argv) { return answer("high", argv); }) {
        poller.attach(ioc);
        cfg.name = "c";
        cfg.type = config::BackendConfig::Type::kRedisCluster;
        cfg.servers = {low.at()};
        cfg.address = low.at();
    }
    ~ClusterTopologyTest() override {
        backend.reset();
        poller.detach();
    }

    void start() { backend = std::make_unique<ClusterBackend>(ioc, poller, cfg, counters, health); }
    // Runs the backend's loop until `done` (the bound only keeps a broken backend from hanging
    // the test; nothing is timed by it).
    void runUntil(const std::function<bool()>& done, std::chrono::milliseconds bound = 10s) {
        auto deadline = std::chrono::steady_clock::now() + bound;
        while (!done() && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(100ms);
        ASSERT_TRUE(done()) << "not within " << bound.count() << " ms";
    }
    // Sends `raw` on a client's own connection and waits for its reply.
    std::pair<std::string, bool> sendOn(DedicatedConnection& conn, const std::string& raw) {
        Replies sink;
        conn.send(raw, &sink, false);
        runUntil([&] { return !sink.got.empty(); });
        return sink.got.empty() ? std::pair<std::string, bool>{"", true} : sink.got[0];
    }
    // Sends GET `key` and waits for its reply.
    std::pair<std::string, bool> get(const std::string& key) {
        Replies sink;
        backend->send(1, command({"GET", key}), &sink);
        runUntil([&] { return !sink.got.empty(); });
        return sink.got.empty() ? std::pair<std::string, bool>{"", true} : sink.got[0];
    }

    // What node `who` answers: PING, CLUSTER SLOTS (the map of the moment), ASKING, MULTI and
    // CLIENT ID, else
    // `answers(who, argv)`.
    std::string answer(const std::string& who, const Argv& argv) {
        if (argv[0] == "PING") return "+PONG\r\n";
        if (argv[0] == "ASKING" || argv[0] == "MULTI") return "+OK\r\n";
        if (argv[0] == "CLIENT") return ":7\r\n";  // CLIENT ID, a dedicated connection's handshake
        if (argv.size() == 2 && argv[0] == "CLUSTER" && argv[1] == "SLOTS") return slots_reply ? slots_reply() : slots();
        return answers(who, argv);
    }
    using Ranges = std::vector<std::tuple<int, int, uint16_t>>;  // first slot, last slot, master's port
    std::string slots() const { return slots(ranges); }
    static std::string slots(const Ranges& ranges) {
        auto node = [](uint16_t port) { return "*3\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(port) + "\r\n$2\r\nid\r\n"; };
        std::string out = "*" + std::to_string(ranges.size()) + "\r\n";
        for (const auto& [first, last, port] : ranges)
            out += "*3\r\n:" + std::to_string(first) + "\r\n:" + std::to_string(last) + "\r\n" + node(port);
        return out;
    }
    size_t clusterSlotsAsked() const { return low.received("CLUSTER").size() + high.received("CLUSTER").size(); }

    // A key on slot 100 (low's) and one on slot 10000 (high's).
    const std::string low_key = "{" + std::to_string(slotTag(100)) + "}";
    const std::string high_key = "{" + std::to_string(slotTag(10000)) + "}";
    // Set by the tests before start(); read by the nodes' threads afterwards.
    std::function<std::string(const std::string&, const Argv&)> answers = [](const std::string& who, const Argv& argv) {
        return bulk(who + ":" + argv.back());
    };
    std::function<std::string()> slots_reply;  // set: CLUSTER SLOTS answers this
    Ranges ranges;

    ScriptedServer low, high;
    boost::asio::io_context ioc;
    io::Poller poller;
    config::BackendConfig cfg;
    obs::BackendCounters counters;
    HealthBoard health;
    std::unique_ptr<ClusterBackend> backend;  // last: gone before the nodes and the loop

    void SetUp() override { ranges = {{0, 8191, low.port()}, {8192, 16383, high.port()}}; }
};

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

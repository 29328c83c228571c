// SPDX-License-Identifier: Apache-2.0
// Backend canaries (src/policy/canary.cpp): what a round sends, when a backend's canary passes or
// fails, and how that marks the backend on the health board; over a fake I/O thread.
#include "policy/canary.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "backend/health_board.h"
#include "policy/snapshot.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::command;
using testing::FakeDispatch;
using testing::kNew;
using testing::kNil;
using testing::kOk;
using testing::kOld;

// Background connections whose backends may have several servers, as a cluster's masters.
class ServersDispatch final : public FakeDispatch {
public:
    std::vector<backend::CanaryKey> canaryKeys(int backend, const std::string& base) override {
        auto it = servers.find(backend);
        if (it == servers.end()) return {{base, {}}};
        std::vector<backend::CanaryKey> out;
        for (const auto& s : it->second) out.push_back({base + ":" + s, s});
        return out;
    }
    std::map<int, std::vector<std::string>> servers;
};

std::shared_ptr<const Snapshot> snapshotWith(const std::string& canary, const Snapshot* previous = nullptr) {
    auto cfg = config::loadString(canary + "backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n"
                                           "routes:\n  - name: r\n    strategy: old\n",
                                  "test.yaml");
    return std::make_shared<const Snapshot>(std::move(cfg), previous ? previous->generation() + 1 : 1, previous,
                                            previous ? previous->sharedRegistry() : nullptr);
}

// The arguments of a RESP command as FakeDispatch recorded it.
std::vector<std::string> argsOf(const std::string& raw) {
    std::vector<std::string> out;
    size_t pos = raw.find("\r\n") + 2;
    while (pos < raw.size()) {
        size_t eol = raw.find("\r\n", pos);
        size_t len = std::stoul(raw.substr(pos + 1, eol - pos - 1));
        out.push_back(raw.substr(eol + 2, len));
        pos = eol + 2 + len + 2;
    }
    return out;
}

class CanaryTest : public ::testing::Test {
protected:
    CanaryTest() { host.other_background = &servers; }
    void start() {
        canaries->start();
        host.runPosted();
    }
    FakeDispatch& sent() { return servers; }
    // The stamp the i-th command (a SET) wrote.
    std::string stampOf(size_t i) { return argsOf(sent().sent[i].raw).at(2); }
    // Answers the SET at i and the GET after it as a healthy backend does.
    void answerWell(size_t i) {
        auto stamp = stampOf(i);
        sent().answer(i, kOk);
        sent().answer(i + 1, bulk(stamp));
    }
    std::shared_ptr<backend::HealthCell> cell(const std::string& backend) { return snap->registry().health.cell(backend); }

    std::shared_ptr<const Snapshot> snap = snapshotWith("canary: {every: 1s, ttl: 10s}\n");
    ServersDispatch servers;
    testing::FakeSyncHost host;  // an I/O thread whose posted work and timers the test runs
    std::shared_ptr<Canaries> canaries = std::make_shared<Canaries>(host, [this] { return snap; });
};

TEST_F(CanaryTest, ARoundSetsAndReadsBackOneKeyPerBackendAndSchedulesTheNext) {
    start();
    ASSERT_EQ(sent().sent.size(), 4u);
    auto set = argsOf(sent().sent[0].raw);
    ASSERT_EQ(set.size(), 5u);
    EXPECT_EQ(set[0], "SET");
    EXPECT_EQ(set[1], "laminar:canary:old");
    EXPECT_TRUE(set[2].ends_with(":1")) << "unix ms, then the round: " << set[2];
    EXPECT_EQ(set[3], "PX");
    EXPECT_EQ(set[4], "10000") << "the keys live canary.ttl";
    EXPECT_EQ(sent().sent[0].backend, kOld);
    EXPECT_EQ(sent().sent[1].raw, command({"GET", "laminar:canary:old"}));
    EXPECT_EQ(sent().sent[1].backend, kOld);
    EXPECT_EQ(argsOf(sent().sent[2].raw).at(1), "laminar:canary:new");
    EXPECT_EQ(sent().sent[2].backend, kNew);
    EXPECT_EQ(sent().sent[3].raw, command({"GET", "laminar:canary:new"}));
    EXPECT_EQ(sent().sent[3].backend, kNew);
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(host.timers[0].delay, std::chrono::milliseconds(1000));
    EXPECT_TRUE(canaries->paths().empty()) << "nothing is known before a reply";
    answerWell(0);
    answerWell(2);
}

TEST_F(CanaryTest, EachRoundWritesADifferentStamp) {
    start();
    answerWell(0);
    answerWell(2);
    ASSERT_TRUE(host.fireTimer());
    ASSERT_EQ(sent().sent.size(), 8u);
    EXPECT_NE(stampOf(0), stampOf(4));
    answerWell(4);
    answerWell(6);
}

TEST_F(CanaryTest, ABackendWhoseGetReturnsTheStampIsOk) {
    start();
    answerWell(0);
    auto paths = canaries->paths();
    ASSERT_EQ(paths.count("old"), 1u);
    EXPECT_TRUE(paths["old"].ok);
    EXPECT_TRUE(paths["old"].known);
    EXPECT_EQ(paths["old"].why, "");
    EXPECT_GT(paths["old"].last_ok_ms, 0);
    EXPECT_GE(paths["old"].round_trip_ms, 0);
    EXPECT_EQ(paths.count("new"), 0u) << "new has not answered yet";
    EXPECT_FALSE(cell("old")->canary_failing.load());
    answerWell(2);
    EXPECT_TRUE(canaries->paths()["new"].ok);
}

TEST_F(CanaryTest, AGetOfAnotherValueFailsAndMarksTheBackendDown) {
    start();
    sent().answer(0, kOk);
    sent().answer(1, bulk("someone else"));
    answerWell(2);
    auto paths = canaries->paths();
    EXPECT_TRUE(paths["old"].known);
    EXPECT_FALSE(paths["old"].ok);
    EXPECT_EQ(paths["old"].why, "GET did not return the canary: $12");
    EXPECT_EQ(paths["old"].last_ok_ms, 0);
    EXPECT_TRUE(cell("old")->canary_failing.load());
    EXPECT_TRUE(cell("old")->down());
    EXPECT_TRUE(paths["new"].ok);
    EXPECT_FALSE(cell("new")->canary_failing.load());
}

TEST_F(CanaryTest, AGetOfNothingFails) {
    start();
    sent().answer(0, kOk);
    sent().answer(1, kNil);
    answerWell(2);
    EXPECT_EQ(canaries->paths()["old"].why, "GET did not return the canary: $-1");
    EXPECT_TRUE(cell("old")->canary_failing.load());
}

TEST_F(CanaryTest, AFailedSetIsTheReasonGivenNotTheGetAfterIt) {
    start();
    sent().answer(0, "-OOM command not allowed when used memory > 'maxmemory'\r\n");
    sent().answer(1, kNil);
    answerWell(2);
    EXPECT_EQ(canaries->paths()["old"].why, "SET: -OOM command not allowed when used memory > 'maxmemory'");
    EXPECT_TRUE(cell("old")->canary_failing.load());
}

TEST_F(CanaryTest, AReplyMarkedFailedFailsEvenWithTheRightBytes) {
    start();
    auto stamp = stampOf(0);
    sent().answer(0, kOk);
    sent().answer(1, bulk(stamp), /*failed=*/true);
    answerWell(2);
    EXPECT_FALSE(canaries->paths()["old"].ok);
    EXPECT_TRUE(cell("old")->canary_failing.load());
}

TEST_F(CanaryTest, TheReasonIsCutAtTheFirstLineAndBounded) {
    start();
    sent().answer(0, "-ERR " + std::string(500, 'x') + "\r\n");
    sent().answer(1, kNil);
    answerWell(2);
    auto why = canaries->paths()["old"].why;
    EXPECT_EQ(why, "SET: -ERR " + std::string(195, 'x')) << "200 bytes of the reply at most";
}

TEST_F(CanaryTest, AFailingBackendClearsWithTheNextGoodCanary) {
    start();
    sent().answer(0, kOk);
    sent().answer(1, bulk("stale"));
    answerWell(2);
    ASSERT_TRUE(cell("old")->canary_failing.load());
    ASSERT_TRUE(host.fireTimer());
    answerWell(4);
    answerWell(6);
    auto paths = canaries->paths();
    EXPECT_TRUE(paths["old"].ok);
    EXPECT_EQ(paths["old"].why, "") << "the old reason goes with the failure";
    EXPECT_FALSE(cell("old")->canary_failing.load());
    EXPECT_FALSE(cell("old")->down());
}

TEST_F(CanaryTest, NoReplyBeforeTheNextRoundFailsAndTheLateReplyDoesNotClearIt) {
    start();
    answerWell(2);  // new answers, old does not
    ASSERT_TRUE(host.fireTimer());
    auto paths = canaries->paths();
    EXPECT_FALSE(paths["old"].ok);
    EXPECT_EQ(paths["old"].why, "no reply within 1000 ms");
    EXPECT_TRUE(cell("old")->canary_failing.load());
    EXPECT_TRUE(paths["new"].ok);

    answerWell(0);  // round 1's replies come in late
    EXPECT_FALSE(canaries->paths()["old"].ok) << "a late reply is already counted as failed";
    EXPECT_TRUE(cell("old")->canary_failing.load());

    answerWell(4);  // round 2 answers in time
    answerWell(6);
    EXPECT_TRUE(canaries->paths()["old"].ok);
    EXPECT_FALSE(cell("old")->canary_failing.load());
}

TEST_F(CanaryTest, EveryServerOfABackendGetsAKeyAndTheCanaryWaitsForAllOfThem) {
    servers.servers[kOld] = {"10.0.0.1:7000", "10.0.0.2:7000"};
    start();
    ASSERT_EQ(sent().sent.size(), 6u);
    EXPECT_EQ(argsOf(sent().sent[0].raw).at(1), "laminar:canary:old:10.0.0.1:7000");
    EXPECT_EQ(sent().sent[1].raw, command({"GET", "laminar:canary:old:10.0.0.1:7000"}));
    EXPECT_EQ(argsOf(sent().sent[2].raw).at(1), "laminar:canary:old:10.0.0.2:7000");
    EXPECT_EQ(stampOf(0), stampOf(2)) << "one stamp per round";
    answerWell(0);
    EXPECT_EQ(canaries->paths().count("old"), 0u) << "one server of two has answered";
    answerWell(2);
    EXPECT_TRUE(canaries->paths()["old"].ok);
    answerWell(4);
}

TEST_F(CanaryTest, OneFailingServerFailsTheBackendAndIsNamed) {
    servers.servers[kOld] = {"10.0.0.1:7000", "10.0.0.2:7000"};
    start();
    answerWell(0);
    sent().answer(2, kOk);
    sent().answer(3, "-MOVED 1234 10.0.0.3:7000\r\n");
    answerWell(4);
    EXPECT_EQ(canaries->paths()["old"].why, "10.0.0.2:7000: GET did not return the canary: -MOVED 1234 10.0.0.3:7000");
    EXPECT_TRUE(cell("old")->canary_failing.load());
}

TEST_F(CanaryTest, TheFirstFailingServerIsTheReason) {
    servers.servers[kOld] = {"a:1", "b:2"};
    start();
    sent().answer(0, kOk);
    sent().answer(1, "-ERR first\r\n");
    sent().answer(2, kOk);
    sent().answer(3, "-ERR second\r\n");
    answerWell(4);
    EXPECT_EQ(canaries->paths()["old"].why, "a:1: GET did not return the canary: -ERR first");
}

TEST_F(CanaryTest, CanariesOffSendNothingAndLookAgainEachSecond) {
    snap = snapshotWith("");
    start();
    EXPECT_TRUE(sent().sent.empty());
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(host.timers[0].delay, std::chrono::milliseconds(1000));
    EXPECT_TRUE(canaries->paths().empty());
}

TEST_F(CanaryTest, TurningCanariesOffByAReloadClearsTheMarksTheyMade) {
    start();
    sent().answer(0, kOk);
    sent().answer(1, bulk("stale"));
    answerWell(2);
    ASSERT_TRUE(cell("old")->canary_failing.load());
    snap = snapshotWith("", snap.get());  // same registry, so the same health cells
    ASSERT_TRUE(host.fireTimer());
    EXPECT_FALSE(cell("old")->canary_failing.load());
    EXPECT_FALSE(cell("old")->down());
    EXPECT_TRUE(canaries->paths().empty());
    EXPECT_EQ(sent().sent.size(), 4u) << "no canary is sent while they are off";
}

TEST_F(CanaryTest, TurningCanariesOnByAReloadStartsRoundsAtTheNewPace) {
    snap = snapshotWith("");
    start();
    snap = snapshotWith("canary: {every: 2s}\n", snap.get());
    ASSERT_TRUE(host.fireTimer());
    ASSERT_EQ(sent().sent.size(), 4u);
    ASSERT_EQ(host.timers.size(), 1u);
    EXPECT_EQ(host.timers[0].delay, std::chrono::milliseconds(2000));
    answerWell(0);
    answerWell(2);
    EXPECT_TRUE(canaries->paths()["old"].ok);
}

// A backend a reload removes is forgotten at the next round: paths() no longer lists it (/metrics
// would export laminar_canary_ok{path="backend:new"} 0, an alert on a backend that is gone), and
// its health cell is no longer canary_failing, so it does not count as down at once if a later
// reload adds it back.
TEST_F(CanaryTest, ABackendRemovedByAReloadIsForgotten) {
    start();
    answerWell(0);
    sent().answer(2, kOk);
    sent().answer(3, bulk("stale"));
    ASSERT_TRUE(cell("new")->canary_failing.load());
    snap = std::make_shared<const Snapshot>(config::loadString("canary: {every: 1s, ttl: 10s}\nbackends:\n  old: {address: 127.0.0.1:1}\n"
                                                               "routes:\n  - name: r\n    strategy: old\n",
                                                               "test.yaml"),
                                            2, snap.get(), snap->sharedRegistry());
    ASSERT_TRUE(host.fireTimer());
    ASSERT_EQ(sent().sent.size(), 6u) << "only old is canaried now";
    answerWell(4);
    EXPECT_EQ(canaries->paths().count("new"), 0u);
    EXPECT_FALSE(cell("new")->canary_failing.load());
}

TEST_F(CanaryTest, AStoppedCanaryRunsNoRoundAndIgnoresReplies) {
    start();
    canaries->stop();
    answerWell(0);
    EXPECT_TRUE(canaries->paths().empty()) << "a reply after stop() changes nothing";
    EXPECT_FALSE(cell("old")->canary_failing.load());
    ASSERT_TRUE(host.fireTimer());
    EXPECT_EQ(sent().sent.size(), 4u) << "no new round after stop()";
    answerWell(2);
}

TEST_F(CanaryTest, StopBeforeStartRunsNothing) {
    canaries->stop();
    start();
    EXPECT_TRUE(sent().sent.empty());
    EXPECT_TRUE(host.timers.empty());
}

}  // namespace
}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
// Long scripts through laminar (issue 22, item 4): SCRIPT KILL and FUNCTION KILL reach the
// backend on a connection of their own, the killed script's client gets Redis's error, and a
// script that runs longer than the backend `timeout` does not make laminar declare its backend
// dead: commands behind it get -BUSY (as Redis answers them) or their replies once it ends. Where
// it makes sense the same steps run against redis-server directly and the replies are compared.
//
// Redis answers other clients only once a script has run busy-reply-threshold (5 s by default):
// the servers here use 100 ms, so that the tests are quick.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster.h"
#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kQuickBusy = {"--busy-reply-threshold", "100"};
const std::string kLoop = "while true do end";
const std::string kLibrary = "#!lua name=lib\nredis.register_function('spin', function() while true do end end)";

// One I/O thread and one shared connection: every client of the test shares the connection the
// script runs on, the case where a kill sent on it could never arrive.
std::string oneConnection(int redis_port, const std::string& backend_opts) {
    return cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\nclient: {allow_admin: true}\n",
               "backends:\n  old: {type: redis, address: 127.0.0.1:", redis_port, ", connections: 1, ", backend_opts, "}\n",
               "routes:\n  - name: default\n    strategy: {type: proxy, target: old}\n");
}

// Sends `kill` (SCRIPT KILL or FUNCTION KILL) until it finds something running: the script may
// not have started, or Redis may not read other clients yet (busy-reply-threshold).
Reply killOnceRunning(int port, const std::vector<std::string>& kill) {
    Reply r;
    auto deadline = Clock::now() + 10s;
    do {
        r = Client(port, 10s).cmd(kill);
        if (!(r.isError() && r.str.starts_with("NOTBUSY"))) return r;
        std::this_thread::sleep_for(20ms);
    } while (Clock::now() < deadline);
    return r;
}

// The steps of a script killed while it loops, against `port` (laminar or redis-server), as the
// replies seen in order.
std::vector<std::string> killALoopingScript(int port) {
    std::vector<std::string> seen;
    seen.push_back(show(Client(port).cmd({"SCRIPT", "KILL"})));  // nothing runs yet
    Client runner(port, 20s);
    EXPECT_TRUE(sendOnly(runner, {"EVAL", kLoop, "0"}));
    seen.push_back(show(killOnceRunning(port, {"FUNCTION", "KILL"})));  // the wrong kind: BUSY
    seen.push_back(show(killOnceRunning(port, {"SCRIPT", "KILL"})));
    seen.push_back(show(runner.read()));
    seen.push_back(show(runner.cmd({"SET", "after", "kill"})));
    seen.push_back(show(Client(port).cmd({"SCRIPT", "KILL"})));
    return seen;
}

std::vector<std::string> killALoopingFunction(int port) {
    std::vector<std::string> seen;
    Client runner(port, 20s);
    seen.push_back(show(runner.cmd({"FUNCTION", "LOAD", "REPLACE", kLibrary})));
    EXPECT_TRUE(sendOnly(runner, {"FCALL", "spin", "0"}));
    seen.push_back(show(killOnceRunning(port, {"SCRIPT", "KILL"})));  // the wrong kind: BUSY
    seen.push_back(show(killOnceRunning(port, {"FUNCTION", "KILL"})));
    seen.push_back(show(runner.read()));
    seen.push_back(show(Client(port).cmd({"FUNCTION", "KILL"})));
    return seen;
}

TEST(ScriptsTest, ScriptKillThroughLaminarStopsALoopingScriptAndItsClientGetsRedissError) {
    RedisServer redis(kQuickBusy);
    Laminar lam(oneConnection(redis.port(), "timeout: 300ms"));
    auto direct = killALoopingScript(redis.port());
    auto through = killALoopingScript(lam.port());
    EXPECT_EQ(through, direct);
    ASSERT_EQ(through.size(), 6u);
    EXPECT_EQ(through[0], "-NOTBUSY No scripts in execution right now.");
    EXPECT_EQ(through[1], "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    EXPECT_EQ(through[2], "+OK");
    EXPECT_TRUE(through[3].starts_with("-ERR Script killed by user with SCRIPT KILL")) << through[3];
    EXPECT_EQ(through[4], "+OK");
    EXPECT_EQ(lam.log().find("is down"), std::string::npos) << lam.log();
}

TEST(ScriptsTest, FunctionKillThroughLaminarStopsALoopingFunctionAndItsClientGetsRedissError) {
    RedisServer redis(kQuickBusy);
    Laminar lam(oneConnection(redis.port(), "timeout: 300ms"));
    auto direct = killALoopingFunction(redis.port());
    auto through = killALoopingFunction(lam.port());
    EXPECT_EQ(through, direct);
    ASSERT_EQ(through.size(), 5u);
    EXPECT_EQ(through[1], "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.");
    EXPECT_EQ(through[2], "+OK");
    EXPECT_TRUE(through[3].starts_with("-ERR Script killed by user with SCRIPT KILL")) << through[3];
    EXPECT_EQ(through[4], "-NOTBUSY No scripts in execution right now.");
}

// A script that runs for many `timeout`s: the backend stays up; a command already queued behind
// it on the shared connection gets its reply once it ends, one sent meanwhile gets Redis's -BUSY
// at once, as a client of redis-server would.
TEST(ScriptsTest, AScriptLongerThanTheTimeoutLeavesTheBackendUpAndCommandsGetBusyOrTheirReply) {
    RedisServer redis(kQuickBusy);
    ASSERT_EQ(show(Client(redis.port()).cmd({"SET", "k", "v"})), "+OK");
    Laminar lam(oneConnection(redis.port(), "timeout: 300ms"));
    Client runner(lam.port(), 20s);
    ASSERT_TRUE(sendOnly(runner, {"EVAL", kLoop, "0"}));
    std::this_thread::sleep_for(50ms);
    Client behind(lam.port(), 20s);
    ASSERT_TRUE(sendOnly(behind, {"GET", "k"}));

    std::this_thread::sleep_for(1500ms);  // five times the timeout
    auto start = Clock::now();
    auto meanwhile = show(Client(lam.port(), 5s).cmd({"GET", "k"}));
    EXPECT_LT(Clock::now() - start, 1s) << "answered at once, not after the script";
    EXPECT_EQ(meanwhile, show(Client(redis.port(), 5s).cmd({"GET", "k"})));
    EXPECT_EQ(meanwhile, "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");

    EXPECT_EQ(show(Client(lam.port()).cmd({"SCRIPT", "KILL"})), "+OK");
    EXPECT_TRUE(show(runner.read()).starts_with("-ERR Script killed by user with SCRIPT KILL"));
    EXPECT_EQ(show(behind.read()), "$v") << "its reply, once the script ended";
    EXPECT_EQ(show(Client(lam.port(), 5s).cmd({"GET", "k"})), "$v");
    auto log = lam.log();
    EXPECT_EQ(log.find("is down"), std::string::npos) << log;
    EXPECT_EQ(log.find("timed out"), std::string::npos) << log;
    EXPECT_NE(log.find("backend 'old' at 127.0.0.1:"), std::string::npos) << log;
    EXPECT_NE(log.find("is running a script"), std::string::npos) << "logged once: " << log;
}

// The wait behind a script is bounded: after busy_timeout with no reply the waiting commands get a
// -BUSY that says they may still run, and laminar uses the backend again once the script is gone.
TEST(ScriptsTest, CommandsWaitingBehindAScriptGetBusyAfterBusyTimeoutNotAHang) {
    RedisServer redis(kQuickBusy);
    ASSERT_EQ(show(Client(redis.port()).cmd({"SET", "k", "v"})), "+OK");
    Laminar lam(oneConnection(redis.port(), "timeout: 200ms, busy_timeout: 1s"));
    Client runner(lam.port(), 20s);
    ASSERT_TRUE(sendOnly(runner, {"EVAL", kLoop, "0"}));
    std::this_thread::sleep_for(50ms);
    Client behind(lam.port(), 20s);
    auto start = Clock::now();
    auto r = behind.cmd({"GET", "k"});
    auto took = Clock::now() - start;
    const std::string busy = "-BUSY laminar: backend 'old' has been busy running a script for 1000ms (busy_timeout) with this "
                             "command waiting behind it; it may still run when the script ends";
    EXPECT_EQ(show(r), busy);
    EXPECT_GE(took, 800ms);
    EXPECT_LT(took, 8s);
    EXPECT_EQ(show(runner.read()), busy);

    EXPECT_EQ(show(Client(lam.port()).cmd({"SCRIPT", "KILL"})), "+OK") << "the script ran on after its client was answered";
    EXPECT_TRUE(waitFor([&] { return show(Client(lam.port(), 5s).cmd({"GET", "k"})) == "$v"; }, 10s));
}

// dual_write: a script may run on either side (EVAL goes to the primary, a client of the other
// side may run one too): SCRIPT KILL reaches both, +OK when either killed one.
TEST(ScriptsTest, ScriptKillReachesBothSidesOfADualWrite) {
    RedisServer old_r(kQuickBusy), new_r(kQuickBusy);
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nclient: {allow_admin: true}\n",
                    "backends:\n  old: {type: redis, address: 127.0.0.1:", old_r.port(), ", timeout: 300ms}\n",
                    "  new: {type: redis, address: 127.0.0.1:", new_r.port(), ", timeout: 300ms}\n",
                    "routes:\n  - name: default\n    strategy: {type: dual_write, primary: old, secondary: new}\n"));
    EXPECT_EQ(show(Client(lam.port()).cmd({"SCRIPT", "KILL"})), "-NOTBUSY No scripts in execution right now.");

    for (auto* side : {&new_r, &old_r}) {
        Client runner(side->port(), 20s);
        ASSERT_TRUE(sendOnly(runner, {"EVAL", kLoop, "0"}));
        EXPECT_EQ(show(killOnceRunning(lam.port(), {"SCRIPT", "KILL"})), "+OK") << side->port();
        EXPECT_TRUE(show(runner.read()).starts_with("-ERR Script killed by user with SCRIPT KILL")) << side->port();
    }

    // A script that wrote cannot be killed, and NOTBUSY elsewhere does not hide that.
    Client writer(new_r.port(), 20s);
    ASSERT_TRUE(sendOnly(writer, {"EVAL", "redis.call('set', 'w', '1') " + kLoop, "0"}));
    auto r = killOnceRunning(lam.port(), {"SCRIPT", "KILL"});
    EXPECT_TRUE(show(r).starts_with("-UNKILLABLE Sorry the script already executed write commands")) << show(r);
    (void)Client(new_r.port(), 5s).cmd({"SHUTDOWN", "NOSAVE"});  // the one way out of it, as on Redis
}

// Issue 22 (d): on a redis_cluster backend a script runs on the master of its keys (any master for
// one with none): SCRIPT KILL goes to every master, each on a connection of its own.
TEST(ScriptsTest, ScriptKillReachesEveryMasterOfACluster) {
    RedisCluster cluster(3, 0);
    for (int port : cluster.ports()) ASSERT_EQ(show(Client(port).cmd({"CONFIG", "SET", "busy-reply-threshold", "100"})), "+OK");
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\nclient: {allow_admin: true}\n",
                    "backends:\n  cl: {type: redis_cluster, seeds: [", cluster.seeds(1), "]}\n",
                    "routes:\n  - name: default\n    strategy: {type: proxy, target: cl}\n"));
    EXPECT_EQ(show(Client(lam.port()).cmd({"SCRIPT", "KILL"})), "-NOTBUSY No scripts in execution right now.");
    for (int port : cluster.ports()) {
        Client runner(port, 20s);
        ASSERT_TRUE(sendOnly(runner, {"EVAL", kLoop, "0"}));
        EXPECT_EQ(show(killOnceRunning(lam.port(), {"SCRIPT", "KILL"})), "+OK") << port;
        EXPECT_TRUE(show(runner.read()).starts_with("-ERR Script killed by user with SCRIPT KILL")) << port;
    }
    Client runner(cluster.ports().back(), 20s);
    ASSERT_TRUE(sendOnly(runner, {"FUNCTION", "LOAD", "REPLACE", kLibrary}));
    EXPECT_EQ(show(runner.read()), "$lib");
    ASSERT_TRUE(sendOnly(runner, {"FCALL", "spin", "0"}));
    EXPECT_EQ(show(killOnceRunning(lam.port(), {"FUNCTION", "KILL"})), "+OK");
    EXPECT_TRUE(show(runner.read()).starts_with("-ERR Script killed by user with SCRIPT KILL"));
}

}  // namespace
}  // namespace laminar::test

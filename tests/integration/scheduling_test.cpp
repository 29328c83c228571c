// SPDX-License-Identifier: Apache-2.0
// io_scheduling (io/scheduling.h) on a real laminar: the I/O threads' policy as the kernel
// reports it (/proc/PID/task/TID/stat), a reload that changes it, and `adaptive` going back to
// the normal policy when a CPU-bound process shares the I/O thread's core.
#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "support/harness.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

std::string config(int redis_port, int threads, const std::string& mode) {
    // At info, the level operators run at: what these tests look for in the log must show there.
    return "listen: 127.0.0.1:{port}\nthreads: " + std::to_string(threads) + "\nlog: {level: info}\nio_scheduling: " + mode +
           "\nbackends:\n  old: {type: redis, address: 127.0.0.1:" + std::to_string(redis_port) +
           "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n";
}

// The scheduling policy of every thread of `pid`: field 41 of /proc/PID/task/TID/stat.
std::vector<int> threadPolicies(pid_t pid) {
    std::vector<int> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        std::ifstream in(e.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(in)), {});
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 2));  // from field 3 (state) on
        std::string f;
        for (int i = 3; i <= 41 && fields >> f; ++i)
            if (i == 41) out.push_back(std::stoi(f));
    }
    return out;
}

int threadsWithPolicy(pid_t pid, int policy) {
    int n = 0;
    for (int p : threadPolicies(pid)) n += p == policy;
    return n;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

TEST(IoSchedulingTest, BatchAndNormalSetTheIoThreadsPolicyAndAReloadChangesIt) {
    RedisServer redis;
    Laminar lam(config(redis.port(), 2, "batch"));
    Client c(lam.port()), admin(lam.port());
    EXPECT_TRUE(eventually([&] { return threadsWithPolicy(lam.pid(), SCHED_BATCH) == 2; }))
        << "both I/O threads, and only they, run under SCHED_BATCH";
    EXPECT_EQ(laminarInfo(c, "io_scheduling"), "batch");
    EXPECT_TRUE(eventually([&] { return laminarInfoNumber(c, "io_threads_batch_scheduled") == 2; }));
    EXPECT_EQ(c.cmd({"SET", "k", "v"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", "k"}).str, "v");

    lam.rewriteConfig(config(redis.port(), 2, "normal"));
    ASSERT_TRUE(sighupAndWait(lam, admin));
    EXPECT_TRUE(eventually([&] { return threadsWithPolicy(lam.pid(), SCHED_BATCH) == 0; })) << "the next sweep applies a reload";
    EXPECT_EQ(threadsWithPolicy(lam.pid(), SCHED_OTHER), static_cast<int>(threadPolicies(lam.pid()).size()));
    EXPECT_EQ(laminarInfo(c, "io_scheduling"), "normal");
    EXPECT_TRUE(eventually([&] { return laminarInfoNumber(c, "io_threads_batch_scheduled") == 0; }));

    lam.rewriteConfig(config(redis.port(), 2, "batch"));
    ASSERT_TRUE(sighupAndWait(lam, admin));
    EXPECT_TRUE(eventually([&] { return threadsWithPolicy(lam.pid(), SCHED_BATCH) == 2; })) << "and back";
    EXPECT_EQ(c.cmd({"GET", "k"}).str, "v");
}

TEST(IoSchedulingTest, MemcachedLanesMadeOnABatchIoThreadByAReloadKeepTheNormalPolicy) {
    RedisServer redis;
    MemcachedServer mc;
    Laminar lam(config(redis.port(), 2, "batch"));
    Client c(lam.port()), admin(lam.port());
    ASSERT_TRUE(eventually([&] { return threadsWithPolicy(lam.pid(), SCHED_BATCH) == 2; }));
    auto before = threadPolicies(lam.pid()).size();

    // The reload builds the memcached backend, and its two lanes, on an I/O thread.
    lam.rewriteConfig("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nio_scheduling: batch\nbackends:\n"
                      "  old: {type: redis, address: 127.0.0.1:" + std::to_string(redis.port()) + "}\n"
                      "  mc: {type: memcached, servers: [127.0.0.1:" + std::to_string(mc.port()) + "], pool: 2}\n"
                      "routes:\n" + route("cache", "mc:*", "strategy: {type: proxy, target: mc}") +
                      "  - name: default\n    strategy: {type: proxy, target: old}\n");
    ASSERT_TRUE(sighupAndWait(lam, admin));
    EXPECT_EQ(c.cmd({"SET", "mc:1", "v"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", "mc:1"}).str, "v");
    EXPECT_TRUE(eventually([&] { return threadPolicies(lam.pid()).size() >= before + 2; })) << "the lanes are running";
    EXPECT_TRUE(eventually([&] { return threadsWithPolicy(lam.pid(), SCHED_BATCH) == 2; }))
        << "only the I/O threads run under SCHED_BATCH; lanes block in libmemcached under the normal policy";
}

TEST(IoSchedulingTest, AThreadStartedUnderAnotherPolicyKeepsIt) {
    RedisServer redis;
    // laminar inherits this thread's policy across fork and exec, as under `chrt -r 1 laminar`.
    // SCHED_RR rather than SCHED_IDLE: an idle-class laminar could starve on a loaded CI machine.
    sched_param rr{};
    rr.sched_priority = 1;
    if (sched_setscheduler(0, SCHED_RR, &rr) != 0) GTEST_SKIP() << "SCHED_RR needs CAP_SYS_NICE";
    sched_param none{};
    std::unique_ptr<Laminar> lam;
    try {
        lam = std::make_unique<Laminar>(config(redis.port(), 2, "batch"));
    } catch (...) {
        sched_setscheduler(0, SCHED_OTHER, &none);
        throw;
    }
    ASSERT_EQ(sched_setscheduler(0, SCHED_OTHER, &none), 0);
    Client c(lam->port());
    EXPECT_EQ(c.cmd({"SET", "k", "v"}).str, "OK");
    std::this_thread::sleep_for(600ms);  // two sweeps, each of which applies io_scheduling
    EXPECT_EQ(threadsWithPolicy(lam->pid(), SCHED_BATCH), 0);
    EXPECT_EQ(threadsWithPolicy(lam->pid(), SCHED_RR), static_cast<int>(threadPolicies(lam->pid()).size()));
    EXPECT_EQ(laminarInfoNumber(c, "io_threads_batch_scheduled"), 0);
    EXPECT_NE(lam->log().find("io_scheduling leaves it as it is"), std::string::npos) << lam->log();
}

// Pins every thread of `pid` to `cpu`.
void pin(pid_t pid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
        sched_setaffinity(std::stoi(e.path().filename().string()), sizeof set, &set);
}

TEST(IoSchedulingTest, AdaptiveGoesBackToNormalBesideACpuBoundProcessAndLosesNothing) {
    if (!std::filesystem::exists("/proc/thread-self/schedstat")) GTEST_SKIP() << "this kernel gives no schedstat";
    cpu_set_t mine;
    ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &mine)) ++cpu;

    RedisServer redis;
    Laminar lam(config(redis.port(), 1, "adaptive"));
    pin(lam.pid(), cpu);
    // A busy loop on laminar's core, ended by its own alarm if this test dies first.
    pid_t hog = fork();
    ASSERT_GE(hog, 0);
    if (hog == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
        alarm(30);
        volatile unsigned long spin = 0;
        for (;;) spin = spin + 1;
    }

    struct Stop {  // the busy loop ends with the test, even one that fails half-way
        pid_t pid;
        void now() {
            if (pid <= 0) return;
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = 0;
        }
        ~Stop() { now(); }
    } stop{hog};

    Client c(lam.port());
    long long fallbacks = 0;
    int written = 0;
    auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until) {
        auto r = c.cmd({"SET", "key:" + std::to_string(written), std::to_string(written)});
        ASSERT_EQ(r.str, "OK") << "write " << written;
        ++written;
        if (written % 50 == 0 && (fallbacks = laminarInfoNumber(c, "io_scheduling_fallbacks")) > 0) break;
    }
    bool batch_after = threadsWithPolicy(lam.pid(), SCHED_BATCH) > 0;
    stop.now();

    EXPECT_GE(fallbacks, 1) << "waiting behind a busy loop under SCHED_BATCH must send the I/O thread back to normal";
    EXPECT_FALSE(batch_after) << "it holds the normal policy for the back-off (10 s at first)";
    EXPECT_NE(lam.log().find("waited too long for the CPU"), std::string::npos) << lam.log();
    Client check(redis.port());
    for (int i = 0; i < written; i += 97) EXPECT_EQ(check.cmd({"GET", "key:" + std::to_string(i)}).str, std::to_string(i));
}

}  // namespace
}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// Load through the proxy: a deep pipeline, many concurrent clients, and redis-benchmark.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class LoadTest : public ::testing::Test {
protected:
    RedisServer redis_;
    Laminar laminar_{proxyConfig(redis_.port())};
};

TEST_F(LoadTest, APipelineOfTenThousandSetsThenTenThousandGetsIsAnsweredInOrder) {
    constexpr int kN = 10000;
    Client c(laminar_.port(), 30s);
    for (int i = 0; i < kN; ++i) c.append({"SET", cat("k", i), cat("v", i)});
    for (int i = 0; i < kN; ++i) c.append({"GET", cat("k", i)});
    int bad_sets = 0, bad_gets = 0;
    std::string first_bad;
    for (int i = 0; i < kN; ++i) {
        auto r = c.read();
        if (r.type != REDIS_REPLY_STATUS || r.str != "OK") {
            if (bad_sets++ == 0) first_bad = cat("SET ", i, ": ", show(r));
            if (r.type == -1) break;
        }
    }
    for (int i = 0; i < kN && bad_sets == 0; ++i) {
        auto r = c.read();
        if (r.type != REDIS_REPLY_STRING || r.str != cat("v", i)) {
            if (bad_gets++ == 0) first_bad = cat("GET ", i, ": ", show(r));
            if (r.type == -1) break;
        }
    }
    EXPECT_EQ(bad_sets, 0) << first_bad;
    EXPECT_EQ(bad_gets, 0) << first_bad;
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"DBSIZE"})), ":10000");
    EXPECT_EQ(show(c.cmd({"GET", "k9999"})), "$v9999");
}

TEST_F(LoadTest, TwoHundredConcurrentClientsEachGetTheirOwnValuesBack) {
    constexpr int kClients = 200, kPairs = 200;
    std::atomic<int> connected{0}, wrong{0};
    std::mutex mu;
    std::string first_wrong;
    auto note = [&](const std::string& what) {
        if (wrong.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first_wrong = what;
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
        threads.emplace_back([&, t] {
            Client c(laminar_.port(), 30s);
            if (!c.connected()) {
                note(cat("client ", t, " did not connect: ", c.error()));
                return;
            }
            connected.fetch_add(1);
            for (int i = 0; i < kPairs; ++i) {
                std::string key = cat("c", t, ":", i);
                std::string value = cat("value-", t, "-", i);
                auto set = c.cmd({"SET", key, value});
                if (set.type != REDIS_REPLY_STATUS || set.str != "OK") {
                    note(cat("SET ", key, ": ", show(set)));
                    return;
                }
                auto get = c.cmd({"GET", key});
                if (get.type != REDIS_REPLY_STRING || get.str != value) {
                    note(cat("GET ", key, ": ", show(get)));
                    return;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(connected.load(), kClients);
    EXPECT_EQ(wrong.load(), 0) << first_wrong;
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"DBSIZE"})), cat(":", kClients * kPairs));
}

TEST_F(LoadTest, RedisBenchmarkThroughLaminarSucceeds) {
    int status = -1;
    run("command -v redis-benchmark >/dev/null 2>&1", &status);
    if (status != 0) GTEST_SKIP() << "redis-benchmark is not installed";
    auto out = run(cat("timeout 60 redis-benchmark -p ", laminar_.port(), " -q -n 20000 -P 16 2>&1"), &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("SET: "), std::string::npos) << out;
    EXPECT_NE(out.find("GET: "), std::string::npos) << out;
    EXPECT_NE(out.find("requests per second"), std::string::npos) << out;
    // Laminar is still healthy afterwards.
    Client c(laminar_.port());
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
}

}  // namespace
}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// MemcachedBackend (src/backend/memcached/memcached_backend.cpp) as an I/O thread sees it, with
// no memcached running: replies come back through the thread's io_context, one client's in the
// order sent; a command that does not parse is answered without memcached; a server that cannot
// be reached fails the command with the error naming the backend and takes the backend down.
// The server is a loopback port that refuses connections.
#include "backend/memcached/memcached_backend.h"

#include <boost/asio/executor_work_guard.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "resp/writer.h"
#include "support/loopback.h"

namespace laminar::backend::memcached {
namespace {

using laminar::testing::RefusingPort;

struct Replies : ReplySink {
    void complete(std::string_view raw, bool failed) override { got.emplace_back(std::string(raw), failed); }
    std::vector<std::pair<std::string, bool>> got;
};

std::string command(std::vector<std::string_view> args) {
    std::string out;
    resp::appendCommand(out, std::span<const std::string_view>(args));
    return out;
}

const std::string kMalformed = "-ERR laminar: malformed command for memcached backend 'cache'\r\n";
const std::string kUnavailable = "-ERR laminar: backend 'cache' unavailable: ";

class MemcachedBackendTest : public ::testing::Test {
protected:
    std::unique_ptr<MemcachedBackend> make(std::vector<uint16_t> ports, int pool = 1) {
        cfg.name = "cache";
        cfg.type = config::BackendConfig::Type::kMemcached;
        for (auto p : ports) cfg.servers.push_back({"127.0.0.1", p});
        cfg.pool = pool;
        return std::make_unique<MemcachedBackend>(ioc, cfg, counters, health);
    }
    // Runs the I/O thread's loop until `sink` has `n` replies (a pool thread posts them).
    void waitFor(const Replies& sink, size_t n) {
        while (sink.got.size() < n) ASSERT_GT(ioc.run_one_for(std::chrono::seconds(30)), 0u) << "no reply came";
    }
    bool isUnavailable(const std::pair<std::string, bool>& reply) {
        return reply.first.starts_with(kUnavailable) && reply.first.ends_with("\r\n") && reply.second;
    }

    boost::asio::io_context ioc;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(ioc);
    config::BackendConfig cfg;
    obs::BackendCounters counters;
    HealthBoard health;
    RefusingPort port;
};

TEST_F(MemcachedBackendTest, ACommandThatDoesNotParseIsRefusedWithoutMemcachedAndSaysNothingOfItsHealth) {
    auto b = make({port.port()});
    Replies sink;
    b->send(1, "*2\r\n$3\r\nGET\r\n", &sink);
    waitFor(sink, 1);
    EXPECT_EQ(sink.got[0].first, kMalformed);
    EXPECT_FALSE(sink.got[0].second);
    EXPECT_TRUE(b->anyUp());
}

TEST_F(MemcachedBackendTest, AServerThatCannotBeReachedFailsTheCommandNamingTheBackendAndTakesItDown) {
    auto b = make({port.port()});
    EXPECT_TRUE(b->anyUp()) << "up until a lane finds otherwise";
    Replies sink;
    b->send(1, command({"GET", "k"}), &sink);
    waitFor(sink, 1);
    EXPECT_TRUE(isUnavailable(sink.got[0])) << sink.got[0].first;
    EXPECT_FALSE(b->anyUp());
    EXPECT_TRUE(health.cell("cache")->down());
}

TEST_F(MemcachedBackendTest, OneClientsRepliesComeInTheOrderItSent) {
    auto b = make({port.port()}, 2);
    Replies sink;
    b->send(7, command({"GET", "a"}), &sink);
    b->send(7, "*1\r\n$3\r\nGE", &sink);
    b->send(7, command({"SET", "b", "1"}), &sink);
    b->send(7, "*1\r\n", &sink);
    waitFor(sink, 4);
    EXPECT_TRUE(isUnavailable(sink.got[0])) << sink.got[0].first;
    EXPECT_EQ(sink.got[1].first, kMalformed);
    EXPECT_TRUE(isUnavailable(sink.got[2])) << sink.got[2].first;
    EXPECT_EQ(sink.got[3].first, kMalformed);
}

TEST_F(MemcachedBackendTest, IdleOnlyOnceEveryReplyIsIn) {
    auto b = make({port.port()});
    EXPECT_TRUE(b->idle());
    Replies sink;
    b->send(1, "*1\r\n", &sink);
    b->send(1, "*1\r\n", &sink);
    EXPECT_FALSE(b->idle());
    waitFor(sink, 2);
    EXPECT_TRUE(b->idle());
}

TEST_F(MemcachedBackendTest, EveryReplyIsObservedInTheThreadsLatencyHistogram) {
    auto b = make({port.port()});
    Replies sink;
    b->send(1, "*1\r\n", &sink);
    b->send(2, command({"GET", "k"}), &sink);
    waitFor(sink, 2);
    std::array<uint64_t, obs::LatencyHistogram::kBuckets> counts{};
    uint64_t sum = 0;
    counters.latency.addTo(counts, sum);
    uint64_t n = 0;
    for (auto c : counts) n += c;
    EXPECT_EQ(n, 2u);
}

TEST_F(MemcachedBackendTest, AReplyAfterTheBackendIsGoneIsDropped) {
    Replies sink;
    {
        auto b = make({port.port()});
        b->send(1, command({"GET", "k"}), &sink);
    }  // gone before its reply was delivered: the pool ends with its last user, after the reply
    ioc.poll();
    EXPECT_TRUE(sink.got.empty()) << "no sink of a backend that is gone is called";
}

TEST_F(MemcachedBackendTest, OneServerHasOneCanaryKeyTheBaseItself) {
    auto b = make({port.port()});
    auto keys = b->canaryKeys("laminar:canary:cache");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].key, "laminar:canary:cache");
    EXPECT_EQ(keys[0].where, "");
}

TEST_F(MemcachedBackendTest, SeveralServersHaveOneCanaryKeyEachNamedAfterTheBase) {
    RefusingPort second;
    auto b = make({port.port(), second.port()});
    auto keys = b->canaryKeys("laminar:canary:cache");
    ASSERT_EQ(keys.size(), 2u);
    std::vector<std::string> where;
    for (const auto& k : keys) {
        EXPECT_TRUE(k.key.starts_with("laminar:canary:cache:")) << k.key;
        where.push_back(k.where);
    }
    std::sort(where.begin(), where.end());
    std::vector<std::string> expected = {"server 127.0.0.1:" + std::to_string(port.port()), "server 127.0.0.1:" + std::to_string(second.port())};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(where, expected);
    EXPECT_NE(keys[0].key, keys[1].key);
    EXPECT_EQ(b->canaryKeys("laminar:canary:cache")[0].key, keys[0].key) << "the same every time";
}

}  // namespace
}  // namespace laminar::backend::memcached

// SPDX-License-Identifier: Apache-2.0
// makeBackend (src/backend/factory.cpp): a configuration entry's type picks the backend class,
// and the backend keeps the entry it was made from. Nothing is run: the io_context never turns,
// so no connection is made.
#include "backend/factory.h"

#include <gtest/gtest.h>

#include <memory>

#include "backend/cluster/cluster_backend.h"
#include "backend/memcached/memcached_backend.h"
#include "backend/redis_backend.h"

namespace laminar::backend {
namespace {

class FactoryTest : public ::testing::Test {
protected:
    FactoryTest() { poller.attach(ioc); }
    ~FactoryTest() override { poller.detach(); }

    std::shared_ptr<Backend> make(const std::string& backend_yaml) {
        cfg = config::loadString("backends:\n  b: " + backend_yaml + "\nroutes:\n  - name: r\n    strategy: b\n", "test.yaml");
        return makeBackend(ioc, poller, cfg.backends.at(0), counters, health);
    }

    boost::asio::io_context ioc;
    io::Poller poller;
    obs::BackendCounters counters;
    HealthBoard health;
    config::Config cfg;
};

TEST_F(FactoryTest, ARedisEntryIsARedisBackend) {
    auto b = make("{address: 127.0.0.1:1}");
    EXPECT_NE(std::dynamic_pointer_cast<RedisBackend>(b), nullptr);
    EXPECT_EQ(b->config(), cfg.backends[0]);
    EXPECT_NE(b->dedicated(), nullptr) << "Redis clients can be pinned";
}

TEST_F(FactoryTest, ARedisClusterEntryIsAClusterBackend) {
    auto b = make("{type: redis_cluster, seeds: ['127.0.0.1:1', '127.0.0.1:2']}");
    auto cluster = std::dynamic_pointer_cast<cluster::ClusterBackend>(b);
    ASSERT_NE(cluster, nullptr);
    EXPECT_EQ(b->config(), cfg.backends[0]);
    EXPECT_EQ(cluster->coveredSlots(), 0) << "no slot map before a node answered";
}

TEST_F(FactoryTest, AMemcachedEntryIsAMemcachedBackendWithoutDedicatedConnections) {
    auto b = make("{type: memcached, servers: ['127.0.0.1:1'], pool: 1}");
    EXPECT_NE(std::dynamic_pointer_cast<memcached::MemcachedBackend>(b), nullptr);
    EXPECT_EQ(b->config(), cfg.backends[0]);
    EXPECT_EQ(b->dedicated(), nullptr) << "memcached has no connection a client could be pinned to";
}

TEST_F(FactoryTest, TheBackendReportsItsHealthOnTheBoardItWasGiven) {
    auto b = make("{type: memcached, servers: ['127.0.0.1:1'], pool: 2}");
    EXPECT_EQ(health.cell("b")->known_threads.load(), 2) << "each pool thread counts on the board's cell for 'b'";
}

}  // namespace
}  // namespace laminar::backend

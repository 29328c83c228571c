// SPDX-License-Identifier: Apache-2.0
#include "backend/factory.h"

#include "backend/cluster/cluster_backend.h"
#include "backend/memcached/memcached_backend.h"
#include "backend/redis_backend.h"

namespace laminar::backend {

std::shared_ptr<Backend> makeBackend(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg,
                                     obs::BackendCounters& counters, HealthBoard& health) {
    switch (cfg.type) {
        case config::BackendConfig::Type::kMemcached: return std::make_shared<memcached::MemcachedBackend>(ioc, cfg, counters, health);
        case config::BackendConfig::Type::kRedisCluster:
            return std::make_shared<cluster::ClusterBackend>(ioc, poller, cfg, counters, health);
        case config::BackendConfig::Type::kRedis: break;
    }
    return std::make_shared<RedisBackend>(ioc, poller, cfg, counters, health);
}

}  // namespace laminar::backend

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>

#include <memory>

#include "backend/backend.h"
#include "backend/health_board.h"
#include "config/config.h"
#include "io/poller.h"
#include "obs/thread_metrics.h"

namespace laminar::backend {

// The backend a configuration entry names, for one I/O thread: RedisBackend (redis),
// cluster::ClusterBackend (redis_cluster) or memcached::MemcachedBackend (memcached). Nothing
// above this layer names a concrete backend.
// `health`: where the backend reports its health (the daemon's policy::Registry).
std::shared_ptr<Backend> makeBackend(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg,
                                     obs::BackendCounters& counters, HealthBoard& health);

}  // namespace laminar::backend

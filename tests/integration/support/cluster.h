// SPDX-License-Identifier: Apache-2.0
// A real Redis Cluster for integration tests: Debian's redis-server processes on loopback ports,
// joined by `redis-cli --cluster create`, stopped by their PIDs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/harness.h"

namespace laminar::test {

class RedisCluster {
public:
    // `masters` masters with `replicas` replicas each (cluster-node-timeout 1 s, so a failover
    // takes a second or two).
    explicit RedisCluster(int masters = 3, int replicas = 1);
    ~RedisCluster();
    // Every node's port, masters first as created.
    std::vector<int> ports() const;
    // "127.0.0.1:p1, 127.0.0.1:p2, ..." of the first `n` nodes, for a seeds list.
    std::string seeds(size_t n = 1) const;
    // The node ids and ports of the current masters (CLUSTER NODES from a live node).
    struct Node {
        std::string id;
        int port = 0;
        bool master = false;
        std::string master_id;  // a replica's master
        int slots = 0;
    };
    std::vector<Node> nodes() const;
    // Waits until every live node says cluster_state:ok and they agree on the masters.
    bool waitHealthy(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
    // The keys every master holds, added up (DBSIZE on each master).
    long long totalKeys() const;
    // A direct connection to the master that serves `key`.
    int portForKey(const std::string& key) const;
    RedisServer& server(size_t i) { return *servers_[i]; }
    // Stops node i for good (SIGKILL).
    void kill(size_t i);

private:
    std::vector<std::unique_ptr<RedisServer>> servers_;
    std::vector<bool> dead_;
};

}  // namespace laminar::test

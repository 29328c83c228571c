// SPDX-License-Identifier: Apache-2.0
#include "support/cluster.h"

#include <csignal>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/more.h"

namespace laminar::test {

RedisCluster::RedisCluster(int masters, int replicas) {
    int n = masters * (1 + replicas);
    for (int i = 0; i < n; ++i) {
        servers_.push_back(std::make_unique<RedisServer>(
            std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"},
            freeClusterPort()));
        dead_.push_back(false);
    }
    std::string create = "timeout 60 redis-cli --cluster create";
    for (int p : ports()) create += " 127.0.0.1:" + std::to_string(p);
    create += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes 2>&1";
    int status = 0;
    auto out = run(create, &status);
    if (status != 0) throw std::runtime_error("redis-cli --cluster create failed: " + out);
    if (!waitHealthy()) throw std::runtime_error("the cluster did not become healthy");
    // A replica that has not finished its first sync refuses to take over ("disconnected from
    // master for longer than allowed"): wait for every replication link.
    bool linked = waitFor(
        [&] {
            for (const auto& s : servers_) {
                auto info = Client(s->port(), std::chrono::seconds(2)).cmd({"INFO", "replication"}).str;
                if (info.find("role:slave") != std::string::npos && info.find("master_link_status:up") == std::string::npos) return false;
            }
            return true;
        },
        std::chrono::seconds(30));
    if (!linked) throw std::runtime_error("the cluster's replicas did not finish their first sync");
}

RedisCluster::~RedisCluster() = default;

std::vector<int> RedisCluster::ports() const {
    std::vector<int> out;
    for (const auto& s : servers_) out.push_back(s->port());
    return out;
}

std::string RedisCluster::seeds(size_t n) const {
    std::string out;
    for (size_t i = 0; i < servers_.size() && i < n; ++i) out += (out.empty() ? "" : ", ") + std::string("127.0.0.1:") + std::to_string(servers_[i]->port());
    return out;
}

std::vector<RedisCluster::Node> RedisCluster::nodes() const {
    for (size_t i = 0; i < servers_.size(); ++i) {
        if (dead_[i]) continue;
        Client c(servers_[i]->port(), std::chrono::seconds(2));
        auto r = c.cmd({"CLUSTER", "NODES"});
        if (r.type != REDIS_REPLY_STRING) continue;
        std::vector<Node> out;
        std::istringstream lines(r.str);
        std::string line;
        while (std::getline(lines, line)) {
            std::istringstream f(line);
            std::string id, addr, flags, master, ping, pong, epoch, link;
            f >> id >> addr >> flags >> master >> ping >> pong >> epoch >> link;
            if (flags.find("fail") != std::string::npos && flags.find("pfail") == std::string::npos) continue;
            if (flags.find("noaddr") != std::string::npos) continue;
            Node n;
            n.id = id;
            n.port = std::stoi(addr.substr(addr.find(':') + 1, addr.find('@') - addr.find(':') - 1));
            n.master = flags.find("master") != std::string::npos;
            n.master_id = master == "-" ? "" : master;
            std::string range;
            while (f >> range) {
                if (range.starts_with("[")) continue;  // a slot being migrated
                auto dash = range.find('-');
                n.slots += dash == std::string::npos ? 1 : std::stoi(range.substr(dash + 1)) - std::stoi(range.substr(0, dash)) + 1;
            }
            out.push_back(n);
        }
        return out;
    }
    return {};
}

bool RedisCluster::waitHealthy(std::chrono::milliseconds timeout) const {
    return waitFor(
        [&] {
            std::set<std::string> views;
            for (size_t i = 0; i < servers_.size(); ++i) {
                if (dead_[i]) continue;
                Client c(servers_[i]->port(), std::chrono::seconds(2));
                auto info = c.cmd({"CLUSTER", "INFO"});
                if (info.str.find("cluster_state:ok") == std::string::npos) return false;
                auto slots = c.cmd({"CLUSTER", "SLOTS"});
                if (slots.type != REDIS_REPLY_ARRAY) return false;
                std::string view;
                std::vector<std::string> ranges;
                for (const auto& r : slots.elements)
                    ranges.push_back(std::to_string(r.elements[0].integer) + "-" + std::to_string(r.elements[1].integer) + "@" +
                                     std::to_string(r.elements[2].elements[1].integer));
                std::sort(ranges.begin(), ranges.end());
                for (const auto& x : ranges) view += x + " ";
                views.insert(view);
            }
            return views.size() == 1;
        },
        timeout);
}

long long RedisCluster::totalKeys() const {
    long long total = 0;
    for (const auto& n : nodes())
        if (n.master) total += Client(n.port).cmd({"DBSIZE"}).integer;
    return total;
}

int RedisCluster::portForKey(const std::string& key) const {
    for (size_t i = 0; i < servers_.size(); ++i) {
        if (dead_[i]) continue;
        Client c(servers_[i]->port());
        auto slot = c.cmd({"CLUSTER", "KEYSLOT", key}).integer;
        auto slots = c.cmd({"CLUSTER", "SLOTS"});
        for (const auto& r : slots.elements)
            if (r.elements[0].integer <= slot && slot <= r.elements[1].integer) return static_cast<int>(r.elements[2].elements[1].integer);
    }
    return -1;
}

void RedisCluster::kill(size_t i) {
    servers_[i]->kill();
    dead_[i] = true;
}

}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// A fixture for tests of the cluster backend: two scripted Redis Cluster masters on loopback
// ports (support/loopback.h), a ClusterBackend seeded with one of them, and its io_context run on
// the test thread until what the test waits for has happened.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/cluster/cluster_backend.h"
#include "resp/writer.h"
#include "support/loopback.h"

namespace laminar::backend::cluster::testing {

using laminar::testing::Argv;
using laminar::testing::RefusingPort;
using laminar::testing::ScriptedServer;
using namespace std::chrono_literals;

struct Replies : ReplySink {
    void complete(std::string_view raw, bool failed) override { got.emplace_back(std::string(raw), failed); }
    std::vector<std::pair<std::string, bool>> got;
};

inline std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

inline std::string command(std::vector<std::string_view> args) {
    std::string out;
    resp::appendCommand(out, std::span<const std::string_view>(args));
    return out;
}

inline std::string where(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Two masters: `low` serves slots 0-8191 and `high` 8192-16383, unless a test moves slots.
class ScriptedCluster : public ::testing::Test {
protected:
    ScriptedCluster()
        : low([this](const Argv& argv) { return answer("low", argv); }), high([this](const Argv& argv) { return answer("high", argv); }) {
        poller.attach(ioc);
        cfg.name = "c";
        cfg.type = config::BackendConfig::Type::kRedisCluster;
        cfg.servers = {low.at()};
        cfg.address = low.at();
        ranges = {{0, 8191, low.port()}, {8192, 16383, high.port()}};
    }
    ~ScriptedCluster() override {
        backend.reset();
        poller.detach();
    }

    void start() { backend = std::make_unique<ClusterBackend>(ioc, poller, cfg, counters, health); }
    // Runs the backend's loop until `done` (the bound only keeps a broken backend from hanging
    // the test; nothing is timed by it).
    void runUntil(const std::function<bool()>& done, std::chrono::milliseconds bound = 10s) {
        auto deadline = std::chrono::steady_clock::now() + bound;
        while (!done() && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(100ms);
        ASSERT_TRUE(done()) << "not within " << bound.count() << " ms";
    }
    // Sends `raw` on a client's own connection and waits for its reply.
    std::pair<std::string, bool> sendOn(DedicatedConnection& conn, const std::string& raw) {
        Replies sink;
        conn.send(raw, &sink, false);
        runUntil([&] { return !sink.got.empty(); });
        return sink.got.empty() ? std::pair<std::string, bool>{"", true} : sink.got[0];
    }
    // Sends `raw` (as client `client_id`) and waits for its reply.
    std::pair<std::string, bool> call(const std::string& raw, uint64_t client_id = 1) {
        Replies sink;
        backend->send(client_id, raw, &sink);
        runUntil([&] { return !sink.got.empty(); });
        return sink.got.empty() ? std::pair<std::string, bool>{"", true} : sink.got[0];
    }
    std::pair<std::string, bool> get(const std::string& key) { return call(command({"GET", key})); }

    // What node `who` answers: PING, CLUSTER SLOTS (the map of the moment), ASKING, MULTI and
    // CLIENT ID, else `answers(who, argv)`.
    std::string answer(const std::string& who, const Argv& argv) {
        if (argv[0] == "PING") return "+PONG\r\n";
        if (argv[0] == "ASKING" || argv[0] == "MULTI") return "+OK\r\n";
        if (argv[0] == "CLIENT") return ":7\r\n";  // CLIENT ID, a dedicated connection's handshake
        if (argv.size() == 2 && argv[0] == "CLUSTER" && argv[1] == "SLOTS") return slots_reply ? slots_reply() : slots();
        return answers(who, argv);
    }
    using Ranges = std::vector<std::tuple<int, int, uint16_t>>;  // first slot, last slot, master's port
    std::string slots() const { return slots(ranges); }
    static std::string slots(const Ranges& ranges) {
        auto node = [](uint16_t port) { return "*3\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(port) + "\r\n$2\r\nid\r\n"; };
        std::string out = "*" + std::to_string(ranges.size()) + "\r\n";
        for (const auto& [first, last, port] : ranges)
            out += "*3\r\n:" + std::to_string(first) + "\r\n:" + std::to_string(last) + "\r\n" + node(port);
        return out;
    }
    size_t clusterSlotsAsked() const { return low.received("CLUSTER").size() + high.received("CLUSTER").size(); }

    // A key on slot 100 (low's) and one on slot 10000 (high's).
    const std::string low_key = "{" + std::to_string(slotTag(100)) + "}";
    const std::string high_key = "{" + std::to_string(slotTag(10000)) + "}";
    // Set by the tests before start(); read by the nodes' threads afterwards.
    std::function<std::string(const std::string&, const Argv&)> answers = [](const std::string& who, const Argv& argv) {
        return bulk(who + ":" + argv.back());
    };
    std::function<std::string()> slots_reply;  // set: CLUSTER SLOTS answers this
    Ranges ranges;

    ScriptedServer low, high;
    boost::asio::io_context ioc;
    io::Poller poller;
    config::BackendConfig cfg;
    obs::BackendCounters counters;
    HealthBoard health;
    std::unique_ptr<ClusterBackend> backend;  // last: gone before the nodes and the loop
};

}  // namespace laminar::backend::cluster::testing

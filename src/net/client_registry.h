// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace laminar::backend {
struct ServerIdentity;
}

namespace laminar::net {

// Every connected client, across I/O threads: for CLIENT LIST / CLIENT UNBLOCK and max_clients.
// Touched on connect, disconnect and state changes, never per command.
class ClientRegistry {
public:
    struct Entry {
        uint64_t id = 0;
        std::string addr;
        std::string laddr;
        std::string name;
        std::string lib_name, lib_ver;
        int db = 0;
        int resp = 2;
        int worker = -1;  // its I/O thread
        std::chrono::steady_clock::time_point since;
        // While the client waits in a blocking command: the backend connection's CLIENT ID and
        // server (shared with that connection, which learns the id asynchronously) and the
        // backend's name (not its index: another thread may route with another configuration).
        std::shared_ptr<const backend::ServerIdentity> blocked_on;
        std::string blocked_backend;
    };

    // One CLIENT LIST / CLIENT INFO line, in Redis's field order, ending in "\n".
    static std::string format(const Entry& e, std::chrono::steady_clock::time_point now);

    uint64_t add(std::string addr, std::string laddr);
    void remove(uint64_t id);
    template <typename F>
    void update(uint64_t id, F&& f) {
        std::lock_guard lock(mu_);
        auto it = entries_.find(id);
        if (it != entries_.end()) f(it->second);
    }
    bool find(uint64_t id, Entry& out) const;
    std::vector<Entry> list() const;
    size_t size() const { return count_.load(std::memory_order_relaxed); }

private:
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, Entry> entries_;
    std::atomic<uint64_t> next_id_{1};
    std::atomic<size_t> count_{0};
};

}  // namespace laminar::net

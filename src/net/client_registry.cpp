// SPDX-License-Identifier: Apache-2.0
#include "net/client_registry.h"

#include <algorithm>

namespace laminar::net {

std::string ClientRegistry::format(const Entry& e, std::chrono::steady_clock::time_point now) {
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - e.since).count();
    return "id=" + std::to_string(e.id) + " addr=" + e.addr + " laddr=" + e.laddr + " name=" + e.name +
           " age=" + std::to_string(age) + " db=" + std::to_string(e.db) + " resp=" + std::to_string(e.resp) +
           " lib-name=" + e.lib_name + " lib-ver=" + e.lib_ver + "\n";
}

uint64_t ClientRegistry::add(std::string addr, std::string laddr) {
    uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    Entry e;
    e.id = id;
    e.addr = std::move(addr);
    e.laddr = std::move(laddr);
    e.since = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    entries_.emplace(id, std::move(e));
    count_.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void ClientRegistry::remove(uint64_t id) {
    std::lock_guard lock(mu_);
    if (entries_.erase(id)) count_.fetch_sub(1, std::memory_order_relaxed);
}

bool ClientRegistry::find(uint64_t id, Entry& out) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    out = it->second;
    return true;
}

std::vector<ClientRegistry::Entry> ClientRegistry::list() const {
    std::lock_guard lock(mu_);
    std::vector<Entry> out;
    out.reserve(entries_.size());
    for (const auto& [id, e] : entries_) out.push_back(e);
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
    return out;
}

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
#include "net/invalidations.h"

#include <algorithm>

#include "resp/command_table.h"
#include "resp/request_parser.h"

namespace laminar::net {

void Invalidations::enable(uint64_t client, int worker, Mode mode) {
    std::lock_guard lock(mu_);
    auto [it, added] = clients_.try_emplace(client);
    Client& c = it->second;
    std::vector<std::string> prefixes = std::move(c.mode.prefixes);
    if (mode.bcast) {
        // Redis: BCAST without PREFIX tracks every key (the prefix ""); prefixes add to the ones set before.
        if (mode.prefixes.empty()) mode.prefixes.emplace_back();
        for (auto& p : mode.prefixes)
            if (std::find(prefixes.begin(), prefixes.end(), p) == prefixes.end()) prefixes.push_back(std::move(p));
    }
    c.worker = worker;
    c.mode = std::move(mode);
    c.mode.prefixes = std::move(prefixes);
    if (c.mode.bcast) {
        bcast_.insert(client);
        if (!feeds_up_) c.unsure = true;
    }
    if (added && tracking_.fetch_add(1, std::memory_order_relaxed) == 0 && wake_) wake_();
}

bool Invalidations::feedsAreUp() const {
    std::lock_guard lock(mu_);
    return feeds_up_;
}

void Invalidations::setFeedsUp(bool up) {
    std::vector<Out> out;
    {
        std::lock_guard lock(mu_);
        if (feeds_up_ == up) return;
        feeds_up_ = up;
        if (!up) return;
        for (auto& [id, c] : clients_) {
            if (!c.unsure) continue;
            c.unsure = false;
            route(id, c, nullptr, out);
        }
    }
    send(out);
}

void Invalidations::disable(uint64_t client) {
    std::lock_guard lock(mu_);
    // Its entries in keys_ stay until those keys change or are evicted: they are skipped then.
    if (clients_.erase(client) == 0) return;
    bcast_.erase(client);
    tracking_.fetch_sub(1, std::memory_order_relaxed);
}

void Invalidations::gone(uint64_t client) {
    if (!active()) return;
    std::vector<std::pair<int, uint64_t>> told;
    {
        std::lock_guard lock(mu_);
        for (const auto& [id, c] : clients_)
            if (c.mode.redirect == client) told.emplace_back(c.worker, id);
    }
    if (broken_)
        for (const auto& [worker, id] : told) broken_(worker, id, client);
}

void Invalidations::remember(uint64_t client, std::string_view key) {
    std::vector<Out> out;
    {
        std::lock_guard lock(mu_);
        if (!feeds_up_)
            if (auto c = clients_.find(client); c != clients_.end()) c->second.unsure = true;
        auto [it, added] = keys_.try_emplace(std::string(key));
        auto& readers = it->second;
        if (std::find(readers.begin(), readers.end(), client) == readers.end()) readers.push_back(client);
        if (added && keys_.size() > max_keys_) evictLocked(out);
    }
    send(out);
}

void Invalidations::evictLocked(std::vector<Out>& out) {
    while (keys_.size() > max_keys_) {
        auto node = keys_.extract(keys_.begin());
        for (uint64_t id : node.mapped()) {
            auto c = clients_.find(id);
            if (c != clients_.end() && !c->second.mode.bcast) route(id, c->second, &node.key(), out);
        }
    }
}

void Invalidations::route(uint64_t client, const Client& c, const std::string* key, std::vector<Out>& out) const {
    int worker = c.worker;
    uint64_t target = client;
    if (c.mode.redirect != 0) {
        worker = c.mode.redirect_worker;
        target = c.mode.redirect;
    }
    auto it = std::find_if(out.begin(), out.end(), [&](const Out& o) { return o.target == target && (o.keys != nullptr) == (key != nullptr); });
    if (it == out.end()) {
        out.push_back({worker, target, key ? std::make_shared<std::vector<std::string>>() : nullptr});
        it = out.end() - 1;
    }
    if (key && std::find(it->keys->begin(), it->keys->end(), *key) == it->keys->end()) it->keys->push_back(*key);
}

void Invalidations::changed(std::string_view key, uint64_t by) {
    std::string k(key);
    changed(std::span<const std::string>(&k, 1), by);
}

void Invalidations::changed(std::span<const std::string> keys, uint64_t by) {
    if (!active()) return;
    std::vector<Out> out;
    {
        std::lock_guard lock(mu_);
        for (const std::string& key : keys) {
            if (auto node = keys_.extract(key)) {
                for (uint64_t id : node.mapped()) {
                    auto c = clients_.find(id);
                    if (c == clients_.end() || c->second.mode.bcast || (c->second.mode.noloop && id == by)) continue;
                    route(id, c->second, &key, out);
                }
            }
            for (uint64_t id : bcast_) {
                const Client& c = clients_.at(id);
                if (c.mode.noloop && id == by) continue;
                for (const auto& p : c.mode.prefixes) {
                    if (key.starts_with(p)) {
                        route(id, c, &key, out);
                        break;
                    }
                }
            }
        }
    }
    send(out);
}

void Invalidations::flush(uint64_t client) {
    std::vector<Out> out;
    {
        std::lock_guard lock(mu_);
        auto c = clients_.find(client);
        if (c == clients_.end()) return;
        route(client, c->second, nullptr, out);
    }
    send(out);
}

void Invalidations::flushAll() {
    if (!active()) return;
    std::vector<Out> out;
    {
        std::lock_guard lock(mu_);
        for (const auto& [id, c] : clients_) route(id, c, nullptr, out);
        // Nothing remembered stays worth telling: every reader was just told to drop everything.
        keys_.clear();
    }
    send(out);
}

void Invalidations::send(std::vector<Out>& out) const {
    if (!deliver_) return;
    for (auto& o : out) deliver_(o.worker, o.target, std::move(o.keys));
}

bool Invalidations::scheduleMove(std::string_view key) {
    std::lock_guard lock(mu_);
    return moves_.emplace(key).second;
}

void Invalidations::moved(std::string_view key) {
    {
        std::lock_guard lock(mu_);
        moves_.erase(std::string(key));
    }
    changed(key, 0);
}

size_t Invalidations::trackedKeys() const {
    std::lock_guard lock(mu_);
    return keys_.size();
}

namespace {

struct Announce final : backend::ReplySink {
    Invalidations* invalidations = nullptr;
    backend::ReplySink* inner = nullptr;
    std::vector<std::string> keys;
    void complete(std::string_view raw, bool failed) override {
        inner->complete(raw, failed);
        invalidations->changed(keys, 0);  // failed too: it may have run
        delete this;
    }
};

}  // namespace

backend::ReplySink* announceChanges(Invalidations& invalidations, std::string_view raw, backend::ReplySink* sink) {
    resp::RequestParser parser;
    if (parser.parse(raw) != resp::ParseStatus::kOk) return sink;
    const auto& argv = parser.args();
    if (argv.empty()) return sink;
    const resp::CommandInfo* cmd = resp::lookupCommand(argv);
    if (!cmd || !cmd->has(resp::kWrite)) return sink;
    std::vector<int> at;
    resp::keyIndices(*cmd, argv, at);
    if (at.empty()) return sink;
    auto* announce = new Announce;
    announce->invalidations = &invalidations;
    announce->inner = sink;
    for (int i : at) announce->keys.emplace_back(argv[static_cast<size_t>(i)]);
    return announce;
}

}  // namespace laminar::net

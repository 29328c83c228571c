// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "backend/backend.h"

namespace laminar::net {

class Invalidations;

// A Redis invalidation push (`>2 invalidate [keys]`, or `invalidate _` for the whole keyspace):
// its keys, or `all`. False for any other reply.
bool parseInvalidation(std::string_view raw, std::vector<std::string>& keys, bool& all);

// What tells laminar that a key changed on a Redis backend whoever changed it (another laminar
// client, laminar's own copies, a client of the backend itself): a RESP3 connection to each
// server of a redis or redis_cluster backend (Backend::openChangeFeeds: a cluster's masters), with
// CLIENT TRACKING ON BCAST, whose pushes go to Invalidations. A cluster whose masters change
// (failover, resharding onto a new node) gets its feeds opened again.
// Open only while some client tracks. When a feed is lost, or until it is first up, changes may
// have been missed: each time a feed comes up, every tracking client gets a null invalidation.
// The first I/O thread owns them; on its thread only.
class ChangeFeeds {
public:
    explicit ChangeFeeds(Invalidations& invalidations) : invalidations_(invalidations) {}
    ~ChangeFeeds();

    // Every sweep and after a reload: the feeds of each redis and redis_cluster backend of
    // `backends` while `active`, none otherwise; a backend with a lost one has them all opened
    // again after kRetry.
    void sync(const std::vector<std::shared_ptr<backend::Backend>>& backends, bool active);
    size_t up() const;

    static constexpr std::chrono::seconds kRetry{1};
    static constexpr std::chrono::seconds kLinger{30};

private:
    struct Feed final : backend::ReplySink {
        ChangeFeeds* owner = nullptr;
        std::shared_ptr<backend::Backend> backend;
        std::string servers;  // backend->changeFeedServers() when opened
        std::shared_ptr<backend::DedicatedConnection> conn;
        bool up = false, dead = false, closing = false;
        std::chrono::steady_clock::time_point dead_since;
        void complete(std::string_view raw, bool failed) override;
    };

    void close(Feed& feed);
    // Tells Invalidations whether every backend of the last sync() that has feeds has them all up.
    void report();

    Invalidations& invalidations_;
    std::vector<std::unique_ptr<Feed>> feeds_;
    std::vector<std::string> keys_;  // scratch
    std::vector<std::shared_ptr<backend::Backend>> wanted_;  // those backends, of the last sync()
    std::unordered_set<std::string> refused_;  // backends whose refusal was logged
};

}  // namespace laminar::net

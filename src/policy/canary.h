// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "policy/sync_engine.h"

namespace laminar::policy {

class Snapshot;

// Backend canaries (docs/design.md: a side that stops flowing must be noticed): every canary.every, on one I/O thread,
//  1. each backend of the current configuration gets `SET laminar:canary:<backend> <stamp> PX
//     <canary.ttl>` and `GET` of the same key, pipelined on the thread's connection; a backend of
//     several servers (a cluster's masters, memcached's servers) gets one such key per server
//     (Backend::canaryKeys);
//  2. the canary is ok when every GET returns the stamp just written; otherwise (an error, a
//     timeout, another value, no reply before the next round) it fails, with the first why;
//  3. a failing canary marks the backend down on the health board (HealthCell::canary_failing):
//     `condition` routes (backend_down/degraded), /readyz and LAMINAR STATUS react, and it clears
//     by itself with the next good canary. Each change is logged once.
// Queue canaries (one through the write queue per target) are the queue's (write_queue.h).
class Canaries : public std::enable_shared_from_this<Canaries> {
public:
    Canaries(SyncHost& host, std::function<std::shared_ptr<const Snapshot>()> snapshot);
    void start();
    void stop() { alive_->store(false); }

    struct Path {
        bool ok = false;
        bool known = false;         // at least one round finished
        std::string why;            // when failing
        double round_trip_ms = 0;   // of the last good canary
        int64_t last_ok_ms = 0;     // unix ms of the last good canary (0: none yet)
    };
    std::map<std::string, Path> paths() const;  // by backend name

private:
    void round();
    void finish(const std::string& backend, bool ok, std::string why, double rt_ms);

    SyncHost& host_;
    std::function<std::shared_ptr<const Snapshot>()> snapshot_;
    mutable std::mutex mu_;
    std::map<std::string, Path> paths_;
    std::map<std::string, uint64_t> pending_;  // backend -> round whose canary has not answered
    uint64_t round_ = 0;
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace laminar::policy

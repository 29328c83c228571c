// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/backend.h"

namespace laminar::net {

// Client-side caching through laminar (CLIENT TRACKING): which keys each tracking client read, and
// whom to tell when one of them changes. laminar keeps this table itself, as Redis does, because a
// client's reads go over connections shared with other clients, so no backend knows what one
// client has cached.
//
//  - Default mode: a key a client read is remembered; its next change sends the client (or its
//    REDIRECT target) one invalidation and forgets the key until it is read again.
//  - BCAST: every change of a key under one of the client's prefixes ("" covers every key).
//  - NOLOOP: not the changes the client made itself.
//  - A null invalidation (the whole cache) when laminar cannot say which keys changed: a reload,
//    a backend's change feed lost, a FLUSHALL.
//  - The table holds at most `max_keys` keys; past it keys are invalidated and forgotten
//    to make room, as Redis does past tracking-table-max-keys.
//
// Shared by the I/O threads (one mutex, taken per read of a tracking client and per change while
// any client tracks); invalidations are handed to `deliver` after the lock is dropped.
class Invalidations {
public:
    static constexpr size_t kDefaultMaxKeys = 1'000'000;

    // Sends an invalidation to client `target` on I/O thread `worker`: `keys`, or the whole cache
    // when it is null.
    using Deliver = std::function<void(int worker, uint64_t target, std::shared_ptr<const std::vector<std::string>> keys)>;

    struct Mode {
        bool bcast = false;
        bool noloop = false;
        std::vector<std::string> prefixes;  // BCAST's: added to those it had
        uint64_t redirect = 0;              // 0: the client itself
        int redirect_worker = -1;
    };

    explicit Invalidations(size_t max_keys = kDefaultMaxKeys) : max_keys_(max_keys) {}

    void setDeliver(Deliver deliver) { deliver_ = std::move(deliver); }
    // Tells tracking client `client` on I/O thread `worker` that its REDIRECT target `target` left.
    using Broken = std::function<void(int worker, uint64_t client, uint64_t target)>;
    void setBroken(Broken broken) { broken_ = std::move(broken); }
    // Called (from the thread that enables it) when the first client starts tracking.
    void setWake(std::function<void()> wake) { wake_ = std::move(wake); }

    // Whether every Redis backend's change feed is up (net/change_feed.h). While one is not, a
    // change on it may go unseen: a client that reads, or starts BCAST, meanwhile gets a null
    // invalidation once they are all up again (setFeedsUp(true)).
    void setFeedsUp(bool up);
    bool feedsAreUp() const;

    // CLIENT TRACKING ON (again: the mode replaces the one it had, prefixes add up) and OFF, or
    // the client left.
    void enable(uint64_t client, int worker, Mode mode);
    void disable(uint64_t client);
    // A client left (any: it may be a REDIRECT target). The clients that redirect to it are told
    // (RESP3: a tracking-redir-broken push, as Redis sends), and their invalidations go nowhere
    // until they turn tracking on again.
    void gone(uint64_t client);
    // Some client tracks: writes must say what they changed.
    bool active() const { return tracking_.load(std::memory_order_relaxed) > 0; }

    // A default-mode client read `key`.
    void remember(uint64_t client, std::string_view key);
    // `keys` changed; `by`: the laminar client that changed them (0: laminar's own work, the
    // backend, another client of it).
    void changed(std::span<const std::string> keys, uint64_t by);
    void changed(std::string_view key, uint64_t by);
    // The whole cache of `client`, or of every tracking client.
    void flush(uint64_t client);
    void flushAll();

    // A read of `key` moves at a known time (Strategy::readMovesAt): true when no timer for it
    // is set yet, and the caller sets one that calls moved(key).
    bool scheduleMove(std::string_view key);
    void moved(std::string_view key);

    size_t trackedKeys() const;
    size_t trackingClients() const { return tracking_.load(std::memory_order_relaxed); }

private:
    struct Client {
        int worker = -1;
        Mode mode;
        bool unsure = false;  // cached what a feed that was down may not have reported
    };
    struct Out {
        int worker;
        uint64_t target;
        std::shared_ptr<std::vector<std::string>> keys;  // null: flush
    };

    // Under mu_: where `client`'s invalidations go, appended to `out` with `key` (none: a flush).
    void route(uint64_t client, const Client& c, const std::string* key, std::vector<Out>& out) const;
    void send(std::vector<Out>& out) const;
    void evictLocked(std::vector<Out>& out);

    const size_t max_keys_;
    Deliver deliver_;
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, Client> clients_;
    std::unordered_map<std::string, std::vector<uint64_t>> keys_;  // default mode: key -> readers
    std::unordered_set<uint64_t> bcast_;
    std::unordered_set<std::string> moves_;  // keys a timer will invalidate
    std::atomic<size_t> tracking_{0};
    std::function<void()> wake_;
    Broken broken_;
    bool feeds_up_ = false;  // under mu_
};

// `raw` (one RESP command) when it is a write: a sink that hands the reply to `sink`, then tells
// `invalidations` that its keys changed. Else `sink` itself.
backend::ReplySink* announceChanges(Invalidations& invalidations, std::string_view raw, backend::ReplySink* sink);

}  // namespace laminar::net

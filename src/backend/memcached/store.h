// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace laminar::backend::memcached {

enum class Status {
    kOk,
    kMiss,       // no such key
    kNotStored,  // add on an existing key, replace/append on a missing one
    kExists,     // cas: the item changed since it was read
    kTooLarge,   // over the server's item size
    kError,      // could not talk to the server: error() says why
};

struct Item {
    std::string value;
    uint64_t cas = 0;
};

// The memcached operations the Redis command translation is built on: one connection's worth,
// blocking. `exptime` is memcached's: 0 none, up to 30 days relative seconds, beyond that a unix
// time on the server's own clock (serverTime), which lags ours by up to seconds.
// The production implementation is libmemcached's; unit tests use an in-memory one.
class Store {
public:
    enum class Mode { kSet, kAdd, kReplace, kCas, kAppend };

    virtual ~Store() = default;
    virtual Status get(std::string_view key, Item& item) = 0;
    // One entry per key, in order; nullopt for a miss.
    virtual Status getMany(std::span<const std::string> keys, std::vector<std::optional<std::string>>& out) = 0;
    virtual Status store(Mode mode, std::string_view key, std::string_view value, time_t exptime, uint64_t cas = 0) = 0;
    // Plain sets (no expiry) written together, in one round trip where the client library can.
    // kOk: every one was stored.
    virtual Status setMany(std::span<const std::pair<std::string, std::string_view>> items) = 0;
    virtual Status incr(std::string_view key, bool decrement, uint64_t delta, uint64_t& result) = 0;
    virtual Status remove(std::string_view key) = 0;
    virtual Status touch(std::string_view key, time_t exptime) = 0;
    // Whole seconds the key has left, -1 when it does not expire (memcached's meta command `mg k t`).
    virtual Status ttl(std::string_view key, long long& seconds) = 0;
    // The exptime that, given back to store(), keeps the key's expiry exactly as it is (0: none;
    // KEEPTTL, and counters rewritten with cas). kMiss when there is no such key.
    virtual Status keptExptime(std::string_view key, time_t& exptime) = 0;
    // The unix time (whole seconds) on the clock of the server holding `key`, when ours says
    // `now_ms`: what an exptime over 30 days is counted on.
    virtual long long serverTime(std::string_view key, long long now_ms) = 0;
    virtual Status flush() = 0;
    // Every key every server holds (memcached's `lru_crawler metadump hash`), for SCAN.
    virtual Status keys(std::vector<std::string>& out) = 0;
    // Every server answers (a health probe while no command flows).
    virtual Status ping() = 0;
    virtual std::string error() const = 0;
};

}  // namespace laminar::backend::memcached

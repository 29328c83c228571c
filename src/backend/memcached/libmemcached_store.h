// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/memcached/store.h"
#include "config/config.h"

struct memcached_st;

namespace laminar::backend::memcached {

// One key per server of `cfg`, `base:N` with the smallest N that the servers' consistent hashing
// (as every LibmemcachedStore sets it) puts there, with "server host:port" as `where`.
std::vector<CanaryKey> keyPerServer(const config::BackendConfig& cfg, const std::string& base);

// A Store on one libmemcached handle (one connection per server, consistent hashing across
// servers), used by one pool thread. Blocking, bounded by the backend's timeouts.
//
// libmemcached has no way to read an item's remaining time to live; memcached >= 1.6 tells it
// through its meta protocol (`mg <key> t`), which this class speaks on a small connection of its
// own per server, chosen by libmemcached's hashing so it asks the server that holds the key.
class LibmemcachedStore final : public Store {
public:
    explicit LibmemcachedStore(const config::BackendConfig& cfg);
    ~LibmemcachedStore() override;
    LibmemcachedStore(const LibmemcachedStore&) = delete;
    LibmemcachedStore& operator=(const LibmemcachedStore&) = delete;

    Status get(std::string_view key, Item& item) override;
    Status getMany(std::span<const std::string> keys, std::vector<std::optional<std::string>>& out) override;
    Status store(Mode mode, std::string_view key, std::string_view value, time_t exptime, uint64_t cas) override;
    Status setMany(std::span<const std::pair<std::string, std::string_view>> items) override;
    Status incr(std::string_view key, bool decrement, uint64_t delta, uint64_t& result) override;
    Status remove(std::string_view key) override;
    Status touch(std::string_view key, time_t exptime) override;
    Status ttl(std::string_view key, long long& seconds) override;
    Status keptExptime(std::string_view key, time_t& exptime) override;
    long long serverTime(std::string_view key, long long now_ms) override;
    Status flush() override;
    Status ping() override;
    Status keys(std::vector<std::string>& out) override;
    std::string error() const override { return error_; }

private:
    Status status(int rc);
    Status status(memcached_st* handle, int rc);
    Status fetchMany(memcached_st* handle, std::span<const std::string> keys, std::vector<std::optional<std::string>>& out);
    int metaConnection(const std::string& host, int port);
    // The meta connection to host:port (opened on first use), or -1.
    int metaFd(const std::string& host, int port, std::string& server);
    // Sends `request` and reads until a line for which `last(line)` is true; false on failure.
    bool metaExchange(int fd, const std::string& server, const std::string& request, std::chrono::milliseconds timeout,
                      const std::function<bool(std::string_view line)>& last);
    Status metaFailed(const std::string& server, std::string why);
    // The meta connection to the server holding `key`, or -1 (error() says why).
    int metaFdFor(std::string_view key, std::string& server);
    // Sends `request` (ending in `stats`), reads its replies, and narrows what is known of the
    // server's clock by the `STAT time` it answers; `line` sees every line before the stats.
    // False on failure.
    bool exchangeWithClock(int fd, const std::string& server, const std::string& request,
                           const std::function<void(std::string_view line)>& line, long long& server_now);

    config::BackendConfig cfg_;
    memcached_st* mc_;
    memcached_st* buffered_ = nullptr;  // the same servers, with buffered writes, for setMany
    std::vector<std::string> probe_keys_;  // one key held by each server
    std::map<std::string, int> meta_fds_;  // "host:port" -> socket
    // memcached's clock is whole seconds, ticking once a second at its own phase: a reading of
    // `STAT time` S at our time w says the offset (its clock minus ours, ms) is in [S*1000 - w,
    // S*1000 + 1000 - w). Readings at other phases narrow that interval.
    struct ServerClock {
        long long lo = 0, hi = 0;
        bool known = false;
        std::chrono::steady_clock::time_point read{};
    };
    std::map<std::string, ServerClock> clocks_;
    std::string error_;
};

}  // namespace laminar::backend::memcached

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resp/command_table.h"

namespace laminar::obs {

// A number one thread writes (its I/O thread) and any thread reads: a relaxed load and store, so
// the data path pays no locked instruction, and no cache line is written by two threads. Totals
// are the sum over every thread's copy.
template <class T>
class Local {
public:
    void add(T n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    T value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> v_{0};
};
using LocalCounter = Local<uint64_t>;
using LocalGauge = Local<int64_t>;  // a level (connections open), moved up and down by deltas

// Reply latency of one backend as one thread saw it, in fixed buckets from 100 µs to 5 s.
class LatencyHistogram {
public:
    static constexpr std::array<uint32_t, 15> kBoundsMicros = {
        100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000};
    static constexpr size_t kBuckets = kBoundsMicros.size() + 1;  // the last is above every bound

    void observe(uint32_t micros) {
        size_t i = 0;
        while (i < kBoundsMicros.size() && micros > kBoundsMicros[i]) ++i;  // most replies stop at the first few
        buckets_[i].add();
        sum_micros_.add(micros);
    }
    // Adds this thread's per-bucket counts (not cumulative) and sum into a total.
    void addTo(std::array<uint64_t, kBuckets>& counts, uint64_t& sum_micros) const {
        for (size_t i = 0; i < kBuckets; ++i) counts[i] += buckets_[i].value();
        sum_micros += sum_micros_.value();
    }

private:
    std::array<LocalCounter, kBuckets> buckets_;
    LocalCounter sum_micros_;
};

// laminar_commands_total{class}: from the command table's flags.
enum class CommandClass : uint8_t { kRead, kWrite, kOther };
constexpr size_t kCommandClasses = 3;
inline CommandClass commandClass(const resp::CommandInfo& cmd) {
    return cmd.has(resp::kWrite) ? CommandClass::kWrite : cmd.has(resp::kRead) ? CommandClass::kRead : CommandClass::kOther;
}
std::string_view name(CommandClass c);

// laminar_errors_total{kind}: why a client got an error reply.
enum class ErrorKind : uint8_t {
    kProtocol,            // malformed RESP from the client (then the connection is closed)
    kAuth,                // NOAUTH, WRONGPASS
    kCommand,             // unknown command, wrong arity, bad arguments to a command laminar answers
    kRefused,             // laminar would not run it: not through a proxy, admin, read_only, keys in two routes...
    kBackendUnavailable,  // laminar could not reach the backend (down, connection lost)
    kBackendTimeout,      // the backend did not answer within its timeout
    kBackendError,        // the backend's own error reply (WRONGTYPE, ...), passed through
};
constexpr size_t kErrorKinds = 7;
std::string_view name(ErrorKind k);

// One route (by name and strategy type) as one thread counts it.
struct alignas(64) RouteCounters {
    std::array<LocalCounter, kCommandClasses> commands;
    std::array<LocalCounter, kErrorKinds> errors;

    void countCommand(CommandClass c) { commands[static_cast<size_t>(c)].add(); }
};

// One backend as one thread sees it.
struct alignas(64) BackendCounters {
    LatencyHistogram latency;
    LocalGauge shared;     // shared connections established
    LocalGauge dedicated;  // dedicated connections held by pinned clients or pooled
    // redis_cluster: redirects followed and commands retried (failover, resharding)
    LocalCounter moved, ask, retried;
};

// One I/O thread's metrics: written by that thread alone, read by scrapes, which add up every
// thread's. Counters of a route or a backend are kept by name across reloads, so a total never
// goes back (a route whose strategy type changes starts a new series).
class alignas(64) ThreadMetrics {
public:
    LocalCounter commands;  // every command from a client, whatever answered it
    LocalGauge pinned;      // clients on a dedicated backend connection now
    LocalCounter tls_handshake_failures;  // TLS clients closed because their handshake failed
    LocalGauge sched_batch;               // 1 while this thread runs under SCHED_BATCH (io_scheduling)
    LocalCounter sched_fallbacks;         // adaptive io_scheduling: times it went back to the normal policy

    // On the owning thread (or before it starts):
    // `route`: the route the command went to; nullptr when it had none (yet).
    void countError(ErrorKind kind, RouteCounters* route) { (route ? route->errors : unrouted_errors_)[static_cast<size_t>(kind)].add(); }
    // `index`: of a route last given to bindRoutes(), which takes each route's name and strategy
    // type in the configuration's order. The counters live as long as this object, whatever
    // configuration comes next.
    RouteCounters& route(size_t index) { return *routes_[index]; }
    void bindRoutes(const std::vector<std::pair<std::string, std::string>>& routes);
    // The counters of backend `name`, made on first use; they live as long as this object.
    BackendCounters& backend(const std::string& name);

    // From any thread. nullptr when this thread never counted that route or backend.
    uint64_t unroutedErrors(ErrorKind kind) const { return unrouted_errors_[static_cast<size_t>(kind)].value(); }
    // Over every route this thread ever counted, and none.
    uint64_t allErrors(ErrorKind kind) const;
    const RouteCounters* findRoute(const std::string& route, const std::string& strategy) const;
    const BackendCounters* findBackend(std::string_view name) const;

private:
    mutable std::mutex mu_;  // guards the maps: the owning thread adds to them, scrapes read them
    std::map<std::pair<std::string, std::string>, std::unique_ptr<RouteCounters>> by_route_;
    std::map<std::string, std::unique_ptr<BackendCounters>, std::less<>> by_backend_;
    std::vector<RouteCounters*> routes_;  // by route index of the bound snapshot; the owning thread's
    std::array<LocalCounter, kErrorKinds> unrouted_errors_;
};

}  // namespace laminar::obs

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <list>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "obs/thread_metrics.h"
#include "backend/backend.h"
#include "io/poller.h"
#include "io/scheduling.h"
#include "io/tls.h"
#include "policy/snapshot.h"
#include "policy/sync_engine.h"

namespace laminar::net {

// A TLS client that has not finished its handshake by then is closed (and counted as failed).
inline constexpr std::chrono::seconds kTlsHandshakeTimeout{10};

class ChangeFeeds;
class Host;
class Session;

// One I/O thread: its own io_context, its clients, and its own connections to every backend, so
// the data path takes no lock. The listener hands it accepted sockets.
class Worker final : public policy::SyncHost {
public:
    // Builds this thread's backend for a configuration entry; backend::makeBackend unless a test
    // gives a fake.
    using BackendMaker = std::function<std::shared_ptr<backend::Backend>(const config::BackendConfig& cfg)>;

    Worker(Host& host, int index, BackendMaker make_backend = {});
    ~Worker();

    boost::asio::io_context& ioc() { return ioc_; }
    Host& host() { return host_; }
    int index() const { return index_; }
    // This thread's counters, for INFO and /metrics.
    obs::ThreadMetrics& stats() { return stats_; }
    const obs::ThreadMetrics& stats() const { return stats_; }

    void startThread();
    void join();

    // On this worker's thread:
    // A client accepted by the server; `tls`: on a TLS listener.
    void adopt(int fd, std::string addr, std::string laddr, std::shared_ptr<io::TlsContext> tls = nullptr);
    io::Poller& poller() { return poller_; }
    void setSnapshot(std::shared_ptr<const policy::Snapshot> snapshot);
    const std::shared_ptr<const policy::Snapshot>& snapshot() const { return snapshot_; }
    backend::Backend& backend(int index) { return *backends_[static_cast<size_t>(index)]; }
    const std::shared_ptr<backend::Backend>& backendPtr(int index) { return backends_[static_cast<size_t>(index)]; }
    size_t backendCount() const { return backends_.size(); }
    // Replies are written once per event-loop turn: sessions that got replies register here and
    // are flushed together after the handlers of this turn.
    void markDirty(Session* s);
    void destroy(Session* s);
    // CLIENT TRACKING: an invalidation for this thread's client `target` (`keys` null: the whole
    // cache); nothing when it is gone.
    void deliverInvalidation(uint64_t target, const std::shared_ptr<const std::vector<std::string>>& keys);
    // CLIENT TRACKING: this thread's client `client` lost its REDIRECT target `target`.
    void redirectBroken(uint64_t client, uint64_t target);
    // The change feeds up (see ChangeFeeds; the first thread's only, else 0).
    size_t changeFeedsUp() const;
    // From any thread: the first thread opens its change feeds now, not at its next sweep.
    void wakeFeeds() { post([this] { syncFeeds(); }); }
    // Sessions idle since `cutoff` give back their buffers (Session::releaseIdleMemory); the
    // sweep calls it every 250 ms for those idle since the sweep before.
    void releaseIdleMemory(std::chrono::steady_clock::time_point cutoff);
    size_t sessionsHoldingMemory() const;
    void beginShutdown();

    // policy::SyncHost: the sync engine's shards and background work (warm copies, key syncs,
    // shadow reads) run on the I/O threads, on their shared connections.
    bool isCurrentThread() const override { return std::this_thread::get_id() == thread_id_; }
    void post(std::function<void()> fn) override;
    void postAfter(std::chrono::milliseconds delay, std::function<void()> fn) override;
    policy::Dispatch& background() override { return background_; }
    std::shared_ptr<const policy::Snapshot> currentSnapshot() const override { return snapshot_; }
    void readsMoved() override;
    size_t sessionCount() const { return session_count_.load(std::memory_order_relaxed); }
    // The generation of the snapshot this thread routes with (read by other threads).
    uint64_t installedGeneration() const { return installed_generation_.load(std::memory_order_acquire); }

private:
    // Sends on the shared connections with a client id of its own.
    struct Background final : policy::Dispatch {
        Worker* worker;
        void send(int backend, std::string_view raw, backend::ReplySink* sink) override;
        std::vector<backend::CanaryKey> canaryKeys(int backend, const std::string& base) override {
            return worker->backend(backend).canaryKeys(base);
        }
    };

    void flushDirty();
    void sweepIdle();
    void updateScheduling();
    void syncFeeds();

    Host& host_;
    BackendMaker make_backend_;
    int index_;
    // Outlive ioc_ and the backends: handlers destroyed with ioc_ may still remove sockets, and a
    // backend gives its connection counts back when it goes.
    io::Poller poller_;
    obs::ThreadMetrics stats_;
    boost::asio::io_context ioc_{1};
    std::thread thread_;
    std::thread::id thread_id_;
    Background background_;
    std::shared_ptr<const policy::Snapshot> snapshot_;
    std::vector<std::shared_ptr<backend::Backend>> backends_;
    // Backends a reload dropped: kept until the commands already sent to them are answered.
    std::vector<std::shared_ptr<backend::Backend>> retired_;
    std::list<std::unique_ptr<Session>> sessions_;
    std::unordered_map<uint64_t, Session*> by_id_;  // for invalidations addressed by client id
    std::unique_ptr<ChangeFeeds> feeds_;            // the first thread's, while some client tracks
    std::optional<std::chrono::steady_clock::time_point> tracked_at_;  // last seen a tracking client
    std::atomic<size_t> session_count_{0};
    std::atomic<uint64_t> installed_generation_{0};
    std::vector<Session*> dirty_;
    bool flush_posted_ = false;
    bool shutting_down_ = false;
    boost::asio::steady_timer sweep_;
    io::ThreadScheduling scheduling_;  // this thread's: made here, used on the thread only
};

}  // namespace laminar::net

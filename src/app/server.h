// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <span>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "app/http_server.h"
#include "config/config.h"
#include "net/client_registry.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "io/tls.h"
#include "net/worker.h"
#include "policy/backfill.h"
#include "policy/snapshot.h"
#include "policy/canary.h"
#include "policy/migration_state.h"
#include "policy/sync_engine.h"
#include "policy/write_queue.h"

namespace laminar::app {

using net::ClientRegistry;
using net::Host;
using net::Worker;

// The daemon: a listener on the main thread hands accepted sockets round-robin to the I/O
// threads (Worker), each of which owns its clients and backend connections.
//
//   main thread: acceptor, signals --(socket)--> Worker i: Session ... -> Backend (per worker)
//                admin HTTP (/metrics, /readyz): reads every Worker's counters
//
// SIGTERM/SIGINT: stop accepting, let every client's in-flight commands finish and their replies
// be written (bounded by shutdown_timeout), then exit.
class Server final : public Host {
public:
    // `path`: the file SIGHUP and LAMINAR RELOAD read again.
    // `quarantine_queue`: a write queue that cannot be opened is moved aside, not fatal.
    Server(std::shared_ptr<const policy::Snapshot> snapshot, std::string path, bool quarantine_queue = false);
    ~Server();

    // Binds the listener (throws std::system_error when it cannot), starts the I/O threads, and
    // runs until a shutdown completes.
    void run();
    void requestShutdown();
    // Builds a new snapshot from the file aside, validates it, and swaps it into every I/O thread.
    // A bad file leaves the running snapshot in place, and so does a migration step the phase
    // guardrails refuse (policy/phase_guard.h) unless `force`. Returns an error message, empty on
    // success.
    std::string reload(bool force = false);
    // From any thread: runs reload() on the main thread, then `done(error)` there.
    void reloadAsync(std::function<void(std::string)> done, bool force) override;
    // What reload() would do to each migration route, without doing it.
    std::string dryRun();
    void dryRunAsync(std::function<void(std::string)> done) override;
    std::string migrationText(Worker& from, std::string_view route) const override;
    std::string verifiedCommand(std::span<const std::string_view> argv) override;
    uint64_t reloadsOk() const { return reloads_ok_; }
    uint64_t reloadsFailed() const { return reloads_failed_; }

    ClientRegistry& registry() override { return registry_; }
    net::Invalidations& invalidations() override { return invalidations_; }
    const ClientRegistry& registry() const { return registry_; }
    policy::SyncEngine& sync() override { return *sync_; }
    const policy::Canaries& canaries() const { return *canaries_; }
    // The durable write queue, once a configuration with a queued_write route has opened it.
    policy::WriteQueue* queue() const override { return queue_ptr_.load(std::memory_order_acquire); }
    const policy::SyncEngine& sync() const { return *sync_; }
    std::string lastReloadError() const;
    size_t workerCount() const { return workers_.size(); }
    const Worker& worker(size_t i) const { return *workers_[i]; }
    // On the main thread (the admin endpoint's): the configuration loaded last, and its file.
    const policy::Snapshot& snapshot() const { return *snapshot_; }
    const std::string& configPath() const { return path_; }
    bool shuttingDown() const { return shutting_down_; }
    std::chrono::steady_clock::time_point startedAt() const { return started_; }
    // The oldest configuration generation any I/O thread still routes with.
    uint64_t minInstalledGeneration() const override;
    uint64_t totalConnections() const { return total_connections_.load(std::memory_order_relaxed); }
    uint64_t rejectedConnections() const { return rejected_connections_.load(std::memory_order_relaxed); }
    // The "# Laminar" INFO section, as seen from one I/O thread.
    std::string infoSection(Worker& from) const override;
    // LAMINAR STATUS, for a person reading redis-cli.
    std::string statusText(Worker& from) const override;
    // LAMINAR BACKFILL START <route> [RATE keys/s] [MATCH glob] | STATUS [route] | STOP <route>:
    // the RESP reply.
    std::string backfillCommand(Worker& from, std::span<const std::string_view> argv) override;
    // The latest backfill of each route, for /metrics.
    std::vector<std::pair<std::string, policy::Backfill::Progress>> backfills() const;

private:
    // Accepts on `acceptor` forever; with `tls`, its clients speak TLS.
    void accept(boost::asio::ip::tcp::acceptor& acceptor, bool tls);
    void listen(boost::asio::ip::tcp::acceptor& acceptor, const config::Endpoint& where, const char* what);
    void serveAdmin();
    void onSignal(int signo);
    void pollDrain();

    boost::asio::io_context ioc_{1};
    boost::asio::ip::tcp::acceptor acceptor_{ioc_};
    boost::asio::ip::tcp::acceptor tls_acceptor_{ioc_};  // tls.listen, when set
    std::shared_ptr<io::TlsContext> tls_;  // the listener's TLS (tls set); rebuilt by each reload
    boost::asio::signal_set signals_{ioc_};
    boost::asio::steady_timer drain_timer_{ioc_};
    std::chrono::steady_clock::time_point drain_deadline_;
    std::string path_;
    std::shared_ptr<const policy::Snapshot> snapshot_;
    std::atomic<uint64_t> reloads_ok_{0}, reloads_failed_{0};
    std::string last_reload_error_;
    net::Invalidations invalidations_;  // outlives the workers, whose clients use it
    std::vector<std::unique_ptr<Worker>> workers_;
    ClientRegistry registry_;
    std::unique_ptr<policy::SyncEngine> sync_;
    // Opened on the main thread (start, reload), read by every worker.
    std::shared_ptr<policy::Canaries> canaries_;
    std::unique_ptr<policy::WriteQueue> queue_;
    std::atomic<policy::WriteQueue*> queue_ptr_{nullptr};
    // Opens the queue when `cfg` has a queued_write route and it is not open yet; the error, or empty.
    std::string openQueueIfNeeded(const config::Config& cfg);
    // Why backends at addresses new to `next` cannot be used (preflight), or empty.
    std::string unusableBackends(const policy::Snapshot& next) const;
    // What the phase guardrails need to know of backfills and the sync backlog.
    policy::PhaseFacts phaseFacts() const;
    // Records `next`'s migration phases and logs each route's change.
    void notePhases(const policy::Snapshot& next, const std::vector<policy::PhaseChange>& changes);
    // state_dir: what the last run left (board, backfills, keys owed), read at start; written on
    // each change (saveState) and about once a second (tickState); closed at a clean stop.
    void openState();
    void saveState(bool flush_owed = true);
    void tickState();
    void closeState();
    // Every log.summary_every: a summary line per copy direction that had sync failures.
    void summarizeSync();
    std::string changedKeysBackfill(const std::string& route, const std::string& pair, policy::Backfill::Options& opt) const;
    boost::asio::steady_timer summary_timer_{ioc_};
    std::chrono::steady_clock::time_point last_summary_ = std::chrono::steady_clock::now();
    std::unique_ptr<policy::MigrationState> state_;
    std::map<std::string, policy::PhaseFacts::Backfill> remembered_backfills_;  // by route; set at start only
    boost::asio::steady_timer state_timer_{ioc_};
    std::string last_state_error_;
    bool quarantine_queue_ = false;
    mutable std::mutex verify_mu_;
    std::map<std::pair<std::string, std::string>, policy::PhaseFacts::Verify> verifies_;  // by backend names, sorted
    mutable std::mutex backfill_mu_;
    std::map<std::string, std::shared_ptr<policy::Backfill>> backfills_;  // by route, the latest of each
    mutable std::mutex reload_mu_;  // guards last_reload_error_, which clients read
    size_t next_worker_ = 0;
    bool shutting_down_ = false;
    std::atomic<uint64_t> total_connections_{0};
    std::atomic<uint64_t> rejected_connections_{0};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::shared_ptr<app::HttpServer> admin_;  // when admin.metrics is set
};

}  // namespace laminar::app

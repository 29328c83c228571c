// SPDX-License-Identifier: Apache-2.0
#include "app/server.h"

#include "app/preflight.h"
#include "io/write_ahead.h"
#include "obs/logging.h"
#include "app/metrics.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "resp/numbers.h"
#include "resp/writer.h"
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <thread>

namespace laminar::app {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("server");
    return l;
}

asio::ip::tcp::endpoint tcpEndpoint(const config::Endpoint& e, const char* what) {
    error_code ec;
    auto address = asio::ip::make_address(e.host == "localhost" ? std::string("127.0.0.1") : e.host, ec);
    if (ec) throw std::system_error(ec, std::string(what) + " address '" + e.host + "'");
    return {address, e.port};
}
}  // namespace

Server::Server(std::shared_ptr<const policy::Snapshot> snapshot, std::string path, bool quarantine_queue)
    : path_(std::move(path)), quarantine_queue_(quarantine_queue) {
    snapshot_ = std::move(snapshot);
    // An invalidation for a client of the calling thread is written at once, so that it stands
    // before the reply of anything that thread answers next (a read after a reload's flip).
    invalidations_.setDeliver([this](int worker, uint64_t target, std::shared_ptr<const std::vector<std::string>> keys) {
        if (worker < 0 || static_cast<size_t>(worker) >= workers_.size()) return;
        Worker* w = workers_[static_cast<size_t>(worker)].get();
        if (w->isCurrentThread()) w->deliverInvalidation(target, keys);
        else w->post([w, target, keys = std::move(keys)] { w->deliverInvalidation(target, keys); });
    });
    invalidations_.setWake([this] { workers_[0]->wakeFeeds(); });
    invalidations_.setBroken([this](int worker, uint64_t client, uint64_t target) {
        if (worker < 0 || static_cast<size_t>(worker) >= workers_.size()) return;
        Worker* w = workers_[static_cast<size_t>(worker)].get();
        if (w->isCurrentThread()) w->redirectBroken(client, target);
        else w->post([w, client, target] { w->redirectBroken(client, target); });
    });
    int threads = snapshot_->config().threads;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < threads; ++i) {
        workers_.push_back(std::make_unique<Worker>(*this, i));
        workers_.back()->setSnapshot(snapshot_);
    }
    std::vector<policy::SyncHost*> hosts;
    for (auto& w : workers_) hosts.push_back(w.get());
    sync_ = std::make_unique<policy::SyncEngine>(std::move(hosts));
    if (auto error = openQueueIfNeeded(snapshot_->config()); !error.empty()) throw std::runtime_error(error);
    Worker* host = workers_[0].get();
    canaries_ = std::make_shared<policy::Canaries>(*host, [host] { return host->snapshot(); });
    openState();
    // What the last run recorded is held to the guardrails as a reload is; without a state_dir
    // nothing is known, and every route starts a new record.
    auto changes = policy::checkPhases(*snapshot_, snapshot_->registry().migrations, phaseFacts(), !state_);
    std::string refused;
    for (const auto& c : changes)
        if (!c.refusal.empty() && !c.forced) refused += (refused.empty() ? "" : "; ") + c.refusal;
    if (!refused.empty()) {
        // Nothing ran: the files stay as read (the keys owed are still queued to this run's I/O
        // threads, which never started), and the next start is not taken for a crash.
        if (std::string error; !state_->release(error)) log()->error("state_dir: {}", error);
        throw std::runtime_error(fmt::format("the migration state in {} refuses this configuration: {}", snapshot_->config().state_dir,
                                             refused));
    }
    notePhases(*snapshot_, changes);
}

void Server::openState() {
    const auto& dir = snapshot_->config().state_dir;
    if (dir.empty()) {
        bool syncs = std::any_of(snapshot_->routes().begin(), snapshot_->routes().end(), [](const policy::Route& r) {
            policy::SyncTask task;
            std::string why;
            return r.strategy->backfillTask(task, why);
        });
        if (syncs)
            log()->warn("state_dir is not set: migration phases, backfills and the keys owed to a side that is away are kept in "
                        "memory only, and a restart forgets them (docs/operations.md, \"State across restarts\")");
        return;
    }
    policy::MigrationState::Loaded loaded;
    std::string error;
    state_ = policy::MigrationState::open(dir, loaded, error);
    if (!state_) throw std::runtime_error("state_dir: " + error);
    size_t restored = 0, orphans = 0;
    for (const auto& o : loaded.owed) {
        if (sync_->restore(snapshot_, o.pair, o.key)) {
            ++restored;
        } else {
            ++orphans;
            state_->paid(o.pair, o.key);
        }
    }
    if (loaded.unclean && loaded.untrusted.empty() && orphans) {
        loaded.untrusted = fmt::format("{} keys it owed have no route copying their direction now", orphans);
        policy::MigrationState::distrust(loaded);
    }
    if (loaded.unclean && !loaded.board.empty()) {
        if (loaded.untrusted.empty())
            log()->warn("the last run of laminar did not stop cleanly ({} holds its lock file); its write-ahead records are whole, so "
                        "the keys it owed are copied again and nothing else is needed",
                        dir);
        else
            log()->warn("the last run of laminar did not stop cleanly ({} holds its lock file) and its records cannot be trusted ({}): "
                        "the side each migration route was copying to may lack the writes whose copies were in flight, so stepping "
                        "reads there waits for a reconciling backfill",
                        dir, loaded.untrusted);
    }
    auto& board = snapshot_->registry().migrations;
    board.replace(std::move(loaded.board));
    remembered_backfills_ = std::move(loaded.backfills);
    saveState(false);  // what an unclean start marked stays marked, whatever happens next
    if (restored || orphans)
        log()->info("{} keys owed to a side by the last run are copied again from the backlog{}", restored,
                    orphans ? fmt::format("; {} are not: no route copies their direction now (run a reconciling backfill if it matters)",
                                          orphans)
                            : std::string());
    sync_->setLedger(state_.get());
    io::setWriteAheadLog(state_.get());
}

void Server::saveState(bool flush_owed) {
    if (!state_) return;
    auto board = snapshot_->registry().migrations.all();
    std::map<std::string, policy::PhaseFacts::Backfill> done;
    auto facts = phaseFacts();
    for (const auto& [route, rec] : board)
        if (auto b = facts.backfill(route)) done.emplace(route, std::move(*b));
    std::string error;
    // The keys owed are flushed only once they are in the engine (after openState), or an empty
    // backlog at start would cut the records of the keys the last run owed.
    if (!state_->save(board, done, error) || (flush_owed && !state_->flush(error))) {
        if (error != last_state_error_) log()->error("state_dir: {} (retried every second)", error);
    } else if (!last_state_error_.empty()) {
        log()->info("state_dir: written again");
    }
    last_state_error_ = error;
}

std::string Server::verifiedCommand(std::span<const std::string_view> argv) {
    long long compared = 0, differences = 0;
    std::string out;
    if (argv.size() != 8 || (argv[5] != "equal" && argv[5] != "different") || !resp::parseLongLong(argv[6], compared) ||
        !resp::parseLongLong(argv[7], differences) || compared < 0 || differences < 0) {
        resp::appendError(out, "ERR laminar: use LAMINAR VERIFIED <a> <b> <match|-> <equal|different> <compared> <differences> (laminar "
                               "verify --report sends it)");
        return out;
    }
    policy::PhaseFacts::Verify v{std::string(argv[2]), std::string(argv[3]), argv[4] == "-" ? std::string() : std::string(argv[4]),
                                 argv[5] == "equal", static_cast<uint64_t>(compared), static_cast<uint64_t>(differences),
                                 std::chrono::steady_clock::now()};
    log()->info("laminar verify reported {} vs {}{}: {} ({} keys compared, {} differences)", v.a, v.b, v.match.empty() ? "" : " (" + v.match + ")",
                argv[5], compared, differences);
    {
        std::lock_guard lock(verify_mu_);
        verifies_[std::minmax(v.a, v.b)] = std::move(v);
    }
    return "+OK\r\n";
}

// CHANGED: the keys the route wrote in new_only, copied back to `from`, in place of a reconciling
// scan of both sides. Only a complete record will do (policy/migration_state.h).
std::string Server::changedKeysBackfill(const std::string& route, const std::string& pair, policy::Backfill::Options& opt) const {
    if (!state_) return "ERR laminar: CHANGED needs state_dir, where the keys written in new_only are recorded; use RECONCILE";
    auto rec = snapshot_->registry().migrations.get(route);
    auto changes = state_->changedKeys(route);
    if (!rec || !changes.known) return fmt::format("ERR laminar: route '{}' has no record of keys written in new_only; use RECONCILE", route);
    if (changes.recording) return fmt::format("ERR laminar: route '{}' is still in new_only; step back to dual_write_read_new first", route);
    if (pair != rec->to + ">" + rec->from)
        return fmt::format("ERR laminar: CHANGED copies the keys written in new_only from '{}' to '{}', and route '{}' copies {} now; step "
                           "back to dual_write_read_new first",
                           rec->to, rec->from, route, pair);
    if (!changes.complete)
        return fmt::format("ERR laminar: the record of the keys route '{}' wrote in new_only is incomplete (it did not begin with the step "
                           "from dual_write_read_new, a run of laminar since did not stop cleanly, or it passed {} keys); use RECONCILE",
                           route, policy::MigrationState::kMaxChangedKeys);
    opt.keys = std::make_shared<const std::vector<std::string>>(std::move(changes.keys));
    return {};
}

void Server::summarizeSync() {
    auto now = std::chrono::steady_clock::now();
    auto period = std::chrono::duration_cast<std::chrono::seconds>(now - last_summary_ + std::chrono::milliseconds(500));
    last_summary_ = now;
    for (const auto& line : sync_->takeFailureSummary(period)) log()->warn("{}", line);
    summary_timer_.expires_after(snapshot_->config().log.summary_every);
    summary_timer_.async_wait([this](const error_code& e) {
        if (!e) summarizeSync();
    });
}

void Server::tickState() {
    saveState();
    state_timer_.expires_after(std::chrono::seconds(1));
    state_timer_.async_wait([this](const error_code& e) {
        if (!e) tickState();
    });
}

// A clean stop: every key the engine still holds is written down, then the lock file goes.
void Server::closeState() {
    if (!state_) return;
    saveState();
    std::vector<policy::MigrationState::Owed> owed;
    for (auto& [pair, key] : sync_->heldKeys()) owed.push_back({std::move(pair), std::move(key)});
    std::string error;
    io::setWriteAheadLog(nullptr);
    if (!state_->closeCleanly(owed, error)) log()->error("state_dir: {}; the next start takes this stop for a crash", error);
    state_.reset();
}


namespace {
// The backends queued_write strategies under `n` name (primary and queued). Reads by iterating:
// yaml-cpp's operator[] on a missing key gives an invalid node that throws when asked its type.
void queuedWriteBackends(const YAML::Node& n, std::vector<std::string>& out) {
    if (n.IsMap()) {
        bool queued_write = false;
        std::vector<std::string> names;
        for (const auto& kv : n) {
            const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
            if (key == "type") queued_write = kv.second.IsScalar() && kv.second.Scalar() == "queued_write";
            else if (key == "primary" && kv.second.IsScalar()) names.push_back(kv.second.Scalar());
            else if (key == "queued" && kv.second.IsSequence())
                for (const auto& x : kv.second)
                    if (x.IsScalar()) names.push_back(x.Scalar());
            queuedWriteBackends(kv.second, out);
        }
        if (queued_write) out.insert(out.end(), names.begin(), names.end());
    } else if (n.IsSequence()) {
        for (const auto& x : n) queuedWriteBackends(x, out);
    }
}
}  // namespace

std::string Server::openQueueIfNeeded(const config::Config& cfg) {
    std::vector<std::string> names;
    for (const auto& r : cfg.routes) queuedWriteBackends(r.strategy.node, names);
    if (queue_) {
        // The queue's targets are the backends it was opened with: a queued_write route on a
        // backend added since cannot work before a restart. Refused here, not per command.
        for (const auto& n : names)
            if (!queue_->hasTarget(n))
                return fmt::format("queue: backend '{}' of a queued_write route is not a write queue target (the queue's targets are the "
                                   "backends at the time it was opened): restart laminar to add it",
                                   n);
    }
    if (queue_ || names.empty()) return {};  // open, or no queued_write route
    std::string error;
    Worker* host = workers_[0].get();
    queue_ = policy::WriteQueue::open(cfg, *host, [host] { return host->snapshot(); }, error);
    if (!queue_ && quarantine_queue_ && std::filesystem::exists(cfg.queue.dir)) {
        // --quarantine-queue: the operator chose to start without what the queue holds.
        auto aside = fmt::format("{}.quarantined-{}", cfg.queue.dir, std::time(nullptr));
        std::error_code ec;
        std::filesystem::rename(cfg.queue.dir, aside, ec);
        if (ec) return fmt::format("queue: cannot open the write queue in {} ({}), nor move it aside to {}: {}", cfg.queue.dir, error, aside, ec.message());
        log()->error("the write queue in {} cannot be opened ({}): moved aside to {} (--quarantine-queue); starting with an empty queue. "
                     "The records in it never reach their targets: copy what they wrote (laminar copy, or a backfill)",
                     cfg.queue.dir, error, aside);
        error.clear();
        queue_ = policy::WriteQueue::open(cfg, *host, [host] { return host->snapshot(); }, error);
    }
    if (!queue_)
        return fmt::format("queue: cannot open the write queue in {}: {}{}", cfg.queue.dir, error,
                           quarantine_queue_ ? "" : " (laminar --quarantine-queue moves it aside and starts with an empty one)");
    queue_ptr_.store(queue_.get(), std::memory_order_release);
    return {};
}

Server::~Server() {
    if (canaries_) canaries_->stop();
    for (auto& w : workers_) w->ioc().stop();
    for (auto& w : workers_) w->join();
    closeState();  // when run() did not get to it (it threw): an orderly stop all the same
}

void Server::run() {
    const auto& cfg = snapshot_->config();
    serveAdmin();  // first: once clients can connect, so can a scraper
    if (state_) tickState();
    summary_timer_.expires_after(cfg.log.summary_every);
    summary_timer_.async_wait([this](const error_code& e) {
        if (!e) summarizeSync();
    });
    canaries_->start();
    if (cfg.tls) tls_ = io::TlsContext::server(*cfg.tls);
    listen(acceptor_, cfg.listen, "listen");
    if (cfg.tls && cfg.tls->listen) listen(tls_acceptor_, *cfg.tls->listen, "tls.listen");

    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.add(SIGHUP);
    std::signal(SIGPIPE, SIG_IGN);
    signals_.async_wait([this](const error_code& e, int signo) {
        if (!e) onSignal(signo);
    });

    for (auto& w : workers_) w->startThread();
    std::string where = cfg.listen.str();
    if (cfg.tls) where = cfg.tls->listen ? fmt::format("{} and {} (TLS)", where, cfg.tls->listen->str()) : where + " (TLS)";
    log()->info("laminar {} listening on {} with {} I/O thread(s); config {} generation {} hash {}", LAMINAR_VERSION, where,
                workers_.size(), path_, snapshot_->generation(), cfg.hash);
    bool plain_is_tls = cfg.tls && !cfg.tls->listen;
    accept(acceptor_, plain_is_tls);
    if (tls_acceptor_.is_open()) accept(tls_acceptor_, true);
    ioc_.run();
    for (auto& w : workers_) w->ioc().stop();
    for (auto& w : workers_) w->join();
    // Without a state_dir the sync engine's queue and backlog are in memory only (docs/design.md,
    // hazards 6 and 7): say what is left behind, so the operator knows a reconciling backfill is due.
    if (int64_t pending = sync_->pendingTotal(); pending > 0) {
        std::string pairs;
        for (const auto& [pair, b] : sync_->backlogs()) pairs += fmt::format(", {} of them waiting for {} (backlog)", b.keys, pair);
        if (state_)
            log()->warn("stopped with {} keys not copied to the other side{}; they are written down in {} and copied after the restart",
                        pending, pairs, state_->dir().string());
        else
            log()->warn("stopped with {} keys not copied to the other side{}; run LAMINAR BACKFILL START <route> RECONCILE after the "
                        "restart",
                        pending, pairs);
    }
    closeState();
    log()->info("laminar stopped");
}

void Server::listen(asio::ip::tcp::acceptor& acceptor, const config::Endpoint& where, const char* what) {
    error_code ec;
    auto endpoint = tcpEndpoint(where, what);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + where.str());
    acceptor.listen(asio::socket_base::max_listen_connections);
}

// admin.metrics: the HTTP endpoint, on this (the main) thread. Bound before any I/O thread starts,
// so that a port in use fails the start as `listen` does.
void Server::serveAdmin() {
    const auto& metrics = snapshot_->config().admin.metrics;
    if (!metrics) return;
    app::HttpServer::Handlers handlers{
        .metrics = [this] { return app::metricsText(*this); },
        .unready = [this] { return app::unreadiness(*this); },
        .degraded = [this] { return app::degradation(*this); },
    };
    admin_ = std::make_shared<app::HttpServer>(ioc_, tcpEndpoint(*metrics, "admin.metrics"), std::move(handlers));
    admin_->start();
    log()->info("serving /metrics, /healthz and /readyz on http://{}", metrics->str());
}

void Server::accept(asio::ip::tcp::acceptor& acceptor, bool tls) {
    acceptor.async_accept([this, &acceptor, tls](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || shutting_down_) return;
        if (ec) {
            // Out of file descriptors and the like: keep accepting, do not spin.
            log()->warn("accept failed: {}", ec.message());
            auto retry = std::make_shared<asio::steady_timer>(ioc_, std::chrono::milliseconds(50));
            retry->async_wait([this, retry, &acceptor, tls](const error_code& e) {
                if (!e && !shutting_down_) accept(acceptor, tls);
            });
            return;
        }
        total_connections_.fetch_add(1, std::memory_order_relaxed);
        if (registry_.size() >= snapshot_->config().client.max_clients) {
            rejected_connections_.fetch_add(1, std::memory_order_relaxed);
            error_code ignored;
            socket.non_blocking(true, ignored);
            static const std::string kMsg = "-ERR max number of clients reached\r\n";
            socket.write_some(asio::buffer(kMsg), ignored);
            socket.close(ignored);
        } else {
            // The worker takes the bare descriptor: its poller, not Asio, drives client I/O.
            error_code e1, e2;
            auto remote = socket.remote_endpoint(e1);
            auto local = socket.local_endpoint(e2);
            std::string addr = e1 ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
            std::string laddr = e2 ? "?" : local.address().to_string() + ":" + std::to_string(local.port());
            int fd = socket.release(e1);
            Worker& worker = *workers_[next_worker_];
            next_worker_ = (next_worker_ + 1) % workers_.size();
            // The context of the moment: a reload that re-reads the certificate applies to the
            // clients accepted after it.
            auto ctx = tls ? tls_ : nullptr;
            if (fd >= 0)
                asio::post(worker.ioc(), [&worker, fd, addr = std::move(addr), laddr = std::move(laddr), ctx = std::move(ctx)]() mutable {
                    worker.adopt(fd, std::move(addr), std::move(laddr), std::move(ctx));
                });
        }
        accept(acceptor, tls);
    });
}

void Server::onSignal(int signo) {
    if (signo == SIGHUP) {
        reload();
    } else {
        log()->info("received {}, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        requestShutdown();
    }
    if (!shutting_down_ || signo == SIGHUP)
        signals_.async_wait([this](const error_code& e, int s) {
            if (!e) onSignal(s);
        });
}

std::string Server::lastReloadError() const {
    std::lock_guard lock(reload_mu_);
    return last_reload_error_;
}

uint64_t Server::minInstalledGeneration() const {
    uint64_t m = UINT64_MAX;
    for (const auto& w : workers_) m = std::min(m, w->installedGeneration());
    return m;
}

void Server::reloadAsync(std::function<void(std::string)> done, bool force) {
    asio::post(ioc_, [this, done = std::move(done), force] { done(reload(force)); });
}

void Server::dryRunAsync(std::function<void(std::string)> done) {
    asio::post(ioc_, [this, done = std::move(done)] { done(dryRun()); });
}

// New addresses a route of `next` sends to must answer, and in their protocol, before traffic goes
// there (a wrong port, or a memcached where a Redis should be).
std::string Server::unusableBackends(const policy::Snapshot& next) const {
    std::string unusable;
    for (const auto* b : newAddresses(snapshot_->config(), next.config())) {
        int index = static_cast<int>(b - next.config().backends.data());
        bool used = std::any_of(next.routes().begin(), next.routes().end(), [index](const policy::Route& r) {
            return std::find(r.backends.begin(), r.backends.end(), index) != r.backends.end();
        });
        if (!used) continue;
        if (auto why = preflight(*b); !why.empty())
            unusable += fmt::format("{}backend '{}' cannot be used: {}", unusable.empty() ? "" : "; ", b->name, why);
    }
    return unusable;
}

std::string Server::dryRun() {
    try {
        auto next = std::make_shared<const policy::Snapshot>(config::loadFile(path_), snapshot_->generation() + 1, snapshot_.get(),
                                                             snapshot_->sharedRegistry());
        auto changes = policy::checkPhases(*next, next->registry().migrations, phaseFacts(), false);
        std::string out = fmt::format("dry run of {}: the file loads (hash {})\n", path_, next->config().hash);
        bool refused = false;
        for (const auto& c : changes) {
            if (c.before.empty()) out += fmt::format("route '{}': {} (a new migration)\n", c.route, c.after);
            else if (c.refusal.empty()) out += fmt::format("route '{}': {} -> {}: safe\n", c.route, c.before, c.after);
            else out += fmt::format("{}{}\n", c.refusal, c.forced ? " [forced: the reload would take it]" : "");
            refused = refused || (!c.refusal.empty() && !c.forced);
        }
        if (changes.empty()) out += "no migration route changes phase\n";
        if (auto unusable = unusableBackends(*next); !unusable.empty()) {
            out += unusable + "\n";
            refused = true;
        }
        out += refused ? "a reload would be refused\n" : "a reload would be accepted\n";
        return out;
    } catch (const std::exception& e) {
        return fmt::format("dry run of {}: a reload would fail: {}\n", path_, e.what());
    }
}

std::string Server::migrationText(Worker& from, std::string_view route) const {
    auto snap = from.snapshot();
    auto facts = phaseFacts();
    auto now = std::chrono::steady_clock::now();
    std::string out;
    for (const auto& [name, rec] : snap->registry().migrations.all()) {
        if (!route.empty() && name != route) continue;
        uint64_t failures = 0;
        for (const auto& r : snap->routes())
            if (r.name == name && r.stats) failures = r.stats->sync_failures.load();
        out += policy::migrationReport(name, rec, facts, now, failures);
    }
    return out;
}

policy::PhaseFacts Server::phaseFacts() const {
    policy::PhaseFacts facts;
    facts.backfill = [this](const std::string& route) -> std::optional<policy::PhaseFacts::Backfill> {
        std::lock_guard lock(backfill_mu_);
        auto it = backfills_.find(route);
        if (it == backfills_.end()) {
            // None in this run: the one the last run completed, if state_dir kept it.
            auto r = remembered_backfills_.find(route);
            if (r == remembered_backfills_.end()) return std::nullopt;
            return r->second;
        }
        auto p = it->second->progress();
        if (std::string_view(p.state) != "done") return std::nullopt;
        return policy::PhaseFacts::Backfill{p.pair, p.started, p.failed, p.reconcile};
    };
    facts.running = [this](const std::string& route) -> std::optional<policy::PhaseFacts::Running> {
        std::lock_guard lock(backfill_mu_);
        auto it = backfills_.find(route);
        if (it == backfills_.end() || !it->second->running()) return std::nullopt;
        return policy::PhaseFacts::Running{it->second->status(), it->second->progress().started};
    };
    facts.backlog = [this](const std::string& pair) { return sync_->backlog(pair).keys; };
    facts.verify = [this](const std::string& x, const std::string& y) -> std::optional<policy::PhaseFacts::Verify> {
        std::lock_guard lock(verify_mu_);
        auto it = verifies_.find(std::minmax(x, y));
        if (it == verifies_.end()) return std::nullopt;
        return it->second;
    };
    return facts;
}

void Server::notePhases(const policy::Snapshot& next, const std::vector<policy::PhaseChange>& changes) {
    auto& board = next.registry().migrations;
    for (const auto& c : changes) {
        if (state_ && c.after == "new_only") {
            // The record of this new_only spell is complete when `from` was whole at its start.
            auto rec = board.get(c.route);
            state_->beginChanges(c.route, c.before == "dual_write_read_new" && rec && !rec->from_missing);
        } else if (state_ && c.before == "new_only") {
            state_->endChanges(c.route);
        }
        if (c.before.empty()) log()->info("route '{}': migration phase {}", c.route, c.after);
        else if (c.refusal.empty()) log()->info("route '{}': migration phase {} -> {}", c.route, c.before, c.after);
        else log()->warn("route '{}': migration phase {} -> {}, forced past the guardrail: {}", c.route, c.before, c.after, c.refusal);
    }
    board.replace(policy::phasesAfter(next, board, std::chrono::steady_clock::now()));
    saveState();
}

// On the main thread only (signals, reloadAsync): snapshot_ is the main thread's.
std::string Server::reload(bool force) {
    std::shared_ptr<const policy::Snapshot> next;
    std::vector<policy::PhaseChange> changes;
    try {
        auto cfg = config::loadFile(path_);
        const auto& cur = snapshot_->config();
        if (cfg.listen.str() != cur.listen.str() || cfg.threads != cur.threads || cfg.shutdown_timeout != cur.shutdown_timeout ||
            cfg.admin.metrics != cur.admin.metrics || cfg.state_dir != cur.state_dir)
            log()->warn("reload: listen, threads, shutdown_timeout, admin.metrics and state_dir are restart-only; their changes take effect "
                        "at the next restart");
        if (cfg.tls.has_value() != cur.tls.has_value() || (cfg.tls && cfg.tls->listen != cur.tls->listen))
            log()->warn("reload: whether clients use TLS, and tls.listen, are restart-only; their changes take effect at the next restart");
        // The listener's certificate, key and CA files are read again: a renewed certificate
        // needs a reload, not a restart. Clients connected before keep their session.
        if (cur.tls) {
            auto next_tls = cfg.tls ? *cfg.tls : *cur.tls;
            next_tls.listen = cur.tls->listen;
            cfg.tls = next_tls;
        } else {
            cfg.tls.reset();
        }
        std::shared_ptr<io::TlsContext> tls = io::checkTls(cfg);  // the listener's, built once
        cfg.listen = cur.listen;
        cfg.threads = cur.threads;
        cfg.shutdown_timeout = cur.shutdown_timeout;
        cfg.admin = cur.admin;
        cfg.state_dir = cur.state_dir;
        if (queue_ && !(cfg.queue == queue_->config()))
            log()->warn("reload: the queue section is restart-only; its changes take effect at the next restart");
        if (auto error = openQueueIfNeeded(cfg); !error.empty()) throw std::runtime_error(error);
        next = std::make_shared<const policy::Snapshot>(std::move(cfg), snapshot_->generation() + 1, snapshot_.get(), snapshot_->sharedRegistry());
        if (!force)
            if (auto unusable = unusableBackends(*next); !unusable.empty())
                throw std::runtime_error(unusable + " (LAMINAR RELOAD FORCE reloads anyway)");
        changes = policy::checkPhases(*next, next->registry().migrations, phaseFacts(), force);
        std::string refused;
        for (const auto& c : changes)
            if (!c.refusal.empty() && !c.forced) refused += (refused.empty() ? "" : "; ") + c.refusal;
        if (!refused.empty()) throw std::runtime_error(refused);
        if (tls) tls_ = std::move(tls);
    } catch (const std::exception& e) {
        reloads_failed_.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(reload_mu_);
        last_reload_error_ = e.what();
        log()->error("reload failed, generation {} hash {} stays: {}", snapshot_->generation(), snapshot_->config().hash, e.what());
        return e.what();
    }
    snapshot_ = next;
    notePhases(*next, changes);
    for (auto& w : workers_) asio::post(w->ioc(), [w = w.get(), next] { w->setSnapshot(next); });
    reloads_ok_.fetch_add(1, std::memory_order_relaxed);
    spdlog::set_level(spdlog::level::from_str(next->config().log.level));
    obs::setFlapInterval(next->config().log.flap_interval);
    {
        std::lock_guard lock(reload_mu_);
        last_reload_error_.clear();
    }
    log()->info("reloaded {}: generation {} hash {}", path_, next->generation(), next->config().hash);
    return {};
}

void Server::requestShutdown() {
    if (shutting_down_) return;
    shutting_down_ = true;
    error_code ec;
    acceptor_.close(ec);
    tls_acceptor_.close(ec);
    for (auto& w : workers_) asio::post(w->ioc(), [w = w.get()] { w->beginShutdown(); });
    drain_deadline_ = std::chrono::steady_clock::now() + snapshot_->config().shutdown_timeout;
    pollDrain();
}

void Server::pollDrain() {
    size_t live = 0;
    for (auto& w : workers_) live += w->sessionCount();
    if (live == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
        if (live) log()->warn("shutdown: {} client(s) still busy after shutdown_timeout; closing them", live);
        ioc_.stop();
        return;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this](const error_code& e) {
        if (!e) pollDrain();
    });
}

std::string Server::infoSection(Worker& from) const {
    auto snap = from.snapshot();
    const auto& cfg = snap->config();
    uint64_t commands = 0, errors = 0, tls_failures = 0, sched_fallbacks = 0;
    int64_t pinned = 0, batch_threads = 0;
    for (const auto& w : workers_) {
        const auto& stats = w->stats();
        commands += stats.commands.value();
        tls_failures += stats.tls_handshake_failures.value();
        pinned += stats.pinned.value();
        batch_threads += stats.sched_batch.value();
        sched_fallbacks += stats.sched_fallbacks.value();
        // laminar's own error replies: every kind but the backends' errors passed through.
        for (size_t k = 0; k < obs::kErrorKinds; ++k)
            if (static_cast<obs::ErrorKind>(k) != obs::ErrorKind::kBackendError) errors += stats.allErrors(static_cast<obs::ErrorKind>(k));
    }
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
    std::string out = fmt::format(
        "# Laminar\r\nlaminar_version:{}\r\nuptime_in_seconds:{}\r\nio_threads:{}\r\nio_scheduling:{}\r\n"
        "io_threads_batch_scheduled:{}\r\nio_scheduling_fallbacks:{}\r\nconfig_file:{}\r\n"
        "config_generation:{}\r\nconfig_hash:{}\r\nreloads_ok:{}\r\nreloads_failed:{}\r\n"
        "connected_clients:{}\r\npinned_clients:{}\r\ntotal_connections_received:{}\r\nrejected_connections:{}\r\n"
        "total_commands_processed:{}\r\nlaminar_errors:{}\r\ntls_port:{}\r\ntls_handshake_failures:{}\r\n"
        "tracking_clients:{}\r\ntracking_total_keys:{}\r\ntracking_change_feeds:{}\r\n\r\n# Backends\r\n",
        LAMINAR_VERSION, uptime, workers_.size(), config::name(cfg.io_scheduling), batch_threads, sched_fallbacks, path_, snap->generation(), cfg.hash, reloads_ok_.load(),
        reloads_failed_.load(), registry_.size(), pinned, totalConnections(), rejectedConnections(), commands, errors,
        cfg.tls ? (cfg.tls->listen ? cfg.tls->listen->port : cfg.listen.port) : 0, tls_failures, invalidations_.trackingClients(),
        invalidations_.trackedKeys(), invalidations_.feedsAreUp() ? "up" : invalidations_.active() ? "down" : "off");
    auto canaries = canaries_->paths();
    for (size_t i = 0; i < cfg.backends.size(); ++i) {
        const auto& b = cfg.backends[i];
        bool up = from.backendCount() > i && from.backend(static_cast<int>(i)).anyUp();
        out += fmt::format("backend_{}:type={},address={},db={},status={}", b.name, b.typeName(), b.where(), b.db, up ? "up" : "down");
        if (b.tls) out += b.tls->verify ? ",tls=verified" : ",tls=unverified";
        if (auto it = canaries.find(b.name); it != canaries.end() && it->second.known) out += it->second.ok ? ",canary=ok" : ",canary=failing";
        out += "\r\n";
    }
    out += "\r\n# Routes\r\n";
    for (const auto& r : snap->routes()) out += fmt::format("route_{}:{}\r\n", r.name, r.strategy->describe());
    for (const auto& [pair, b] : sync_->backlogs())
        out += fmt::format("sync_backlog_{}:keys={},oldest_seconds={:.1f}\r\n", pair, b.keys, b.oldest_seconds);
    if (auto* q = queue()) {
        auto st = q->status();
        out += fmt::format("\r\n# Queue\r\nqueue_dir:{}\r\nqueue_records:{}\r\nqueue_bytes:{}\r\nqueue_lag_seconds:{:.3f}\r\n"
                           "queue_appended:{}\r\nqueue_rejected:{}\r\nqueue_fsyncs:{}\r\n",
                           q->config().dir, st.records, st.bytes, st.lag_seconds, st.appended, st.rejected, st.fsyncs);
        for (const auto& [name, t] : st.targets)
            out += fmt::format("queue_target_{}:records={},bytes={},lag_seconds={:.3f},applied={},retries={},errors={},state={}\r\n", name,
                               t.records, t.bytes, t.lag_seconds, t.applied, t.retries, t.errors, t.state);
    }
    return out;
}

}  // namespace laminar::app

namespace laminar::app {

std::string Server::statusText(Worker& from) const {
    auto snap = from.snapshot();
    const auto& cfg = snap->config();
    auto loaded = std::chrono::system_clock::to_time_t(snap->loadedAt());
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&loaded));
    auto err = lastReloadError();
    std::string backlog;
    for (const auto& [pair, b] : sync_->backlogs()) backlog += fmt::format(", backlog {} {} keys (oldest {:.1f} s)", pair, b.keys, b.oldest_seconds);
    std::string out = fmt::format(
        "laminar {}\nconfig: {}\ngeneration: {}\nhash: {}\nloaded: {}\nreloads: {} ok, {} failed\nlast reload: {}\n"
        "clients: {}\nsync: {} keys pending, {} queued since start{}\n{}\nbackends:\n",
        LAMINAR_VERSION, path_, snap->generation(), cfg.hash, when, reloads_ok_.load(), reloads_failed_.load(),
        err.empty() ? "ok" : "failed: " + err, registry_.size(), sync_->pendingTotal(), sync_->queuedTotal(), backlog,
        queue() ? "queue: " + queue()->summary() + "\n" : std::string());
    static const char* kState[] = {"up", "degraded", "down"};
    auto canaries = canaries_->paths();
    for (size_t i = 0; i < cfg.backends.size(); ++i) {
        const auto& b = cfg.backends[i];
        out += fmt::format("  {}: {} {} db {} - {} (p99 {:.2f} ms)", b.name, b.typeName(), b.where(), b.db,
                           kState[static_cast<int>(snap->state(static_cast<int>(i)))], snap->p99Millis(static_cast<int>(i)));
        if (auto it = canaries.find(b.name); it != canaries.end() && it->second.known)
            out += it->second.ok ? fmt::format(", canary ok ({:.1f} ms)", it->second.round_trip_ms) : ", canary failing: " + it->second.why;
        out += "\n";
    }
    out += "\nroutes (first match wins):\n";
    for (const auto& r : snap->routes()) {
        out += fmt::format("  {}: {}\n", r.name, r.strategy->describe());
        if (auto rec = snap->registry().migrations.get(r.name)) {
            auto age = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - rec->since).count();
            out += fmt::format("    phase: {} for {} s", policy::Migration::phaseName(rec->phase), age);
            if (rec->to_missing && rec->phase >= policy::Migration::Phase::kReadOld && rec->phase <= policy::Migration::Phase::kReadNew)
                out += fmt::format("; '{}' may lack keys written before the dual write (backfill {}>{})", rec->to, rec->from, rec->to);
            if (rec->from_missing && rec->phase == policy::Migration::Phase::kReadNew)
                out += fmt::format("; '{}' may lack keys written in new_only (backfill {}>{})", rec->from, rec->to, rec->from);
            for (const auto& pair : {rec->from + ">" + rec->to, rec->to + ">" + rec->from})
                if (auto b = sync_->backlog(pair); b.keys > 0)
                    out += fmt::format("; backlog {}: {} keys, oldest {:.1f} s", pair, b.keys, b.oldest_seconds);
            out += "\n";
        }
        if (!r.barrier.empty()) {
            bool open = std::atomic_ref<bool>(r.barrier_open).load();
            out += fmt::format("    flip barrier: {}\n", open ? "drained" : "waiting for the old copy direction");
        }
        {
            // A backfill from before the route's current phase (or backends) says nothing of now.
            std::lock_guard lock(backfill_mu_);
            if (auto it = backfills_.find(r.name); it != backfills_.end()) {
                auto rec = snap->registry().migrations.get(r.name);
                bool stale = rec && it->second->progress().started < rec->since;
                out += fmt::format("    backfill{}: {}\n", stale ? " (from before this phase)" : "", it->second->status());
            }
        }
        std::string counters;
        for (const auto& [name, value] : r.stats->values())
            if (value) counters += fmt::format(" {}={}", name, value);
        if (!counters.empty()) out += "    counters:" + counters + "\n";
    }
    return out;
}

}  // namespace laminar::app

namespace laminar::app {

std::vector<std::pair<std::string, policy::Backfill::Progress>> Server::backfills() const {
    std::lock_guard lock(backfill_mu_);
    std::vector<std::pair<std::string, policy::Backfill::Progress>> out;
    for (const auto& [route, b] : backfills_) out.emplace_back(route, b->progress());
    return out;
}

std::string Server::backfillCommand(Worker& from, std::span<const std::string_view> argv) {
    auto error = [](std::string_view msg) {
        std::string out;
        resp::appendError(out, msg);
        return out;
    };
    auto upper = [](std::string_view s) {
        std::string u(s);
        for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return u;
    };
    static const char* kUsage =
        "ERR laminar: use LAMINAR BACKFILL START <route> [RATE keys/s] [MATCH glob] [RECONCILE | CHANGED], LAMINAR BACKFILL STATUS [route] or "
        "LAMINAR BACKFILL STOP <route>";
    if (argv.size() < 3) return error(kUsage);
    std::string sub = upper(argv[2]);
    std::lock_guard lock(backfill_mu_);
    if (sub == "STATUS") {
        std::string text;
        for (const auto& [route, b] : backfills_)
            if (argv.size() < 4 || route == argv[3]) text += route + ": " + b->status() + "\n";
        if (argv.size() >= 4 && text.empty()) return error(fmt::format("ERR laminar: no backfill of route '{}' has run", argv[3]));
        std::string out;
        resp::appendBulk(out, text.empty() ? "no backfill has run\n" : text);
        return out;
    }
    if (argv.size() < 4) return error(kUsage);
    std::string route(argv[3]);
    auto it = backfills_.find(route);
    if (sub == "STOP") {
        if (it == backfills_.end() || !it->second->running()) return error(fmt::format("ERR laminar: no backfill of route '{}' is running", route));
        it->second->stop();
        return "+OK\r\n";
    }
    if (sub != "START") return error(kUsage);
    policy::Backfill::Options opt;
    opt.route = route;
    bool changed = false;
    for (size_t i = 4; i < argv.size(); i += 2) {
        std::string key = upper(argv[i]);
        if (key == "RECONCILE" || key == "CHANGED") {
            opt.reconcile = true;
            changed = changed || key == "CHANGED";
            --i;
            continue;
        }
        if (i + 1 >= argv.size()) return error(kUsage);
        long long n = 0;
        if (key == "RATE" && resp::parseLongLong(argv[i + 1].data(), argv[i + 1].size(), n) && n > 0) opt.rate = static_cast<uint64_t>(n);
        else if (key == "MATCH") opt.match = std::string(argv[i + 1]);
        else return error(kUsage);
    }
    if (it != backfills_.end() && it->second->running())
        return error(fmt::format("ERR laminar: a backfill of route '{}' is already running; LAMINAR BACKFILL STOP {} first", route, route));
    // Checked here to answer at once; the backfill checks again on every batch (a reload may change the route).
    const auto& routes = from.snapshot()->routes();
    auto r = std::find_if(routes.begin(), routes.end(), [&](const policy::Route& x) { return x.name == route; });
    if (r == routes.end()) return error(fmt::format("ERR laminar: no route '{}'", route));
    policy::SyncTask task;
    std::string why;
    if (!r->strategy->backfillTask(task, why)) return error(fmt::format("ERR laminar: route '{}' cannot be backfilled: {}", route, why));
    if (changed) {
        if (auto refusal = changedKeysBackfill(route, task.pair, opt); !refusal.empty()) return error(refusal);
    }
    Worker* host = workers_[0].get();
    auto b = std::make_shared<policy::Backfill>(opt, *host, *sync_, [host] { return host->snapshot(); });
    backfills_[route] = b;
    b->start();
    log()->info("backfill of route '{}' started at {} keys/s{}{}", route, opt.rate, opt.match.empty() ? "" : " matching " + opt.match,
                opt.reconcile ? ", reconciling (keys the primary lacks are deleted on the secondary)" : "");
    return "+OK\r\n";
}

}  // namespace laminar::app

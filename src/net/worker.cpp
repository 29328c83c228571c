// SPDX-License-Identifier: Apache-2.0
#include "net/worker.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "backend/factory.h"
#include "io/memory.h"
#include "net/change_feed.h"
#include "net/client_registry.h"
#include "net/invalidations.h"
#include "net/host.h"
#include "net/session.h"

namespace laminar::net {
namespace asio = boost::asio;

Worker::Worker(Host& host, int index, BackendMaker make_backend)
    : host_(host), make_backend_(std::move(make_backend)), index_(index), sweep_(ioc_) {
    poller_.attach(ioc_);
    background_.worker = this;
}

void Worker::post(std::function<void()> fn) { asio::post(ioc_, std::move(fn)); }

void Worker::postAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(ioc_, delay);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
        if (!ec) fn();
    });
}

Worker::~Worker() {
    feeds_.reset();
    sessions_.clear();
    backends_.clear();
    retired_.clear();
    poller_.detach();
}

void Worker::startThread() {
    thread_ = std::thread([this] {
        auto guard = asio::make_work_guard(ioc_);
        updateScheduling();
        sweepIdle();
        ioc_.run();
    });
    thread_id_ = thread_.get_id();  // before any client or sync work can reach this thread
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::setSnapshot(std::shared_ptr<const policy::Snapshot> snapshot) {
    // A backend whose settings did not change keeps its connections; the others are rebuilt.
    const auto& cfg = snapshot->config();
    std::vector<std::shared_ptr<backend::Backend>> next;
    for (const auto& bc : cfg.backends) {
        std::shared_ptr<backend::Backend> keep;
        for (const auto& b : backends_)
            if (b && b->config() == bc) keep = b;
        if (!keep)
            keep = make_backend_ ? make_backend_(bc) : backend::makeBackend(ioc_, poller_, bc, stats_.backend(bc.name), snapshot->registry().health);
        next.push_back(std::move(keep));
    }
    for (auto& b : backends_)
        if (std::find(next.begin(), next.end(), b) == next.end()) retired_.push_back(b);
    backends_.swap(next);
    std::vector<std::pair<std::string, std::string>> routes;
    for (const auto& r : snapshot->routes()) routes.emplace_back(r.name, std::string(r.strategy->type()));
    stats_.bindRoutes(routes);
    auto before = std::move(snapshot_);
    snapshot_ = std::move(snapshot);
    installed_generation_.store(snapshot_->generation(), std::memory_order_release);
    syncFeeds();
    if (!before) return;
    std::vector<Session*> all;
    for (auto& s : sessions_) all.push_back(s.get());
    for (Session* s : all) {
        s->afterReload(*before);
        s->maybeDestroy();
    }
}

void Worker::adopt(int fd, std::string addr, std::string laddr, std::shared_ptr<io::TlsContext> tls) {
    io::Poller::touch();
    uint64_t id = host_.registry().add(addr, laddr);
    std::unique_ptr<Session> session;
    try {
        session = std::make_unique<Session>(*this, fd, id, std::move(addr), std::move(laddr), std::move(tls));
    } catch (const std::exception& e) {  // no memory for the TLS state
        spdlog::warn("client {} dropped: {}", id, e.what());
        host_.registry().remove(id);
        ::close(fd);
        return;
    }
    Session* s = session.get();
    host_.registry().update(id, [this](ClientRegistry::Entry& e) { e.worker = index_; });
    by_id_.emplace(id, s);
    sessions_.push_front(std::move(session));
    s->self_ = sessions_.begin();
    session_count_.fetch_add(1, std::memory_order_relaxed);
    if (shutting_down_) s->shutdown();
    else s->start();
}

void Worker::markDirty(Session* s) {
    if (s->dirty_) return;
    s->dirty_ = true;
    dirty_.push_back(s);
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(ioc_, [this] { flushDirty(); });
}

void Worker::flushDirty() {
    flush_posted_ = false;
    std::vector<Session*> batch;
    batch.swap(dirty_);
    for (Session* s : batch) {
        s->dirty_ = false;
        s->flushOut();
        s->maybeDestroy();
    }
}

void Worker::destroy(Session* s) {
    session_count_.fetch_sub(1, std::memory_order_relaxed);
    by_id_.erase(s->id());
    sessions_.erase(s->self_);
}

// laminar's own writes (copies of the sync engine and backfills, warm copies, the write queue's
// replays) change keys as clients' writes do: tracking clients are told once they are answered.
void Worker::Background::send(int backend, std::string_view raw, backend::ReplySink* sink) {
    io::Poller::touch();
    if (backend < 0 || static_cast<size_t>(backend) >= worker->backendCount()) {
        // Work made under a configuration with more backends (the sync engine re-checks its
        // tasks; this is the last guard): never another backend's index.
        sink->complete(backend::unavailableError("#" + std::to_string(backend), "no longer configured"), true);
        return;
    }
    auto& invalidations = worker->host_.invalidations();
    if (invalidations.active()) sink = announceChanges(invalidations, raw, sink);
    worker->backend(backend).send(0, raw, sink);
}

void Worker::readsMoved() { host_.invalidations().flushAll(); }

void Worker::deliverInvalidation(uint64_t target, const std::shared_ptr<const std::vector<std::string>>& keys) {
    io::Poller::touch();
    auto it = by_id_.find(target);
    if (it == by_id_.end()) return;
    Session* s = it->second;
    s->invalidate(keys.get());
    // Called from inside other sessions' handlers (and from loops over the sessions): a session
    // the invalidation closed (over client.max_output) is freed later, not under their feet.
    if (s->closed()) {
        post([this, target] {
            if (auto again = by_id_.find(target); again != by_id_.end()) again->second->maybeDestroy();
        });
    }
}

void Worker::redirectBroken(uint64_t client, uint64_t target) {
    io::Poller::touch();
    auto it = by_id_.find(client);
    if (it == by_id_.end()) return;
    Session* s = it->second;
    s->redirectBroken(target);
    if (s->closed()) {  // as in deliverInvalidation
        post([this, client] {
            if (auto again = by_id_.find(client); again != by_id_.end()) again->second->maybeDestroy();
        });
    }
}

void Worker::syncFeeds() {
    if (index_ != 0) return;
    // Open while some client tracks, and kLinger after, so that a client that turns tracking off
    // and on again does not find them closed.
    auto now = std::chrono::steady_clock::now();
    if (host_.invalidations().active()) tracked_at_ = now;
    bool wanted = tracked_at_ && now - *tracked_at_ < ChangeFeeds::kLinger && !shutting_down_;
    if (!feeds_) feeds_ = std::make_unique<ChangeFeeds>(host_.invalidations());
    feeds_->sync(backends_, wanted);
}

size_t Worker::changeFeedsUp() const { return feeds_ ? feeds_->up() : 0; }

void Worker::beginShutdown() {
    shutting_down_ = true;
    std::vector<Session*> all;
    for (auto& s : sessions_) all.push_back(s.get());
    for (Session* s : all) s->shutdown();
}

void Worker::updateScheduling() {
    scheduling_.update(snapshot_ ? snapshot_->config().io_scheduling : config::IoScheduling::kAdaptive,
                       std::chrono::steady_clock::now());
    stats_.sched_batch.add((scheduling_.batch() ? 1 : 0) - stats_.sched_batch.value());
    stats_.sched_fallbacks.add(scheduling_.fallbacks() - stats_.sched_fallbacks.value());
}

void Worker::releaseIdleMemory(std::chrono::steady_clock::time_point cutoff) {
    for (auto& s : sessions_) s->releaseIdleMemory(cutoff);
}

size_t Worker::sessionsHoldingMemory() const {
    return static_cast<size_t>(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return !s->closed() && s->holdsMemory(); }));
}

void Worker::sweepIdle() {
    sweep_.expires_after(std::chrono::milliseconds(250));
    sweep_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        updateScheduling();
        io::trimIfFreed();
        syncFeeds();
        std::erase_if(retired_, [](const auto& b) { return b->idle(); });
        for (auto& b : backends_) {
            b->publishLatency(static_cast<size_t>(index_));
            b->flushHealthLog();
        }
        auto timeout = snapshot_ ? snapshot_->config().client.idle_timeout : std::chrono::milliseconds(0);
        auto now = std::chrono::steady_clock::now();
        auto cutoff = now - timeout;
        auto handshake_cutoff = now - kTlsHandshakeTimeout;
        std::vector<Session*> idle;
        for (auto& s : sessions_) {
            if (s->closed()) continue;
            if (s->handshakingSince(handshake_cutoff)) {
                stats_.tls_handshake_failures.add();
                idle.push_back(s.get());
            } else if (timeout.count() > 0 && s->idleSince(cutoff)) {
                idle.push_back(s.get());
            }
        }
        for (Session* s : idle) {
            s->close();
            s->maybeDestroy();
        }
        releaseIdleMemory(now - std::chrono::milliseconds(250));
        sweepIdle();
    });
}

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
#include "backend/redis_backend.h"
#include "obs/logging.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace laminar::backend {
namespace {
constexpr size_t kMaxIdleDedicated = 16;  // per thread and backend

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("backend");
    return l;
}
}  // namespace

RedisBackend::RedisBackend(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg,
                           obs::BackendCounters& counters, HealthBoard& health)
    : ObservedBackend(cfg, counters, health, log()), ioc_(ioc), poller_(poller) {
    for (int i = 0; i < cfg_.connections; ++i) {
        shared_.push_back(std::make_shared<RedisConnection>(ioc_, poller_, cfg_, false));
        shared_.back()->setObserver(this);
        shared_.back()->start();
    }
    bulk_.resize(shared_.size());
    resp3_.resize(shared_.size());
}

void RedisBackend::connectionChanged(std::string_view error) {
    publishConnections();
    countUp(anyUp(), [&] { return fmt::format("backend '{}' at {}", cfg_.name, cfg_.address.str()); }, error);
}

RedisConnection& RedisBackend::laneConnection(std::vector<std::shared_ptr<RedisConnection>>& lane, uint64_t client_id,
                                              void (RedisConnection::*configure)()) {
    auto& conn = lane[client_id % lane.size()];
    if (!conn) {
        conn = std::make_shared<RedisConnection>(ioc_, poller_, cfg_, false);
        ((*conn).*configure)();
        conn->setObserver(this);
        conn->start();
    }
    return *conn;
}

void RedisBackend::sendBulk(uint64_t client_id, std::string_view raw, ReplySink* sink) {
    laneConnection(bulk_, client_id, &RedisConnection::setPaced).send(raw, sink);
}

void RedisBackend::sendResp3(uint64_t client_id, std::string_view raw, ReplySink* sink) {
    laneConnection(resp3_, client_id, &RedisConnection::setResp3).send(raw, sink);
}

void RedisBackend::publishConnections() {
    int64_t shared = 0;
    for (const auto& c : shared_) shared += c->state() == RedisConnection::State::kReady;
    for (const auto& lane : {&bulk_, &resp3_})
        for (const auto& c : *lane) shared += c && c->state() == RedisConnection::State::kReady;
    auto dedicated = static_cast<int64_t>(dedicated_in_use_ + idle_.size() + idle3_.size());
    counters_.shared.add(shared - published_shared_);
    counters_.dedicated.add(dedicated - published_dedicated_);
    published_shared_ = shared;
    published_dedicated_ = dedicated;
}

RedisBackend::~RedisBackend() {
    for (auto* lane : {&bulk_, &resp3_})
        for (auto& c : *lane)
            if (c) shared_.push_back(std::move(c));
    for (auto& c : shared_) c->setObserver(nullptr);
    for (auto& c : shared_) c->close("shutting down");
    for (auto* idle : {&idle_, &idle3_})
        for (auto& c : *idle) c->close("shutting down");
    counters_.shared.add(-published_shared_);
    counters_.dedicated.add(-published_dedicated_);
}

std::shared_ptr<DedicatedConnection> RedisBackend::acquireDedicated(bool resp3) {
    ++dedicated_in_use_;
    auto& idle = resp3 ? idle3_ : idle_;
    while (!idle.empty()) {
        auto conn = std::move(idle.back());
        idle.pop_back();
        if (!conn->down()) {
            conn->setObserver(this);
            publishConnections();
            return conn;
        }
    }
    auto conn = std::make_shared<RedisConnection>(ioc_, poller_, cfg_, true);
    if (resp3) conn->setResp3();
    conn->setObserver(this);
    conn->start();
    publishConnections();
    return conn;
}

void RedisBackend::releaseDedicated(std::shared_ptr<DedicatedConnection> given, bool clean) {
    auto conn = std::static_pointer_cast<RedisConnection>(std::move(given));  // made by acquireDedicated()
    if (dedicated_in_use_ > 0) --dedicated_in_use_;
    conn->setRelay(nullptr, false);
    conn->setObserver(nullptr);
    auto& idle = conn->resp3() ? idle3_ : idle_;
    if (clean && !conn->down() && conn->pendingCount() == 0 && idle.size() < kMaxIdleDedicated) {
        idle.push_back(std::move(conn));
    } else {
        conn->close("released");
    }
    publishConnections();
}

namespace {
// Hands the one reply on, then lets its connection go (not from inside the connection's own call).
struct AsideReply final : ReplySink {
    ReplySink* client = nullptr;
    std::shared_ptr<RedisConnection> conn;
    boost::asio::io_context* ioc = nullptr;
    void complete(std::string_view raw, bool failed) override {
        client->complete(raw, failed);
        boost::asio::post(*ioc, [c = std::move(conn)] { c->close("answered"); });
        delete this;
    }
};
}  // namespace

void RedisBackend::sendAside(std::string_view raw, ReplySink* sink) {
    // Redis reads a new connection only once a script has run busy-reply-threshold (5 s by
    // default): the usual `timeout` would give up before SCRIPT KILL is even read.
    config::BackendConfig cfg = cfg_;
    cfg.timeout = std::max(cfg_.timeout, cfg_.busy_timeout);
    auto conn = std::make_shared<RedisConnection>(ioc_, poller_, cfg, true);
    conn->setBare();
    auto* reply = new AsideReply;
    reply->client = sink;
    reply->conn = conn;
    reply->ioc = &ioc_;
    conn->start();
    conn->send(raw, reply, false);
}

bool RedisBackend::anyUp() const {
    for (const auto& c : shared_)
        if (c->healthy()) return true;
    return false;
}

}  // namespace laminar::backend

namespace laminar::backend {

bool RedisBackend::idle() const {
    if (dedicated_in_use_ > 0) return false;
    for (const auto& c : shared_)
        if (c->pendingCount() > 0) return false;
    for (const auto* lane : {&bulk_, &resp3_})
        for (const auto& c : *lane)
            if (c && c->pendingCount() > 0) return false;
    return true;
}

}  // namespace laminar::backend

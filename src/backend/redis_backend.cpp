// SPDX-License-Identifier: Apache-2.0
#include "backend/redis_backend.h"

namespace laminar::backend {
namespace {
constexpr size_t kMaxIdleDedicated = 16;  // per thread and backend
}

RedisBackend::RedisBackend(boost::asio::io_context& ioc, net::Poller& poller, const config::BackendConfig& cfg)
    : ioc_(ioc), poller_(poller), cfg_(cfg) {
    for (int i = 0; i < cfg_.connections; ++i) {
        shared_.push_back(std::make_shared<RedisConnection>(ioc_, poller_, cfg_, false));
        shared_.back()->start();
    }
}

RedisBackend::~RedisBackend() {
    for (auto& c : shared_) c->close("shutting down");
    for (auto& c : idle_) c->close("shutting down");
}

std::shared_ptr<RedisConnection> RedisBackend::acquireDedicated() {
    ++dedicated_in_use_;
    while (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        if (!conn->down()) return conn;
    }
    auto conn = std::make_shared<RedisConnection>(ioc_, poller_, cfg_, true);
    conn->start();
    return conn;
}

void RedisBackend::releaseDedicated(std::shared_ptr<RedisConnection> conn, bool clean) {
    if (dedicated_in_use_ > 0) --dedicated_in_use_;
    conn->setRelay(nullptr, false);
    if (clean && !conn->down() && conn->pendingCount() == 0 && idle_.size() < kMaxIdleDedicated) {
        idle_.push_back(std::move(conn));
        return;
    }
    conn->close("released");
}

bool RedisBackend::anySharedUp() const {
    for (const auto& c : shared_)
        if (!c->down()) return true;
    return false;
}

}  // namespace laminar::backend

namespace laminar::backend {

bool RedisBackend::idle() const {
    if (dedicated_in_use_ > 0) return false;
    for (const auto& c : shared_)
        if (c->pendingCount() > 0) return false;
    return true;
}

}  // namespace laminar::backend

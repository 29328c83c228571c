// SPDX-License-Identifier: Apache-2.0
#include "net/change_feed.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "net/invalidations.h"
#include "resp/numbers.h"

namespace laminar::net {
namespace {

constexpr std::string_view kTrackingOn = "*4\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n$5\r\nBCAST\r\n";

// One "<type><number>\r\n" header at `pos`.
bool header(std::string_view raw, size_t& pos, char type, long long& n) {
    if (pos >= raw.size() || raw[pos] != type) return false;
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos || !resp::parseLongLong(raw.substr(pos + 1, eol - pos - 1), n)) return false;
    pos = eol + 2;
    return true;
}

bool bulk(std::string_view raw, size_t& pos, std::string_view& body) {
    long long n = 0;
    if (!header(raw, pos, '$', n) || n < 0 || pos + static_cast<size_t>(n) + 2 > raw.size()) return false;
    body = raw.substr(pos, static_cast<size_t>(n));
    pos += static_cast<size_t>(n) + 2;
    return true;
}

}  // namespace

bool parseInvalidation(std::string_view raw, std::vector<std::string>& keys, bool& all) {
    keys.clear();
    all = false;
    size_t pos = 0;
    long long n = 0;
    std::string_view kind;
    if (!header(raw, pos, '>', n) || n != 2 || !bulk(raw, pos, kind) || kind != "invalidate") return false;
    if (raw.substr(pos) == "_\r\n" || raw.substr(pos) == "*-1\r\n") {
        all = true;
        return true;
    }
    if (!header(raw, pos, '*', n) || n < 0) return false;
    for (long long i = 0; i < n; ++i) {
        std::string_view key;
        if (!bulk(raw, pos, key)) return false;
        keys.emplace_back(key);
    }
    return pos == raw.size();
}

ChangeFeeds::~ChangeFeeds() {
    for (auto& f : feeds_) close(*f);
}

void ChangeFeeds::close(Feed& feed) {
    if (!feed.conn) return;
    feed.closing = true;
    feed.backend->closeChangeFeed(std::move(feed.conn));
    feed.conn.reset();
}

size_t ChangeFeeds::up() const {
    return static_cast<size_t>(std::count_if(feeds_.begin(), feeds_.end(), [](const auto& f) { return f->up; }));
}

void ChangeFeeds::sync(const std::vector<std::shared_ptr<backend::Backend>>& backends, bool active) {
    auto now = std::chrono::steady_clock::now();
    wanted_.clear();
    for (const auto& b : backends) {
        auto type = b->config().type;
        if (type == config::BackendConfig::Type::kRedis || type == config::BackendConfig::Type::kRedisCluster) wanted_.push_back(b);
    }
    // A backend's feeds go (to be opened again below) when it is no longer configured, no client
    // tracks, its servers changed, or one of them was lost kRetry ago.
    std::vector<std::shared_ptr<backend::Backend>> stale;
    for (const auto& f : feeds_) {
        bool keep = active && std::find(wanted_.begin(), wanted_.end(), f->backend) != wanted_.end() &&
                    (!f->dead || now - f->dead_since < kRetry) && f->servers == f->backend->changeFeedServers();
        if (!keep) stale.push_back(f->backend);
    }
    std::erase_if(feeds_, [&](const std::unique_ptr<Feed>& f) {
        bool go = std::find(stale.begin(), stale.end(), f->backend) != stale.end();
        if (go) close(*f);
        return go;
    });
    if (active) {
        for (const auto& b : wanted_) {
            if (std::any_of(feeds_.begin(), feeds_.end(), [&](const auto& f) { return f->backend == b; })) continue;
            std::string servers = b->changeFeedServers();
            if (servers.empty()) continue;  // not known yet: not up
            for (auto& conn : b->openChangeFeeds()) {
                auto feed = std::make_unique<Feed>();
                feed->owner = this;
                feed->backend = b;
                feed->servers = servers;
                feed->conn = std::move(conn);
                feed->conn->setRelay(feed.get(), false);
                Feed* f = feed.get();
                feeds_.push_back(std::move(feed));
                f->conn->send(kTrackingOn, f, false);  // may fail at once (server down): complete() marks it dead
            }
        }
    }
    report();
}

void ChangeFeeds::report() {
    bool all = true;
    for (const auto& b : wanted_) {
        bool any = false, every = true;
        for (const auto& f : feeds_) {
            if (f->backend != b) continue;
            any = true;
            every = every && f->up;
        }
        all = all && any && every;
    }
    invalidations_.setFeedsUp(all);
}

void ChangeFeeds::Feed::complete(std::string_view raw, bool failed) {
    if (closing || dead) return;
    auto& inv = owner->invalidations_;
    if (failed || (!raw.empty() && raw[0] == '-')) {
        if (up)
            spdlog::warn("backend '{}': change feed for CLIENT TRACKING lost ({}); tracking clients get a null invalidation once it is back",
                         backend->name(), std::string(raw.substr(0, raw.find('\r'))));
        else if (!failed && owner->refused_.insert(backend->name()).second)  // the server refuses it (an ACL): once
            spdlog::warn("backend '{}': CLIENT TRACKING refused ({}): changes made on it outside laminar are not seen until it is "
                         "allowed (retried every second)",
                         backend->name(), std::string(raw.substr(0, raw.find('\r'))));
        else
            spdlog::debug("backend '{}': change feed for CLIENT TRACKING not up: {}", backend->name(), std::string(raw.substr(0, raw.find('\r'))));
        dead = true;
        dead_since = std::chrono::steady_clock::now();
        const bool was_up = up;
        up = false;
        owner->report();
        if (was_up) inv.flushAll();  // what changed from now on is not seen
        return;
    }
    if (!up) {
        if (raw.starts_with("+OK")) {
            up = true;
            spdlog::info("backend '{}': change feed for CLIENT TRACKING up", backend->name());
            owner->report();  // clients that cached while it was not: a null invalidation
        }
        return;
    }
    bool all = false;
    if (!parseInvalidation(raw, owner->keys_, all)) return;
    if (all) inv.flushAll();
    else inv.changed(owner->keys_, 0);
}

}  // namespace laminar::net

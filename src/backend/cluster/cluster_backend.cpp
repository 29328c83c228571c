// SPDX-License-Identifier: Apache-2.0
#include "backend/cluster/cluster_backend.h"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>

#include "backend/cluster/cluster_internal.h"
#include "backend/kill_reply.h"
#include "resp/command_table.h"
#include "resp/reply_view.h"
#include "resp/request_parser.h"
#include "resp/writer.h"

namespace laminar::backend::cluster {
namespace asio = boost::asio;

ClusterBackend::ClusterBackend(asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, obs::BackendCounters& counters,
                               HealthBoard& health)
    : ObservedBackend(cfg, counters, health, clusterLog()), ioc_(ioc), poller_(poller), refresh_timer_(ioc) {
    requestRefresh();
}

ClusterBackend::~ClusterBackend() {
    closing_ = true;
    *alive_ = false;
    refresh_timer_.cancel();
    for (auto& [at, conns] : nodes_)
        for (auto& c : conns) {
            c->setObserver(nullptr);
            c->close("shutting down");  // completes what is pending on it
        }
    auto error = unavailableError(cfg_.name, "shutting down");
    for (auto& p : parked_) p.sink->complete(error, true);
    for (auto& w : holding_)
        if (auto c = w.lock()) c->expireWaiting(Clock::time_point::max(), error);
    std::vector<Request*> left(live_.begin(), live_.end());  // waiting for a retry
    for (Request* r : left) finish(r, error, true);
    counters_.shared.add(-published_shared_);
}

RedisConnection& ClusterBackend::node(const config::Endpoint& at, uint64_t client_id) {
    const bool resp3 = (client_id & kResp3) != 0;
    auto& conns = nodes_[resp3 ? at.str() + " resp3" : at.str()];  // health reads the plain ones
    if (conns.empty()) {
        auto nc = nodeConfig(cfg_, at);
        for (int i = 0; i < cfg_.connections; ++i) {
            conns.push_back(std::make_shared<RedisConnection>(ioc_, poller_, nc, false));
            if (resp3) conns.back()->setResp3();
            conns.back()->setObserver(this);
            conns.back()->start();
        }
    }
    return *conns[(client_id & ~kResp3) % conns.size()];
}

void ClusterBackend::send(uint64_t client_id, std::string_view raw, ReplySink* sink) {
    if (!map_) {
        parked_.push_back({Clock::now(), std::string(raw), client_id, sink});
        requestRefresh();
        return;
    }
    resp::RequestParser parser;
    if (parser.parse(raw) != resp::ParseStatus::kOk || parser.args().empty()) {
        sink->complete("-ERR laminar: malformed command for a cluster backend\r\n", true);
        return;
    }
    const auto& argv = parser.args();
    const resp::CommandInfo* cmd = resp::lookupCommand(argv);
    std::vector<int> keys;
    if (cmd) resp::keyIndices(*cmd, argv, keys);
    if (keys.empty()) {
        sendKeyless(client_id, cmd ? cmd->name : std::string_view(), argv, raw, sink);
        return;
    }
    if (auto slot = commonSlot(argv, keys)) {
        dispatch(newRequest(std::string(raw), *slot, sink, client_id));
        return;
    }
    // Keys in several slots: split what Redis Cluster clients split, refuse the rest as Redis does.
    std::string_view name = cmd->name;
    Fanout::Merge merge;
    if (name == "mget") merge = Fanout::Merge::kByKey;
    else if (name == "mset") merge = Fanout::Merge::kAllOk;
    else if (name == "del" || name == "unlink" || name == "exists" || name == "touch") merge = Fanout::Merge::kSum;
    else {
        sink->complete("-CROSSSLOT Keys in request don't hash to the same slot\r\n", false);
        return;
    }
    // Group the keys by slot, in order of first appearance; MSET carries each key's value along.
    std::vector<uint16_t> slots;
    std::vector<std::vector<std::string_view>> groups;
    auto fan = newFanout(sink, merge);
    for (int k : keys) {
        uint16_t s = keySlot(argv[static_cast<size_t>(k)]);
        size_t g = static_cast<size_t>(std::find(slots.begin(), slots.end(), s) - slots.begin());
        if (g == slots.size()) {
            slots.push_back(s);
            groups.push_back({argv[0]});
        }
        if (merge == Fanout::Merge::kByKey) fan->by_key.emplace_back(g, groups[g].size() - 1);
        groups[g].push_back(argv[static_cast<size_t>(k)]);
        if (name == "mset" && static_cast<size_t>(k) + 1 < argv.size()) groups[g].push_back(argv[static_cast<size_t>(k) + 1]);
    }
    std::vector<std::pair<std::string, uint16_t>> parts;
    for (size_t g = 0; g < groups.size(); ++g) {
        std::string part;
        resp::appendCommand(part, std::span<const std::string_view>(groups[g]));
        parts.emplace_back(std::move(part), slots[g]);
    }
    startFanout(fan, std::move(parts), client_id);
}

void ClusterBackend::sendToNode(const config::Endpoint& at, uint64_t client_id, std::string_view raw, ReplySink* sink) {
    node(at, client_id).send(raw, sink);
}

// A script runs on the master of its keys (any master, for EVAL with no key): the kill goes to
// every master, on connections of their own (the shared ones may wait behind the script), awaited
// up to busy_timeout as on a single Redis. Before the first slot map it takes the usual way.
void ClusterBackend::sendAside(std::string_view raw, ReplySink* sink) {
    if (!map_ || map_->masters.empty()) {
        send(0, raw, sink);
        return;
    }
    // Each connection is closed once it has answered.
    const size_t n = map_->masters.size();
    auto conns = std::make_shared<std::vector<std::shared_ptr<RedisConnection>>>(n);
    auto* job = new KillReplies(n, sink, [conns, ioc = &ioc_](size_t i) {
        asio::post(*ioc, [c = std::move((*conns)[i])] { c->close("answered"); });
    });
    for (size_t i = 0; i < n; ++i) {
        auto nc = nodeConfig(cfg_, map_->masters[i]);
        nc.timeout = std::max(cfg_.timeout, cfg_.busy_timeout);
        auto conn = std::make_shared<RedisConnection>(ioc_, poller_, nc, true);  // kept: the part may be answered within send()
        (*conns)[i] = conn;
        conn->setBare();
        conn->start();
        conn->send(raw, &job->part(i), false);
    }
    job->sent();
}

std::vector<std::shared_ptr<DedicatedConnection>> ClusterBackend::openChangeFeeds() {
    std::vector<std::shared_ptr<DedicatedConnection>> out;
    if (!map_) return out;
    for (const auto& m : map_->masters) {
        auto conn = std::make_shared<RedisConnection>(ioc_, poller_, nodeConfig(cfg_, m), true);
        conn->setResp3();
        conn->start();
        out.push_back(std::move(conn));
    }
    return out;
}

void ClusterBackend::closeChangeFeed(std::shared_ptr<DedicatedConnection> conn) {
    auto c = std::static_pointer_cast<RedisConnection>(std::move(conn));  // made by openChangeFeeds()
    c->setRelay(nullptr, false);
    c->close("released");
}

std::string ClusterBackend::changeFeedServers() const {
    if (!map_) return {};
    std::vector<std::string> masters;
    for (const auto& m : map_->masters) masters.push_back(m.str());
    std::sort(masters.begin(), masters.end());
    std::string out;
    for (const auto& m : masters) out += (out.empty() ? "" : ",") + m;
    return out;
}

ClusterBackend::Request* ClusterBackend::newRequest(std::string raw, uint16_t slot, ReplySink* sink, uint64_t client_id) {
    auto* r = new Request;
    r->owner = this;
    r->raw = std::move(raw);
    r->slot = slot;
    r->sink = sink;
    r->client_id = client_id;
    r->deadline = Clock::now() + cfg_.retry_window;
    live_.insert(r);
    return r;
}

void ClusterBackend::dispatch(Request* r) {
    const config::Endpoint* master = map_->master(r->slot);
    if (!master) {
        if (Clock::now() < r->deadline) {
            retryLater(r);
            return;
        }
        finish(r, "-CLUSTERDOWN Hash slot not served\r\n", false);
        return;
    }
    sendTo(r, *master, false);
}

void ClusterBackend::sendTo(Request* r, const config::Endpoint& at, bool asking) {
    r->at = at;
    auto& conn = node(at, r->client_id);
    if (asking) conn.send(kAsking, &discardSink());  // its +OK is not the client's
    conn.send(r->raw, r);
}

void ClusterBackend::onReply(Request* r, std::string_view reply, bool failed) {
    if (closing_) {
        finish(r, reply, failed);
        return;
    }
    if (!failed && !reply.empty() && reply[0] == '-') {
        auto to = parseRedirect(reply, r->at);
        if (to.kind != Redirect::Kind::kNone && r->redirects < kMaxRedirects) {
            ++r->redirects;
            learnRedirect(to);
            sendTo(r, to.to, to.kind == Redirect::Kind::kAsk);
            return;
        }
        if (retriable(reply) && Clock::now() < r->deadline) {
            retryLater(r);
            return;
        }
    }
    if (failed && Clock::now() < r->deadline) {
        retryLater(r);
        return;
    }
    if (r->scan_master >= 0 && !failed && !resp::isError(reply)) {
        // Rewrite the node's cursor into laminar's: next master when this one is done.
        std::vector<std::string_view> parts;
        std::string_view body;
        uint64_t node_cursor = 0;
        if (arrayElements(reply, parts) && parts.size() == 2 && resp::bulkBody(parts[0], body) && parseUint64(body, node_cursor)) {
            std::string out;
            resp::appendArrayHeader(out, 2);
            resp::appendBulk(out, std::to_string(nextScanCursor(node_cursor, static_cast<uint64_t>(r->scan_master), map_->masters.size())));
            out.append(parts[1]);
            finish(r, out, false);
            return;
        }
    }
    finish(r, reply, failed);
}

void ClusterBackend::retryLater(Request* r) {
    counters_.retried.add();
    requestRefresh();
    auto timer = std::make_shared<asio::steady_timer>(ioc_, kRetryEvery);
    timer->async_wait([this, r, timer, alive = alive_](const boost::system::error_code& ec) {
        if (ec || !*alive || !live_.count(r)) return;
        dispatch(r);
    });
}

void ClusterBackend::finish(Request* r, std::string_view reply, bool failed) {
    ReplySink* sink = r->sink;
    live_.erase(r);
    // The client's sink may send more commands from inside complete(): r is out of live_ already.
    sink->complete(reply, failed);
    delete r;
}

void ClusterBackend::connectionChanged(std::string_view error) {
    if (!error.empty()) last_down_ = std::string(error);
    publishUp();
}

// Up: a slot map that covers every slot, and no master's connection is down.
void ClusterBackend::publishUp() {
    int64_t ready = 0;
    for (const auto& [at, conns] : nodes_)
        for (const auto& c : conns) ready += c->state() == RedisConnection::State::kReady;
    counters_.shared.add(ready - published_shared_);
    published_shared_ = ready;
    if (!map_ && !map_answered_) return;  // still starting: not down before the first answer
    // A map with unserved slots is down with no connection down: say how many, not "".
    std::string why = !map_ ? map_error_
                      : map_->covered() < kSlots ? fmt::format("{} of {} slots have no master", kSlots - map_->covered(), kSlots)
                                                 : last_down_;
    countUp(anyUp(), [&] { return fmt::format("backend '{}' (redis_cluster, seeds {})", cfg_.name, cfg_.where()); }, why);
}

std::shared_ptr<DedicatedConnection> ClusterBackend::acquireDedicated(bool resp3) {
    // At a seed until the router picks the node (retarget() then names it after that node).
    auto nc = nodeConfig(cfg_, cfg_.servers.front());
    nc.name = cfg_.name;
    auto conn = std::make_shared<RedisConnection>(ioc_, poller_, nc, true);
    if (resp3) conn->setResp3();
    conn->setObserver(this);
    conn->setRouter([this, alive = alive_, name = cfg_.name, weak = std::weak_ptr(conn)](std::string_view raw) {
        if (!*alive) {
            RedisConnection::Target gone;
            gone.error = unavailableError(name, "shutting down");
            return gone;
        }
        auto t = target(raw);
        if (t.wait) holdUntilMap(weak);
        return t;
    }, [this, alive = alive_](std::string_view error, const config::Endpoint& held_on) {
        return *alive ? heldRedirect(error, held_on) : std::string();
    });
    ++dedicated_in_use_;
    counters_.dedicated.add(1);
    return conn;
}

void ClusterBackend::releaseDedicated(std::shared_ptr<DedicatedConnection> given, bool) {
    auto conn = std::static_pointer_cast<RedisConnection>(std::move(given));  // made by acquireDedicated()
    if (dedicated_in_use_ > 0) --dedicated_in_use_;
    counters_.dedicated.add(-1);
    conn->setRelay(nullptr, false);
    conn->setObserver(nullptr);
    conn->close("released");  // bound to one node: never pooled
}

std::vector<CanaryKey> ClusterBackend::canaryKeys(const std::string& base) const {
    if (!map_) return {{base, {}}};
    std::vector<CanaryKey> keys;
    auto first = map_->firstSlots();
    for (size_t m = 0; m < first.size(); ++m) {
        if (first[m] == SlotMap::kNone) continue;
        keys.push_back({fmt::format("{}:{{{}}}", base, slotTag(first[m])), "master " + map_->masters[m].str()});
    }
    if (keys.empty()) keys.push_back({base, {}});
    return keys;
}

bool ClusterBackend::anyUp() const {
    if (!map_ || map_->covered() < kSlots) return false;
    for (const auto& m : map_->masters) {
        auto it = nodes_.find(m.str());
        if (it != nodes_.end() && !it->second.front()->healthy()) return false;
    }
    return true;
}

}  // namespace laminar::backend::cluster

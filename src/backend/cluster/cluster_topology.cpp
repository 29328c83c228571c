// SPDX-License-Identifier: Apache-2.0
// The slot map: refreshed from CLUSTER SLOTS (at start, after MOVED, when a node fails), the
// redirects that update it, and where a command goes by it.
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>

#include "backend/cluster/cluster_internal.h"
#include "resp/command_table.h"
#include "resp/reply_view.h"
#include "resp/request_parser.h"
#include "resp/writer.h"

namespace laminar::backend::cluster {
namespace asio = boost::asio;

void ClusterBackend::requestRefresh() {
    if (closing_) return;
    if (refreshing_) {
        refresh_again_ = true;
        return;
    }
    auto wait = last_refresh_ + kRetryEvery - Clock::now();
    if (wait <= Clock::duration::zero()) {
        startRefresh();
        return;
    }
    if (refresh_scheduled_) return;
    refresh_scheduled_ = true;
    refresh_timer_.expires_after(wait);
    refresh_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        refresh_scheduled_ = false;
        requestRefresh();
    });
}

void ClusterBackend::startRefresh() {
    // Ask the known masters first, then the seeds, in turn, skipping connections known down.
    std::vector<config::Endpoint> candidates;
    if (map_) candidates = map_->masters;
    for (const auto& s : cfg_.servers)
        if (std::find(candidates.begin(), candidates.end(), s) == candidates.end()) candidates.push_back(s);
    config::Endpoint at = candidates[refresh_from_++ % candidates.size()];
    for (size_t i = 0; i < candidates.size(); ++i) {
        auto it = nodes_.find(at.str());
        if (it == nodes_.end() || !it->second.front()->down()) break;
        at = candidates[refresh_from_++ % candidates.size()];
    }
    refreshing_ = true;
    last_refresh_ = Clock::now();
    clusterLog()->debug("cluster '{}': asking {} for the slot map", cfg_.name, at.str());
    slots_sink_.owner = this;
    slots_sink_.asked = at;
    node(at, 0).send(kClusterSlots, &slots_sink_);
}

void ClusterBackend::onSlots(std::string_view raw, bool failed, const config::Endpoint& asked) {
    refreshing_ = false;
    if (closing_) return;
    map_answered_ = true;
    SlotMap next;
    std::string error;
    if (failed) {
        error = std::string(raw.substr(1, raw.size() >= 3 ? raw.size() - 3 : 0));
    } else if (parseClusterSlots(raw, asked, next, error) && next.covered() > 0) {
        bool first = !map_;
        if (first || next.masters != map_->masters)
            clusterLog()->info("cluster '{}': {} masters serve {} of {} slots (from {})", cfg_.name, next.masters.size(), next.covered(), kSlots,
                        asked.str());
        map_ = std::make_unique<SlotMap>(std::move(next));
        map_error_.clear();
        publishUp();
        std::vector<Parked> parked;
        parked.swap(parked_);
        for (auto& p : parked) send(p.client_id, p.raw, p.sink);
        std::vector<std::weak_ptr<RedisConnection>> holding;
        holding.swap(holding_);
        for (auto& w : holding)
            if (auto c = w.lock()) c->routeWaiting();
    } else if (error.empty()) {
        error = "CLUSTER SLOTS from " + asked.str() + ": no slot is served";
    }
    if (!error.empty()) {
        clusterLog()->debug("cluster '{}': no slot map from {}: {}", cfg_.name, asked.str(), error);
        map_error_ = error;
        // Commands that waited too long for a first map get the reason; the rest wait on.
        auto now = Clock::now();
        std::vector<Parked> keep, expired;
        for (auto& p : parked_) (now - p.since >= cfg_.retry_window ? expired : keep).push_back(std::move(p));
        parked_.swap(keep);
        auto msg = unavailableError(cfg_.name, "no slot map: " + map_error_);
        for (auto& p : expired) p.sink->complete(msg, true);
        std::vector<std::weak_ptr<RedisConnection>> holding;
        holding.swap(holding_);
        for (auto& w : holding)
            if (auto c = w.lock()) {
                c->expireWaiting(now - cfg_.retry_window, msg);
                if (c->waitingForRoute()) holdUntilMap(w);
            }
        if (!map_ || !parked_.empty()) refresh_again_ = true;
        publishUp();
    }
    if (refresh_again_) {
        refresh_again_ = false;
        requestRefresh();
    }
}

void ClusterBackend::learnRedirect(const Redirect& to) {
    bool moved = to.kind == Redirect::Kind::kMoved;
    (moved ? counters_.moved : counters_.ask).add();
    if (!moved || !map_) return;  // -ASK moves no slot yet
    map_->owner[to.slot] = map_->indexOf(to.to);
    requestRefresh();
}

std::string ClusterBackend::heldRedirect(std::string_view error, const config::Endpoint& held_on) {
    auto to = parseRedirect(error, held_on);
    if (to.kind == Redirect::Kind::kNone) return {};
    learnRedirect(to);
    bool moved = to.kind == Redirect::Kind::kMoved;
    return fmt::format("-TRYAGAIN laminar: slot {} {} {} while this client is held on cluster node {} (MULTI, WATCH, a blocking "
                       "command or pub/sub); retry\r\n",
                       to.slot, moved ? "moved to" : "is moving to", to.to.str(), held_on.str());
}

void ClusterBackend::holdUntilMap(const std::weak_ptr<RedisConnection>& conn) {
    auto same = [&](const auto& w) { return !w.owner_before(conn) && !conn.owner_before(w); };
    if (std::none_of(holding_.begin(), holding_.end(), same)) holding_.push_back(conn);
    requestRefresh();
}

RedisConnection::Target ClusterBackend::target(std::string_view raw) const {
    RedisConnection::Target t;
    if (!map_) {
        t.wait = true;
        t.error = unavailableError(cfg_.name, "no slot map: " + map_error_);
        return t;
    }
    resp::RequestParser parser;
    if (parser.parse(raw) != resp::ParseStatus::kOk || parser.args().empty()) {
        t.error = "-ERR laminar: malformed command for a cluster backend\r\n";
        return t;
    }
    const auto& argv = parser.args();
    const resp::CommandInfo* cmd = resp::lookupCommand(argv);
    std::vector<int> keys;
    if (cmd) resp::keyIndices(*cmd, argv, keys);
    t.multi = cmd && cmd->name == "multi";
    const config::Endpoint* master = nullptr;
    if (keys.empty()) {
        t.keyless = true;
        for (int s = 0; s < kSlots && !master; ++s) master = map_->master(static_cast<uint16_t>(s));
    } else if (auto slot = commonSlot(argv, keys)) {
        master = map_->master(*slot);
    } else {
        t.error = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
        return t;
    }
    if (!master) {
        t.error = "-CLUSTERDOWN Hash slot not served\r\n";
        return t;
    }
    t.to = *master;
    return t;
}

}  // namespace laminar::backend::cluster

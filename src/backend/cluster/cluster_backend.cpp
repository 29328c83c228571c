// SPDX-License-Identifier: Apache-2.0
#include "backend/cluster/cluster_backend.h"

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <random>

#include "obs/logging.h"
#include "resp/command_table.h"
#include "resp/numbers.h"
#include "resp/reply_scanner.h"
#include "resp/reply_view.h"
#include "resp/request_parser.h"
#include "resp/writer.h"

namespace laminar::backend::cluster {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr int kMaxRedirects = 16;
constexpr std::chrono::milliseconds kRetryEvery{100};
constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
constexpr std::string_view kClusterSlots = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("backend");
    return l;
}

// The elements of a RESP2 array reply. False when it is not one.
bool arrayElements(std::string_view raw, std::vector<std::string_view>& out) {
    out.clear();
    if (raw.empty() || raw[0] != '*') return false;
    auto eol = raw.find("\r\n");
    long long n = 0;
    if (eol == std::string_view::npos || !resp::parseLongLong(raw.substr(1, eol - 1), n)) return false;
    if (n < 0) return true;
    size_t pos = eol + 2;
    resp::ReplyScanner scanner;
    for (long long i = 0; i < n; ++i) {
        scanner.reset();
        if (scanner.scan(raw.substr(pos)) != resp::ParseStatus::kOk) return false;
        out.push_back(raw.substr(pos, scanner.consumed()));
        pos += scanner.consumed();
    }
    return true;
}

bool parseUint64(std::string_view s, uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool retriable(std::string_view reply) {
    return reply.starts_with("-TRYAGAIN") || reply.starts_with("-CLUSTERDOWN") || reply.starts_with("-LOADING") ||
           reply.starts_with("-MASTERDOWN");
}
}  // namespace

// One command (or one slot's part of a split one) on its way to a master.
struct ClusterBackend::Request final : ReplySink {
    ClusterBackend* owner = nullptr;
    std::string raw;
    uint16_t slot = 0;
    ReplySink* sink = nullptr;
    uint64_t client_id = 0;
    Clock::time_point deadline;
    int redirects = 0;
    config::Endpoint at;           // where it went last
    int scan_master = -1;          // a SCAN step on this master (index in the map's masters)
    void complete(std::string_view reply, bool failed) override;
};

// A command split over several slots (or sent to every master), merged when every part is in.
struct ClusterBackend::Fanout {
    using Merge = ClusterBackend::Merge;
    struct Part final : ReplySink {
        Fanout* fanout = nullptr;
        size_t index = 0;
        void complete(std::string_view reply, bool failed) override { fanout->partDone(index, reply, failed); }
    };
    ClusterBackend* owner = nullptr;
    ReplySink* sink = nullptr;
    Merge merge = Merge::kFirst;
    std::vector<Part> parts;
    std::vector<std::string> replies;
    std::vector<bool> failed;
    std::vector<std::pair<size_t, size_t>> by_key;  // kByKey: each original key's (part, element)
    size_t left = 0;

    void partDone(size_t i, std::string_view reply, bool part_failed) {
        replies[i].assign(reply);
        failed[i] = part_failed;
        if (--left == 0) owner->finishFanout(this);
    }
    std::string merged(bool& any_failed) const;
};

void ClusterBackend::Request::complete(std::string_view reply, bool failed) { owner->onReply(this, reply, failed); }

std::string ClusterBackend::Fanout::merged(bool& any_failed) const {
    for (size_t i = 0; i < replies.size(); ++i)
        if (failed[i] || resp::isError(replies[i])) {
            any_failed = failed[i];
            return replies[i];
        }
    any_failed = false;
    std::string out;
    std::vector<std::string_view> elems;
    switch (merge) {
        case Merge::kFirst: return replies.front();
        case Merge::kAllOk: return "+OK\r\n";
        case Merge::kSum: {
            long long sum = 0;
            for (const auto& r : replies) {
                long long v = 0;
                if (!resp::integerValue(r, v)) return "-ERR laminar: unexpected reply from a cluster node\r\n";
                sum += v;
            }
            resp::appendInteger(out, sum);
            return out;
        }
        case Merge::kConcat: {
            std::string body;
            size_t n = 0;
            for (const auto& r : replies) {
                if (!arrayElements(r, elems)) return "-ERR laminar: unexpected reply from a cluster node\r\n";
                for (auto e : elems) body.append(e);
                n += elems.size();
            }
            resp::appendArrayHeader(out, n);
            return out + body;
        }
        case Merge::kByKey: {
            std::vector<std::vector<std::string_view>> split(replies.size());
            for (size_t i = 0; i < replies.size(); ++i)
                if (!arrayElements(replies[i], split[i])) return "-ERR laminar: unexpected reply from a cluster node\r\n";
            resp::appendArrayHeader(out, by_key.size());
            for (auto [part, elem] : by_key) {
                if (elem >= split[part].size()) return "-ERR laminar: unexpected reply from a cluster node\r\n";
                out.append(split[part][elem]);
            }
            return out;
        }
    }
    return out;
}

ClusterBackend::ClusterBackend(asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, obs::BackendCounters& counters)
    : ObservedBackend(cfg, counters), ioc_(ioc), poller_(poller), refresh_timer_(ioc) {
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
    auto& conns = nodes_[at.str()];
    if (conns.empty()) {
        auto nc = nodeConfig(cfg_, at);
        for (int i = 0; i < cfg_.connections; ++i) {
            conns.push_back(std::make_shared<RedisConnection>(ioc_, poller_, nc, false));
            conns.back()->setObserver(this);
            conns.back()->start();
        }
    }
    return *conns[client_id % conns.size()];
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

void ClusterBackend::sendKeyless(uint64_t client_id, std::string_view name, std::span<const std::string_view> argv, std::string_view raw,
                                 ReplySink* sink) {
    auto first = map_->firstSlots();
    if (name == "scan") {
        sendScan(client_id, argv, first, sink);
        return;
    }
    std::vector<uint16_t> reps = first;  // the masters that serve slots, by one slot each
    std::erase(reps, SlotMap::kNone);
    if (reps.empty()) {
        sink->complete(unavailableError(cfg_.name, "no master serves any slot"), true);
        return;
    }
    if (name == "randomkey") {
        static thread_local std::minstd_rand rng{std::random_device{}()};
        dispatch(newRequest(std::string(raw), reps[rng() % reps.size()], sink, client_id));
        return;
    }
    std::optional<Fanout::Merge> merge;
    if (name == "dbsize") merge = Fanout::Merge::kSum;
    else if (name == "keys") merge = Fanout::Merge::kConcat;
    else if (name == "flushall" || name == "flushdb" || name == "script|flush" || name == "function|flush" || name == "function|delete" ||
             name == "function|restore")
        merge = Fanout::Merge::kAllOk;
    else if (name == "script|load" || name == "function|load")
        merge = Fanout::Merge::kFirst;
    if (!merge || reps.size() == 1) {
        dispatch(newRequest(std::string(raw), reps.front(), sink, client_id));
        return;
    }
    std::vector<std::pair<std::string, uint16_t>> parts;
    for (uint16_t rep : reps) parts.emplace_back(std::string(raw), rep);
    startFanout(newFanout(sink, *merge), std::move(parts), client_id);
}

// SCAN walks the masters one after the other; the client's cursor carries which one and where.
void ClusterBackend::sendScan(uint64_t client_id, std::span<const std::string_view> argv, const std::vector<uint16_t>& first_slots,
                              ReplySink* sink) {
    uint64_t cursor = 0;
    if (argv.size() < 2 || !parseUint64(argv[1], cursor) || cursor % kScanMasters >= map_->masters.size()) {
        sink->complete("-ERR invalid cursor\r\n", false);
        return;
    }
    auto master = static_cast<size_t>(cursor % kScanMasters);
    uint16_t slot = first_slots[master];
    if (slot == SlotMap::kNone) {
        // A master that no longer serves slots (resharded away): go on with the next one.
        std::string next;
        resp::appendArrayHeader(next, 2);
        resp::appendBulk(next, std::to_string(nextScanCursor(0, master, map_->masters.size())));
        resp::appendArrayHeader(next, 0);
        sink->complete(next, false);
        return;
    }
    std::vector<std::string_view> args(argv.begin(), argv.end());
    std::string node_cursor = std::to_string(cursor / kScanMasters);
    args[1] = node_cursor;
    std::string raw;
    resp::appendCommand(raw, std::span<const std::string_view>(args));
    Request* r = newRequest(std::move(raw), slot, sink, client_id);
    r->scan_master = static_cast<int>(master);
    dispatch(r);
}

ClusterBackend::Fanout* ClusterBackend::newFanout(ReplySink* sink, Merge merge) {
    auto* fan = new Fanout;
    fan->owner = this;
    fan->sink = sink;
    fan->merge = merge;
    fanouts_.insert(fan);
    return fan;
}

// Every part is a request of its own (redirected and retried alone); the merge waits for all.
void ClusterBackend::startFanout(Fanout* fan, std::vector<std::pair<std::string, uint16_t>> parts, uint64_t client_id) {
    fan->parts.resize(parts.size());
    fan->replies.resize(parts.size());
    fan->failed.resize(parts.size());
    fan->left = parts.size();
    std::vector<Request*> requests;
    for (size_t i = 0; i < parts.size(); ++i) {
        fan->parts[i].fanout = fan;
        fan->parts[i].index = i;
        requests.push_back(newRequest(std::move(parts[i].first), parts[i].second, &fan->parts[i], client_id));
    }
    for (Request* r : requests) dispatch(r);
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

void ClusterBackend::finishFanout(Fanout* f) {
    bool failed = false;
    std::string reply = f->merged(failed);
    fanouts_.erase(f);
    ReplySink* sink = f->sink;
    delete f;
    sink->complete(reply, failed);
}

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
    log()->debug("cluster '{}': asking {} for the slot map", cfg_.name, at.str());
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
            log()->info("cluster '{}': {} masters serve {} of {} slots (from {})", cfg_.name, next.masters.size(), next.covered(), kSlots,
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
        log()->debug("cluster '{}': no slot map from {}: {}", cfg_.name, asked.str(), error);
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
    switch (countUp(anyUp())) {
        case Transition::kUp: log()->info("backend '{}' (redis_cluster, seeds {}) is up", cfg_.name, cfg_.where()); break;
        case Transition::kDown:
            log()->warn("backend '{}' (redis_cluster, seeds {}) is down: {}", cfg_.name, cfg_.where(), map_ ? last_down_ : map_error_);
            break;
        case Transition::kNone: break;
    }
}

std::shared_ptr<DedicatedConnection> ClusterBackend::acquireDedicated() {
    // At a seed until the router picks the node (retarget() then names it after that node).
    auto nc = nodeConfig(cfg_, cfg_.servers.front());
    nc.name = cfg_.name;
    auto conn = std::make_shared<RedisConnection>(ioc_, poller_, nc, true);
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

// SPDX-License-Identifier: Apache-2.0
// Commands split over several slots (MGET, MSET, DEL... across slots) or sent to every master
// (DBSIZE, SCAN, FLUSHALL...), and how their parts' replies are merged into one.
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

void ClusterBackend::finishFanout(Fanout* f) {
    bool failed = false;
    std::string reply = f->merged(failed);
    fanouts_.erase(f);
    ReplySink* sink = f->sink;
    delete f;
    sink->complete(reply, failed);
}

}  // namespace laminar::backend::cluster

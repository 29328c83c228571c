// SPDX-License-Identifier: Apache-2.0
// ClusterBackend's insides, shared by its three files: cluster_backend.cpp (connections, sending,
// redirects and retries), cluster_fanout.cpp (commands split over slots or sent to every master)
// and cluster_topology.cpp (the slot map: CLUSTER SLOTS refreshes, MOVED, routing). Not for use
// outside backend/cluster/.
#pragma once

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/cluster/cluster_backend.h"
#include "obs/logging.h"
#include "resp/numbers.h"
#include "resp/reply_scanner.h"

namespace laminar::backend::cluster {

using Clock = std::chrono::steady_clock;

inline constexpr int kMaxRedirects = 16;
inline constexpr std::chrono::milliseconds kRetryEvery{100};
inline constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
inline constexpr std::string_view kClusterSlots = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

inline std::shared_ptr<spdlog::logger> clusterLog() {
    static auto l = obs::logger("backend");
    return l;
}

// The elements of a RESP2 array reply. False when it is not one.
inline bool arrayElements(std::string_view raw, std::vector<std::string_view>& out) {
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

inline bool parseUint64(std::string_view s, uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

inline bool retriable(std::string_view reply) {
    return reply.starts_with("-TRYAGAIN") || reply.starts_with("-CLUSTERDOWN") || reply.starts_with("-LOADING") ||
           reply.starts_with("-MASTERDOWN");
}

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

inline void ClusterBackend::Request::complete(std::string_view reply, bool failed) { owner->onReply(this, reply, failed); }

}  // namespace laminar::backend::cluster

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "obs/thread_metrics.h"
#include "backend/cluster/slots.h"
#include "backend/observed_backend.h"
#include "backend/redis_connection.h"
#include "config/config.h"
#include "io/poller.h"

namespace laminar::backend::cluster {

// A Redis Cluster as one backend, for one I/O thread: clients that know nothing of clusters send
// their commands here as to a single Redis.
//
//   send(raw) -> keys -> slots -> master's pipelined connection
//                      \-> several slots: split per slot (MGET, MSET, DEL, EXISTS...) and merged
//   keyless: DBSIZE/KEYS/FLUSH* on every master and merged; SCAN walks the masters in turn
//
// Contract:
//  1. The slot map comes from CLUSTER SLOTS (a seed first, then any known master). Commands sent
//     before it is known wait for it (up to retry_window), on dedicated connections too.
//  2. -MOVED updates the map at once, asks for a fresh one and resends; -ASK resends once to the
//     importing node after ASKING. Up to 16 redirects per command.
//  3. -TRYAGAIN, -CLUSTERDOWN and a master that cannot be reached (connection refused, closed,
//     timed out) are retried every 100 ms, with a fresh map, until retry_window has passed since
//     the command arrived; then the client gets the last error. A write whose connection broke
//     after it was sent may so run twice (as with any cluster client that retries).
//  4. Keys of one command in different slots: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH are split per
//     slot and merged (not atomic across slots, as with Redis Cluster clients); every other
//     command gets Redis's own -CROSSSLOT error.
//  5. A client in a stateful mode (MULTI, WATCH, blocking, pub/sub) gets a dedicated connection
//     to the master of the first key it names (MULTI itself is answered at once and replayed
//     there); later commands whose keys another master serves get a -CROSSSLOT error naming both
//     nodes. Such connections are never pooled: each is bound to its node, so a -MOVED or -ASK
//     there cannot be followed: the map learns it, and the client gets -TRYAGAIN naming both
//     nodes (inside MULTI, Redis discards the block: EXEC fails too; the retry goes to the new
//     node).
class ClusterBackend final : public ObservedBackend {
public:
    ClusterBackend(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, obs::BackendCounters& counters,
                   HealthBoard& health);
    ~ClusterBackend();

    void send(uint64_t client_id, std::string_view raw, ReplySink* sink) override;
    // Straight to the node, with no slot lookup and no redirects: a CLIENT UNBLOCK is about a
    // connection there.
    void sendToNode(const config::Endpoint& at, uint64_t client_id, std::string_view raw, ReplySink* sink) override;
    // SCRIPT KILL / FUNCTION KILL: to every master (see the .cpp).
    void sendAside(std::string_view raw, ReplySink* sink) override;
    bool anyUp() const override;
    // One key per master, each with a hash tag on a slot that master serves.
    std::vector<CanaryKey> canaryKeys(const std::string& base) const override;
    bool idle() const override { return live_.empty() && parked_.empty() && fanouts_.empty() && dedicated_in_use_ == 0; }
    DedicatedPool* dedicated() override { return this; }
    std::shared_ptr<DedicatedConnection> acquireDedicated(bool resp3) override;
    // On each node's RESP3 connections (opened with HELLO 3 when the first RESP3 client's command
    // reaches that node); split commands are merged from RESP3 parts as from RESP2 ones.
    void sendResp3(uint64_t client_id, std::string_view raw, ReplySink* sink) override { send(client_id | kResp3, raw, sink); }
    void releaseDedicated(std::shared_ptr<DedicatedConnection> conn, bool clean) override;
    // One RESP3 connection to each master of the slot map (a key lives on its master; replicas
    // apply the same changes).
    std::vector<std::shared_ptr<DedicatedConnection>> openChangeFeeds() override;
    void closeChangeFeed(std::shared_ptr<DedicatedConnection> conn) override;
    std::string changeFeedServers() const override;
    // RedisConnection::Observer
    void connectionChanged(std::string_view error) override;

    // For tests and STATUS: how many slots the map covers, and its masters.
    int coveredSlots() const { return map_ ? map_->covered() : 0; }

    struct Request;
    struct Fanout;

private:
    friend struct Request;
    friend struct Fanout;
    // A command that came before the first slot map.
    struct Parked {
        std::chrono::steady_clock::time_point since;
        std::string raw;
        uint64_t client_id;
        ReplySink* sink;
    };
    // The one CLUSTER SLOTS in flight.
    struct SlotsSink final : ReplySink {
        ClusterBackend* owner = nullptr;
        config::Endpoint asked;
        void complete(std::string_view raw, bool failed) override { owner->onSlots(raw, failed, asked); }
    };

    // A client id with kResp3 set (sendResp3) takes the node's RESP3 connections. It travels with
    // the command through parking, retries, redirects and fan-outs; laminar's ids never reach it.
    static constexpr uint64_t kResp3 = uint64_t{1} << 63;
    RedisConnection& node(const config::Endpoint& at, uint64_t client_id);
    // Sends `r` to its slot's master (retried later when no master serves the slot).
    void dispatch(Request* r);
    void sendTo(Request* r, const config::Endpoint& at, bool asking);
    void onReply(Request* r, std::string_view reply, bool failed);
    void retryLater(Request* r);
    void requestRefresh();
    void startRefresh();
    void onSlots(std::string_view raw, bool failed, const config::Endpoint& asked);
    void finish(Request* r, std::string_view reply, bool failed);
    void finishFanout(Fanout* f);
    // How a split command's replies become one: in key order, summed, +OK, concatenated, the first.
    enum class Merge { kByKey, kSum, kAllOk, kConcat, kFirst };
    Fanout* newFanout(ReplySink* sink, Merge merge);
    void startFanout(Fanout* fan, std::vector<std::pair<std::string, uint16_t>> parts, uint64_t client_id);
    Request* newRequest(std::string raw, uint16_t slot, ReplySink* sink, uint64_t client_id);
    void sendKeyless(uint64_t client_id, std::string_view name, std::span<const std::string_view> argv, std::string_view raw, ReplySink* sink);
    void sendScan(uint64_t client_id, std::span<const std::string_view> argv, const std::vector<uint16_t>& first_slots, ReplySink* sink);
    void publishUp();
    // Where a dedicated connection must send `raw` (to wait, before the first slot map).
    RedisConnection::Target target(std::string_view raw) const;
    // Counts a redirect; a -MOVED updates the map at once and asks for a fresh one.
    void learnRedirect(const Redirect& to);
    // A redirect met on a dedicated connection: the map learns it; the client gets -TRYAGAIN.
    std::string heldRedirect(std::string_view error, const config::Endpoint& held_on);
    // A dedicated connection holds commands until the first slot map comes (or retry_window ends).
    void holdUntilMap(const std::weak_ptr<RedisConnection>& conn);

    boost::asio::io_context& ioc_;
    io::Poller& poller_;
    std::unique_ptr<SlotMap> map_;                       // null until the first CLUSTER SLOTS
    std::map<std::string, std::vector<std::shared_ptr<RedisConnection>>> nodes_;  // by "host:port"
    std::unordered_set<Request*> live_;                  // every command not answered yet
    std::vector<Parked> parked_;                         // waiting for the first slot map
    std::vector<std::weak_ptr<RedisConnection>> holding_;  // dedicated ones holding commands for it
    std::unordered_set<Fanout*> fanouts_;
    SlotsSink slots_sink_;
    bool refreshing_ = false, refresh_again_ = false, refresh_scheduled_ = false;
    std::string last_down_;                              // the last connection error
    int64_t published_shared_ = 0;
    size_t dedicated_in_use_ = 0;
    std::chrono::steady_clock::time_point last_refresh_{};
    size_t refresh_from_ = 0;                            // rotates over seeds and masters
    std::string map_error_ = "slot map not loaded yet";
    boost::asio::steady_timer refresh_timer_;
    bool map_answered_ = false;  // a CLUSTER SLOTS was answered (or failed) at least once
    bool closing_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // timers check it
};

}  // namespace laminar::backend::cluster

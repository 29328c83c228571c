// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <vector>

#include "obs/thread_metrics.h"
#include "backend/observed_backend.h"
#include "backend/redis_connection.h"
#include "config/config.h"

namespace laminar::backend {

// One backend as seen by one I/O thread: `connections` shared, multiplexed connections, plus a
// pool of dedicated connections for clients in a stateful mode (MULTI, blocking, pub/sub, SELECT).
// Owned by its thread: nothing here is locked. Up, for its health cell, while a shared connection
// works (ObservedBackend).
class RedisBackend final : public ObservedBackend {
public:
    // `counters`: this thread's for this backend name; they must outlive the backend.
    RedisBackend(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, obs::BackendCounters& counters,
                 HealthBoard& health);
    ~RedisBackend();

    // A client always uses the same shared connection (chosen by its id), so the commands of one
    // client reach Redis in the order it sent them.
    RedisConnection& shared(uint64_t client_id) { return *shared_[client_id % shared_.size()]; }
    void send(uint64_t client_id, std::string_view raw, ReplySink* sink) override { shared(client_id).send(raw, sink); }
    // On a bulk connection (as many as `connections`, each opened when its first client comes),
    // shared by the clients whose replies are big: Redis serves its connections in turn (64 KB of
    // a long reply, then the next connection), so a command on a shared connection no longer
    // waits behind megabytes of another client's replies, only behind a slice of them.
    void sendBulk(uint64_t client_id, std::string_view raw, ReplySink* sink) override;
    // On a RESP3 connection (as many as `connections`, each opened with HELLO 3 when its first
    // RESP3 client comes), shared by the clients that said HELLO 3. They have no bulk lane.
    void sendResp3(uint64_t client_id, std::string_view raw, ReplySink* sink) override;
    // On a bare connection opened for it, whose `timeout` is `busy_timeout`, closed once answered.
    void sendAside(std::string_view raw, ReplySink* sink) override;
    DedicatedPool* dedicated() override { return this; }

    // A connection for one client alone. Reuses an idle clean one when there is one.
    std::shared_ptr<DedicatedConnection> acquireDedicated(bool resp3) override;
    // Takes the connection back. `clean`: its state is the handshake's (no MULTI, no
    // subscription, configured db, the protocol it was opened in), so it may serve another client
    // of that protocol; otherwise it is closed.
    void releaseDedicated(std::shared_ptr<DedicatedConnection> conn, bool clean) override;
    // One dedicated RESP3 connection to the server.
    std::vector<std::shared_ptr<DedicatedConnection>> openChangeFeeds() override { return {acquireDedicated(true)}; }
    void closeChangeFeed(std::shared_ptr<DedicatedConnection> conn) override { releaseDedicated(std::move(conn), false); }
    std::string changeFeedServers() const override { return cfg_.where(); }

    // RedisConnection::Observer
    void connectionChanged(std::string_view error) override;
    bool anyUp() const override;
    // No command waits on a shared connection and no client holds a dedicated one.
    bool idle() const override;

private:
    // The connection of `lane` (bulk_, resp3_) for `client_id`, opened at its first use with
    // `configure` (setPaced, setResp3) before it starts.
    RedisConnection& laneConnection(std::vector<std::shared_ptr<RedisConnection>>& lane, uint64_t client_id,
                                    void (RedisConnection::*configure)());
    // Moves this backend's share of the connection gauges to what it holds now.
    void publishConnections();

    boost::asio::io_context& ioc_;
    io::Poller& poller_;
    std::vector<std::shared_ptr<RedisConnection>> shared_;
    std::vector<std::shared_ptr<RedisConnection>> bulk_;   // as many as shared_, null until used
    std::vector<std::shared_ptr<RedisConnection>> resp3_;  // as many as shared_, null until used
    std::vector<std::shared_ptr<RedisConnection>> idle_, idle3_;  // dedicated, clean: RESP2, RESP3
    size_t dedicated_in_use_ = 0;
    int64_t published_shared_ = 0, published_dedicated_ = 0;
};

}  // namespace laminar::backend

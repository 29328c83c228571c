// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace laminar::backend {

// Receives the one reply to one command sent to a backend.
//
// `raw` is one complete RESP reply, valid only during the call (copy what you keep). `failed` is
// true when laminar made the reply itself because the backend could not answer (down, timed out,
// protocol error); the reply is then an error that names the backend, e.g.
// "-ERR laminar: backend 'old' unavailable: connection refused". A reply that is an error from the
// backend itself (WRONGTYPE...) is not a failure.
class ReplySink {
public:
    virtual void complete(std::string_view raw, bool failed) = 0;

protected:
    ~ReplySink() = default;
};

// Who a dedicated connection is on its server, for CLIENT UNBLOCK from a client on another
// thread: the server's CLIENT ID for it (-1 until the handshake learns it) and the server it is
// on. `node` is written before `id` is first stored (release) and never after, so a reader that
// loads an id of 0 or more (acquire) may read `node`.
struct ServerIdentity {
    std::atomic<long long> id{-1};
    config::Endpoint node;
};

// One client's own connection to a backend (MULTI, WATCH, blocking commands, pub/sub, SELECT):
// what a pinned session sends on. Replies come back in order to each command's sink.
class DedicatedConnection {
public:
    // `blocking`: a blocking command (BLPOP...), which no timeout applies to.
    virtual void send(std::string_view raw, ReplySink* sink, bool blocking) = 0;
    // A command whose replies all go to the relay (pub/sub): nothing waits for them in order.
    virtual void sendRelayed(std::string_view raw) = 0;
    // Where replies no command waits for go (RESP3 pushes, pub/sub messages); `relay_all`: every
    // reply goes there (a subscribed connection).
    virtual void setRelay(ReplySink* relay, bool relay_all) = 0;
    // Closes it now; what is pending gets an error.
    virtual void close(std::string_view why) = 0;
    virtual std::shared_ptr<const ServerIdentity> serverIdentity() const = 0;

protected:
    ~DedicatedConnection() = default;
};

// Connections for one client alone.
class DedicatedPool {
public:
    // `resp3`: its handshake switches it to RESP3 (HELLO 3), and that is then its clean state.
    virtual std::shared_ptr<DedicatedConnection> acquireDedicated(bool resp3) = 0;
    // Takes the connection back. `clean`: its state is the handshake's, so it may serve another
    // client; otherwise it is closed.
    virtual void releaseDedicated(std::shared_ptr<DedicatedConnection> conn, bool clean) = 0;

protected:
    ~DedicatedPool() = default;
};

// A key a canary writes and reads back, and which server it reaches ("" when there is one).
struct CanaryKey {
    std::string key;
    std::string where;
};

// One backend as one I/O thread sees it (RedisBackend, MemcachedBackend). Owned by that thread;
// replies reach the sinks on it.
class Backend {
public:
    explicit Backend(const config::BackendConfig& cfg) : cfg_(cfg) {}
    virtual ~Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    const config::BackendConfig& config() const { return cfg_; }
    const std::string& name() const { return cfg_.name; }

    // Sends one command (RESP bytes) for client `client_id` (0: laminar's own work). The commands
    // of one client run in the order they were sent.
    virtual void send(uint64_t client_id, std::string_view raw, ReplySink* sink) = 0;
    // The same for a client whose replies are big (its bulk lane, see net/session.h): a backend
    // that can keep them from standing ahead of the other clients' commands sends it on a
    // connection of its own (RedisBackend); the others send it as any. A client changes lanes
    // only with nothing in flight, so its commands still run in the order it sent them.
    virtual void sendBulk(uint64_t client_id, std::string_view raw, ReplySink* sink) { send(client_id, raw, sink); }
    // The same for a client that said HELLO 3: the reply as the server gives it to a RESP3
    // connection. RedisBackend sends it on shared connections of their own, opened with HELLO 3.
    // Default, for a server that speaks RESP2 only (memcached): the RESP2 reply with its nulls
    // written as RESP3's and INFO's text as a verbatim string (resp/resp3.h), which is what Redis
    // answers in RESP3 to the commands such a backend has.
    virtual void sendResp3(uint64_t client_id, std::string_view raw, ReplySink* sink);
    // Sends a command about one of this backend's connections (CLIENT UNBLOCK) to the server that
    // connection is on: `node`, in a cluster; a one-server backend has only the one.
    virtual void sendToNode(const config::Endpoint& node, uint64_t client_id, std::string_view raw, ReplySink* sink) {
        (void)node;
        send(client_id, raw, sink);
    }
    // Sends one command on a connection of its own, opened for it and closed once it is answered,
    // whose handshake is AUTH alone (Redis answers AUTH while a script runs; SELECT and CLIENT ID
    // it refuses with -BUSY): SCRIPT KILL and FUNCTION KILL, which must not wait behind the very
    // script they stop on a shared connection. The reply is awaited up to `busy_timeout` (Redis
    // reads other clients only once a script has run busy-reply-threshold). Default: send().
    virtual void sendAside(std::string_view raw, ReplySink* sink) { send(0, raw, sink); }
    // The keys a canary writes so that it reaches every server of this backend: `base` for one
    // server; one key per server otherwise (a cluster's masters, memcached's servers).
    virtual std::vector<CanaryKey> canaryKeys(const std::string& base) const { return {{base, {}}}; }
    // Dedicated connections (MULTI, blocking, pub/sub, SELECT): Redis and Redis Cluster
    // backends have them. Null for the others.
    virtual DedicatedPool* dedicated() { return nullptr; }
    // CLIENT TRACKING's change feeds (net/change_feed.h): one RESP3 connection to each server that
    // holds this backend's data, for the feed to send CLIENT TRACKING ON BCAST on, and given back
    // with closeChangeFeed(). changeFeedServers() names those servers ("" while none is known, as
    // a cluster before its first slot map): when it changes, the feeds are opened again. Default:
    // none (memcached has no tracking).
    virtual std::vector<std::shared_ptr<DedicatedConnection>> openChangeFeeds() { return {}; }
    virtual void closeChangeFeed(std::shared_ptr<DedicatedConnection> conn) { (void)conn; }
    virtual std::string changeFeedServers() const { return {}; }
    virtual bool anyUp() const = 0;
    // Nothing sent is still unanswered (a reload may then drop it).
    virtual bool idle() const = 0;
    // Publishes this thread's recent p99 latency into the shared health cell.
    virtual void publishLatency(size_t thread_index) = 0;
    // Logs the summary of the backend's up/down transitions that the flap damper held back, once
    // it is due (HealthCell::logDue). The I/O threads call it every 250 ms.
    virtual void flushHealthLog() {}

protected:
    config::BackendConfig cfg_;
};

// A sink for replies nobody reads (ASKING's, a stand-in command's): shared, stateless.
ReplySink& discardSink();

// The fixed error texts laminar answers with when a backend cannot (RESP error lines, with CRLF).
std::string unavailableError(std::string_view backend, std::string_view why);
std::string timeoutError(std::string_view backend, long long ms);
// What waiting commands get once the server has been busy running a script (it answers -BUSY) for
// `ms` with no reply for them: they may still run when the script ends.
std::string busyError(std::string_view backend, long long ms);
// Whether a reply laminar made for a failed command (`failed`) is timeoutError()'s.
bool isTimeoutError(std::string_view raw);
// Whether an error says the backend is away for now rather than that it refused the command:
// laminar's unavailableError() or timeoutError(), or a server's LOADING, BUSY, MASTERDOWN,
// TRYAGAIN or CLUSTERDOWN. The same command sent later may succeed.
bool isTransientError(std::string_view raw);
// Whether an error reply is laminar's own rather than a backend's: every error laminar writes
// reads "-CODE laminar: ...".
bool isLaminarError(std::string_view raw);

}  // namespace laminar::backend

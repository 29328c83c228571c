// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>  // before Asio: 1.74 forgets it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/config.h"
#include "io/buffer.h"
#include "io/poller.h"
#include "io/tls.h"
#include "resp/reply_scanner.h"

namespace laminar::backend {

// One TCP connection to a Redis server, pipelined: commands are appended to an output buffer and
// written together once per event-loop turn; replies are framed (never decoded) and handed to the
// sinks in the order the commands were sent.
//
//   send(cmd, sink) -> out_ --(one write per turn)--> redis --> in_ -> ReplyScanner -> pending_.front()
//
// Contract:
//  1. Commands sent before the connection is up wait in the output buffer; the handshake (AUTH,
//     SELECT db) goes first. When the connect, the handshake or a later read/write fails, every
//     waiting sink gets unavailableError() at once, and the connection is `down` until the next
//     attempt; commands sent while down fail at once with the same error (no hang).
//  2. Shared connections reconnect by themselves with a backoff (100 ms doubling to 2 s);
//     dedicated ones (pinned to one client) do not: down is final.
//  3. When nothing has been received for `timeout` while a reply is owed (since the oldest pending
//     command was sent, or since the last byte came if later), every pending command fails with
//     timeoutError() and the connection is closed, since later replies could no longer be
//     matched. A server still streaming replies is making progress, however long the queue.
//     Commands sent with `blocking` (BLPOP 0...) are exempt while they are the oldest pending.
//  4. With a relay set, RESP3 pushes ('>' replies), or every reply when relay_all, go to the relay
//     instead of the pending FIFO: pub/sub on a pinned connection.
//  5. With `tls` configured, the TLS handshake (certificate and name verified) is part of the
//     connect: it must finish within connect_timeout, and its failure is the connection's error.
//  6. Sinks may be called synchronously from send() (when down) and must not destroy this
//     connection from inside complete().
//  7. A shared connection sends a PING first on every connect and whenever it has been quiet for
//     a second; after a failure it is healthy() (and reported up) only once Redis answers one. A
//     stopped server whose kernel still accepts connects is thus down, not up (/readyz). A PING
//     that is all that waits, unanswered for `timeout`, reports the connection down without
//     closing it: when the stall ends the answer comes and it is up again, with no reconnect.
//     A probe answered -BUSY (another connection's script runs) counts as an answer.
//  8. Before a command overdue by `timeout` fails (contract 3), the server is asked on a bare
//     connection of its own (AUTH alone, then PING): a server running a script (Redis runs them
//     to the end, reading nothing more from their connection) is alive, not stalled.
//     -BUSY: the commands keep waiting, until a reply comes or nothing has come for
//       `busy_timeout` (then they fail with busyError() and the connection is reopened); a shared
//       connection answers commands sent meanwhile with that -BUSY at once, as Redis answers its
//       other clients; the question is asked again every `timeout`.
//     any other answer: the server is free and this connection is stuck: if nothing comes within
//       `timeout` more, it fails with timeoutError().
//     no answer (the probe's own connect_timeout and timeout), or a failed connect: it fails
//       with timeoutError() at once (a stopped server: within about twice `timeout`).
//     Anything received on the connection ends the stall. Bare connections do not ask.
//  9. One connection reads at most 256 KB (kTurnBudget) in one event-loop turn, then yields to the
//     thread's other sockets and reads on in a later turn: a server streaming big replies does
//     not hold the thread. A paced connection (a bulk lane's) reads on only 1 ms later, so at
//     most 256 MB/s.
class RedisConnection final : public std::enable_shared_from_this<RedisConnection>, public io::Poller::Handler, public DedicatedConnection {
public:
    // Told about state changes and reply latencies (the backend's per-thread pool).
    class Observer {
    public:
        // Up, or down (`error` says why).
        virtual void connectionChanged(std::string_view error) = 0;
        virtual void replyLatency(uint32_t micros) = 0;
        virtual void commandFailed() = 0;

    protected:
        ~Observer() = default;
    };

    enum class State { kIdle, kConnecting, kReady, kDown };

    // A dedicated connection to a Redis Cluster knows its node only from the first command that
    // names a key (or any command but MULTI): the router says where each command must go.
    struct Target {
        std::string error;      // a reply to give instead of sending (CROSSSLOT, no slot map...)
        config::Endpoint to;    // the master of the command's slot (any master when keyless)
        bool keyless = false;
        bool multi = false;     // MULTI: answered at once and replayed once the node is known
        bool wait = false;      // no slot map yet: the command is held until routeWaiting()
    };
    using Router = std::function<Target(std::string_view raw)>;
    // With a router: sees each error reply of the node the connection is held on, and returns what
    // the client gets instead (empty: the reply as it is). A held connection cannot follow -MOVED
    // or -ASK without losing its transaction, so the router's owner says so, and updates its map.
    using Redirected = std::function<std::string(std::string_view error, const config::Endpoint& held_on)>;

    RedisConnection(boost::asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, bool dedicated);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Starts connecting if never connected (shared connections connect at start, not on first use).
    void start() {
        if (state_ == State::kIdle && !closed_) connect();
    }
    void send(std::string_view raw, ReplySink* sink, bool blocking = false) override;
    // A command whose replies all go to the relay (pub/sub): nothing waits for them in order, and
    // no timeout applies.
    void sendRelayed(std::string_view raw) override;
    void setObserver(Observer* o) { observer_ = o; }
    // A connection for one command aside the shared ones (Backend::sendAside, contract 8's probe):
    // its handshake is AUTH alone, which Redis answers while a script runs. Before start().
    void setBare() { bare_ = true; }
    // A bulk lane's connection (RedisBackend::sendBulk): after each read budget it waits
    // (contract 9), so its stream leaves the thread, and the server, idle time. Before start().
    void setPaced() { paced_ = true; }
    // RESP3: its handshake sends HELLO 3 (after AUTH), so every reply on it is RESP3. A push
    // ('>') that no relay takes is dropped: it answers no command. Before start().
    void setResp3() { resp3_ = true; }
    bool resp3() const { return resp3_; }
    // Before the first send, on a dedicated connection that was not started.
    void setRouter(Router router, Redirected redirected) {
        router_ = std::move(router);
        redirected_ = std::move(redirected);
    }
    void setRelay(ReplySink* relay, bool relay_all) override {
        relay_ = relay;
        relay_all_ = relay_all;
    }
    // Closes the socket now; pending sinks (and commands held for a route) get an error.
    void close(std::string_view why) override;
    // Commands the router could not place yet (Target::wait), held in order. The owner calls
    // routeWaiting() once it can route them, and expireWaiting() to answer those held since before
    // `cutoff` with `error`.
    bool waitingForRoute() const { return !held_.empty(); }
    void routeWaiting();
    void expireWaiting(std::chrono::steady_clock::time_point cutoff, std::string_view error);

    State state() const { return state_; }
    bool down() const { return state_ == State::kDown; }
    // Not down, and (a shared connection) Redis answered its probe since it last failed: a
    // connection the kernel accepted for a stopped server is not healthy.
    bool healthy() const { return state_ != State::kDown && answered_; }
    size_t pendingCount() const { return pending_.size(); }
    const std::string& name() const { return cfg_.name; }
    // The backend's CLIENT ID for this connection (dedicated connections ask for it) and its
    // server, for other threads to read (CLIENT UNBLOCK from a client on another thread).
    std::shared_ptr<const ServerIdentity> serverIdentity() const override { return identity_; }

private:
    struct Pending {
        ReplySink* sink;  // nullptr: a handshake reply laminar reads itself
        std::chrono::steady_clock::time_point sent;
        bool blocking;
        bool client_id;   // the handshake's CLIENT ID
        bool probe;       // a shared connection's PING (on connect, and when quiet)
    };
    struct Held {
        std::string raw;
        ReplySink* sink;  // nullptr: sent by sendRelayed
        bool blocking;
        std::chrono::steady_clock::time_point since;
    };

    void connect();
    void connectTo(const boost::asio::ip::tcp::endpoint& endpoint);
    void onConnected();
    void continueHandshake();
    void onReady();
    void scheduleFlush();
    // readAll() again in a later turn: this turn's read budget is spent.
    void scheduleRead();
    void flush();
    void onEvents(uint32_t events) override;
    void readAll();
    void dispatchReplies();
    void closeSocket();
    void dispatch(std::string_view reply, char type);
    // `error`: what pending commands get (default: unavailableError() with `why`).
    void fail(std::string why, std::string error = {});
    void armWatchdog();
    void onWatchdog();
    void appendHandshake();
    void appendProbe();
    void armProbe();
    // Contract 8: asks the server on a bare connection whether it is busy; its answer comes to
    // onAsideAnswer() unless the stall ends first (endStall()).
    void probeAside();
    void onAsideAnswer(uint64_t token, std::string_view reply, bool failed);
    void endStall();
    // With a router: false when the command was answered here instead of sent.
    // A refused command on a node already chosen is swapped for one Redis refuses (so a MULTI
    // around it fails at EXEC) with a sink that answers laminar's error.
    // A command the router cannot place yet is held (false, as answered).
    bool route(std::string_view& raw, ReplySink*& sink, bool blocking);
    void hold(std::string_view raw, ReplySink* sink, bool blocking);
    // send() and sendRelayed() once nothing is held before the command.
    void sendInOrder(std::string_view raw, ReplySink* sink, bool blocking);
    void relayInOrder(std::string_view raw);
    void retarget(const config::Endpoint& to);
    // Why the last read or write failed: the TLS layer's reason, or errno's.
    std::string ioError() const;

    boost::asio::io_context& ioc_;
    io::Poller& poller_;
    config::BackendConfig cfg_;  // address and name change once, when a router picks the node
    const bool dedicated_;
    boost::asio::ip::tcp::socket socket_;  // while connecting; then the poller drives fd_
    int fd_ = -1;
    std::shared_ptr<io::TlsContext> tls_ctx_;  // with tls configured
    std::string tls_error_;                     // why tls_ctx_ could not be built
    std::unique_ptr<io::TlsChannel> tls_;      // the connected socket's TLS, while fd_ is open
    boost::asio::steady_timer timer_;     // connect timeout, then the reply watchdog
    boost::asio::ip::tcp::resolver resolver_;  // for a backend given by host name
    boost::asio::steady_timer retry_;     // reconnect backoff
    boost::asio::steady_timer probe_timer_;  // shared connections: a PING when quiet
    boost::asio::steady_timer read_timer_;   // paced: the next read
    State state_ = State::kIdle;
    std::string out_;    // commands not yet written: [out_off_, size)
    size_t out_off_ = 0;
    bool flush_posted_ = false;
    bool read_posted_ = false;
    bool paced_ = false;
    bool maybe_readable_ = true;  // the last read may have left bytes in the socket
    bool peer_closed_ = false;    // the server closed its side: read to the end, not to a short read
    bool answered_ = true;        // Redis answered since the last failure (optimistic at start)
    std::chrono::steady_clock::time_point last_received_;  // the last read that returned bytes
    bool watchdog_armed_ = false;
    bool closed_ = false;  // close() was called: never reconnect
    io::Buffer in_{16 * 1024};
    resp::ReplyScanner scanner_;
    std::deque<Pending> pending_;
    ReplySink* relay_ = nullptr;
    Observer* observer_ = nullptr;
    bool relay_all_ = false;
    std::chrono::milliseconds backoff_{100};
    std::string last_error_;
    std::shared_ptr<ServerIdentity> identity_ = std::make_shared<ServerIdentity>();
    uint64_t generation_ = 0;  // bumps on every (re)connect; stale handlers check it
    Router router_;
    Redirected redirected_;
    bool targeted_ = false;        // the router picked the node
    bool deferred_multi_ = false;  // MULTI answered, to send before the first routed command
    bool multi_refused_ = false;   // a command was refused inside that MULTI: EXEC must fail
    std::deque<Held> held_;        // waiting for the router to know a route, in arrival order
    bool bare_ = false;
    bool resp3_ = false;
    // Contract 8. kBusy: the server answered -BUSY at stall_mark_; kFree: it answered something
    // else at stall_mark_.
    enum class Stall : uint8_t { kNone, kBusy, kFree };
    Stall stall_ = Stall::kNone;
    std::chrono::steady_clock::time_point stall_mark_;
    std::shared_ptr<RedisConnection> aside_;  // the probe's connection, while it is asked
    uint64_t aside_token_ = 0;                // bumps when a stall ends: a late answer is ignored
    std::string busy_reply_;                  // the server's -BUSY line, for commands sent meanwhile
};

}  // namespace laminar::backend

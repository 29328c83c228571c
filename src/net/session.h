// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "obs/thread_metrics.h"
#include "backend/backend.h"
#include "io/buffer.h"
#include "io/poller.h"
#include "io/tls.h"
#include "policy/snapshot.h"
#include "policy/strategy.h"
#include "resp/command_table.h"
#include "resp/request_parser.h"

namespace laminar::net {

class Worker;

// One client connection. The request/response flow:
//
//   socket -> in_ -> RequestParser -> command table -> local command | route -> strategy
//                                                                             -> backend send(raw, slot)
//   slot.complete(reply) -> in-order reply queue (slots_) -> out_ -> one write per event-loop turn
//
// Commands of one client may complete out of order (different backends, local replies); slots_
// holds one entry per command in arrival order and releases replies strictly in that order.
//
// Per-client state without giving up multiplexing: a client that enters a stateful mode (MULTI,
// WATCH, a blocking command, (P|S)SUBSCRIBE, SELECT of another db) is pinned to a dedicated
// backend connection until the state ends, then returns to the shared connection. HELLO 3 does
// not pin: a RESP3 client's commands take the backends' RESP3 lane (Backend::sendResp3).
// Before switching connection the client's in-flight commands drain, so no command overtakes an
// earlier one. CLIENT REPLY, CLIENT SETNAME and AUTH are handled by laminar itself.
//
// Big replies: a client whose recent replies are big (kBulkReply) sends on its backends' bulk
// lane, other connections than the other clients', so its replies do not stand ahead of their
// commands; it changes lanes only with nothing in flight.
//
// Lifetime: owned by its Worker. It is destroyed only when it is closed, no socket operation is
// outstanding, and no slot waits on a backend: a backend always completes what it was sent.
class Session final : public policy::Dispatch, public io::Poller::Handler {
public:
    // Takes ownership of the connected socket `fd`; with `tls`, the client speaks TLS on it and
    // nothing is read before its handshake is done.
    Session(Worker& worker, int fd, uint64_t id, std::string addr, std::string laddr, std::shared_ptr<io::TlsContext> tls = nullptr);
    ~Session();

    void start();
    // The worker installed a new configuration in place of `before` (see the .cpp for what a
    // pinned client meets).
    void afterReload(const policy::Snapshot& before);
    // Graceful stop: read no more; close once every reply is written.
    void shutdown();
    void close();
    void flushOut();
    bool closed() const { return closed_; }
    bool idleSince(std::chrono::steady_clock::time_point t) const;
    // Still in its TLS handshake, begun before `t`.
    bool handshakingSince(std::chrono::steady_clock::time_point t) const { return handshaking_ && last_active_ < t; }
    uint64_t id() const { return id_; }
    std::list<std::unique_ptr<Session>>::iterator self_;
    bool dirty_ = false;
    void maybeDestroy();
    // Gives back what an idle connection does not need (its read and write buffers, its reply
    // queue, the parser's scratch) once nothing happened since `cutoff` and nothing is unread,
    // unanswered or unwritten; its next bytes take them again. The sweep calls it.
    void releaseIdleMemory(std::chrono::steady_clock::time_point cutoff);
    bool holdsMemory() const;

    // Commands laminar answers (or must see) itself; everything else is routed to a backend.
    enum class Local { kNone, kPing, kEcho, kQuit, kAuth, kHello, kSelect, kClient, kInfo, kReset, kMulti, kExec,
                       kDiscard, kWatch, kUnwatch, kSubscribe, kUnsubscribe };

    // Poller::Handler
    void onEvents(uint32_t events) override;

    // policy::Dispatch
    void send(int backend, std::string_view raw, backend::ReplySink* sink) override;

    // CLIENT TRACKING: an invalidation for this client (it is the tracking client or its REDIRECT
    // target): `keys`, or the whole cache when null. A RESP3 client gets a push, a RESP2 client
    // subscribed (REDIRECT's target) a message on __redis__:invalidate; any other gets nothing,
    // as from Redis. It comes after the replies of the commands sent before it.
    void invalidate(const std::vector<std::string>* keys);
    // Its REDIRECT target `target` left: TRACKINGINFO says broken_redirect, and a RESP3 client is
    // sent Redis's tracking-redir-broken push.
    void redirectBroken(uint64_t target);

private:
    // kExecAbort: the DISCARD sent in place of EXEC for a transaction laminar refused a command
    // of; the client gets Redis's EXECABORT. kExec: an EXEC whose array laminar completes (see
    // TxEntry).
    enum class SlotKind : uint8_t { kPlain, kInfo, kSelect, kHello3, kHello2, kBlocking, kExecAbort, kExec };

    // Inside MULTI, what laminar has to do at EXEC, at the place `index` among the transaction's
    // queued commands: kLocal runs a command laminar answers itself (AUTH, CLIENT SETNAME, INFO
    // laminar, LAMINAR ...) as Redis runs it, at EXEC, in order, its reply put in EXEC's array
    // between the backend's; the others are the backend's replies to a queued command laminar
    // must see (INFO gets laminar's sections, SELECT and HELLO change what laminar knows of the
    // connection).
    struct TxEntry {
        enum class Kind : uint8_t { kLocal, kInfo, kSelect, kHello };
        size_t index = 0;
        Kind kind = Kind::kLocal;
        std::vector<std::string> argv;  // kLocal, kHello: the command
        std::string answer;             // kLocal: its reply, decided when queued (HELLO's errors)
        long long arg = 0;              // kSelect: the db; kHello: the protocol
        static TxEntry at(size_t index, Kind kind, long long arg = 0) {
            TxEntry e;
            e.index = index;
            e.kind = kind;
            e.arg = arg;
            return e;
        }
    };
    struct Transaction {
        std::vector<TxEntry> entries;
        size_t queued = 0;  // commands in it, laminar's and the backend's
    };

    // Keys written on the dedicated connection, for the route's strategy to catch up on.
    struct PinnedWrites {
        std::shared_ptr<const policy::Snapshot> snapshot;
        std::vector<std::pair<const policy::Route*, std::string>> writes;
    };

    // Keys a write changes: CLIENT TRACKING's clients are told once it is answered.
    struct Changes {
        std::vector<std::string> keys;
        bool all = false;  // FLUSHALL, FLUSHDB
    };

    struct Slot final : backend::ReplySink {
        Session* session = nullptr;
        std::string data;
        bool done = false;
        bool suppress = false;  // CLIENT REPLY OFF/SKIP
        bool pinned = false;    // sent on the dedicated connection
        obs::RouteCounters* route = nullptr;  // where its errors count
        SlotKind kind = SlotKind::kPlain;
        long long arg = 0;
        std::unique_ptr<PinnedWrites> writes;
        std::unique_ptr<Transaction> tx;  // kExec
        std::unique_ptr<Changes> changes;  // while some client tracks: what it writes
        void complete(std::string_view raw, bool failed) override { session->onReply(*this, raw, failed); }
    };

    // The reply queue, made at the first command and given back when idle: a std::deque holds a
    // map and a 512-byte block even when empty.
    class SlotQueue {
    public:
        bool empty() const { return !q_ || q_->empty(); }
        Slot& front() { return q_->front(); }
        void pop_front() { q_->pop_front(); }
        Slot& emplace_back() {
            if (!q_) q_.emplace();
            return q_->emplace_back();
        }
        void release() {
            if (empty()) q_.reset();
        }
        bool holdsMemory() const { return q_.has_value(); }

    private:
        std::optional<std::deque<Slot>> q_;
    };

    struct Relay final : backend::ReplySink {
        Session* session = nullptr;
        void complete(std::string_view raw, bool failed) override { session->onRelay(raw, failed); }
    };

    enum class Outcome { kDone, kPause, kStop };
    enum class ReplyMode { kOn, kOff, kSkip };

    void readMore();
    void onReadError();
    void processInput();
    Outcome handle(std::span<const std::string_view> argv, std::string_view raw);
    // Once per command handled (not paused): the totals, and its route's count when it has one.
    void countCommand();
    // This thread's counters of `route`, one of the routes of this thread's snapshot.
    obs::RouteCounters& routeCounters(const policy::Route& route);
    Outcome forward(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw);
    Outcome relaySend(Local local, std::string_view raw);
    Outcome toEveryBackend(std::string_view raw);
    // SCRIPT KILL / FUNCTION KILL: to every backend `route` reaches (a script started through a
    // strategy that writes two sides may run on either), each on a connection of its own, since
    // the shared one may be held by the very script it stops. One reply: +OK when any backend
    // killed a script, else the first other answer (UNKILLABLE, BUSY of the other kind, a
    // failure), else Redis's NOTBUSY.
    Outcome killScripts(const policy::Route& route, const policy::Request& req);
    // SCRIPT LOAD: to every Redis backend as well, in the background (the client gets its route's reply).
    void loadScriptEverywhere(std::string_view raw);
    Outcome splitMultiKey(const resp::CommandInfo& cmd, std::span<const std::string_view> argv);
    static bool splittable(const resp::CommandInfo& cmd);
    policy::Context context(const policy::Route& route);
    // Users (client.users): the named user in the current configuration (null for the default
    // user, or one a reload removed); whether it may run admin commands; whether it may run `cmd`
    // on `route`, else replies NOPERM and returns true.
    const config::UserConfig* user() const;
    bool isAdmin() const;
    // `argv`: for commands that reach keys they do not name (scripts, SORT patterns, listings),
    // which need the user's right on every route of their backend.
    bool denied(const policy::Route& route, const resp::CommandInfo& cmd, std::span<const std::string_view> argv);
    // The user `name` with `password` (name "default": client.password) is, or nullopt; "" for
    // the default user.
    std::optional<std::string> credentials(std::string_view name, std::string_view password) const;
    // Authenticates as credentials() finds, or returns false.
    bool authenticate(std::string_view name, std::string_view password);
    bool barrierOpen(const policy::Route& route);
    Outcome waitForBarrier();

    Slot& newSlot();
    void reply(std::string_view raw);       // a local reply, in order
    void replyError(std::string_view msg, obs::ErrorKind kind = obs::ErrorKind::kCommand);  // "-msg\r\n"
    void onReply(Slot& slot, std::string_view raw, bool failed);
    void onRelay(std::string_view raw, bool failed);
    void relayed(std::string_view raw, bool failed);
    void appendOut(std::string_view bytes);
    void startWrite();
    void requestFlush();
    void postResume();
    void resume();
    void finishIfDone();
    bool paused() const;
    // How many commands may be in flight now (see kInflightReplyBytes in the .cpp), and the reply
    // sizes it follows.
    size_t window() const { return window_; }
    void noteReplySize(size_t n);

    // A client state that needs a dedicated connection, on a backend that has none: replies an error.
    bool refusePin(int backend, std::string_view what);
    // Pins to `backend`; a MULTI held until now is opened there first (see transactionCommand).
    bool pin(int backend);
    // MULTI, EXEC, DISCARD, WATCH and what is queued before a transaction has a backend; nullopt:
    // the command takes its usual way.
    std::optional<Outcome> transactionCommand(Local local, std::span<const std::string_view> argv, std::string_view raw);
    bool canHoldTransaction();
    void endHeldTransaction();
    void unpinIfClean();
    bool stateClean() const;
    void releasePin(bool clean);
    // Empty when the pin stays valid under the configuration just installed (its backend index is
    // then updated); else why not.
    std::string pinOutlivesReload(const policy::Snapshot& before);

    // local commands
    Outcome cmdAuth(std::span<const std::string_view> argv);
    Outcome cmdHello(std::span<const std::string_view> argv, std::string_view raw);
    // HELLO's AUTH and SETNAME, whose arguments are already checked.
    void applyHello(std::span<const std::string_view> argv);
    // HELLO's reply when laminar answers it (a catch-all on memcached, which has no HELLO).
    std::string helloReply(long long proto) const;
    // A text reply (INFO, CLIENT INFO, CLIENT LIST): a bulk string, a verbatim one in RESP3.
    std::string text(std::string_view body) const;
    Outcome cmdSelect(std::span<const std::string_view> argv, std::string_view raw);
    Outcome cmdClient(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw);
    void unblockOnceKnown(uint64_t target, std::string reason, Slot* slot, std::chrono::steady_clock::time_point deadline);
    Outcome cmdInfo(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw);
    Outcome cmdReset();
    Outcome cmdLaminar(std::span<const std::string_view> argv);
    // Inside MULTI: whether laminar answers `argv` itself, so it is queued here and run at EXEC.
    bool runsAtExec(Local local, std::span<const std::string_view> argv) const;
    Outcome queueForExec(std::span<const std::string_view> argv);
    // Inside MULTI: +QUEUED, and `answer` is the command's element of EXEC's array.
    Outcome answerAtExec(std::string answer);
    // Runs a command queued by queueForExec as it runs outside MULTI, and returns its reply.
    std::string runQueued(const TxEntry& entry);
    // EXEC's array with laminar's part of the transaction put in: the backend's reply `raw` to
    // EXEC (unchanged unless it is the array of a transaction that ran).
    std::string completeExec(std::string_view raw, const Transaction& tx);
    void noteSelected(long long db);
    // CLIENT TRACKING, TRACKINGINFO, GETREDIR, CACHING (session_tracking.cpp).
    Outcome cmdTracking(std::span<const std::string_view> argv);
    Outcome cmdTrackingInfo();
    Outcome cmdCaching(std::span<const std::string_view> argv);
    // A tracking client's command: the keys it reads are remembered.
    void trackRead(const resp::CommandInfo& cmd, std::span<const std::string_view> argv);
    // While some client tracks, a write's keys go with its slot (inside MULTI: with EXEC's).
    void noteChanges(Slot& slot, const resp::CommandInfo& cmd, std::span<const std::string_view> argv);
    void announceChanges(const Changes& changes);
    // Bytes no command asked for (an invalidation), after the replies of what was sent before.
    void push(std::string_view bytes);
    std::string clientInfoLine() const;
    std::string transformInfo(std::string_view backend_reply) const;
    void continueHandshake();

    Worker& worker_;
    int fd_;
    std::unique_ptr<io::TlsChannel> tls_;  // a TLS client
    bool handshaking_ = false;
    const uint64_t id_;
    std::string addr_, laddr_;
    io::Buffer in_{16 * 1024};
    resp::RequestParser parser_;
    std::vector<int> keys_;   // scratch: key indices of the command being routed
    std::string scratch_;     // scratch: re-serialised inline commands
    std::string* capture_ = nullptr;  // set by runQueued: local replies go here, not to the client
    std::string out_;         // replies not yet written: [out_off_, size)
    size_t out_off_ = 0;
    SlotQueue slots_;
    SlotKind next_kind_ = SlotKind::kPlain;  // the kind newSlot() gives the next slot
    // The route the command being handled went to (nullptr: none, or not yet), and its class.
    obs::RouteCounters* routed_ = nullptr;
    obs::CommandClass routed_class_ = obs::CommandClass::kOther;
    size_t inflight_ = 0;     // slots waiting on a backend
    bool closed_ = false, closing_ = false, in_process_ = false;
    bool resume_posted_ = false;
    bool maybe_readable_ = true;  // the last read may have left bytes in the socket
    bool peer_closed_ = false;    // FIN (or worse) seen: read to the end, not to a short read
    bool peer_gone_ = false;      // reset or socket error: no reply can reach the client
    size_t avg_reply_ = 0;        // recent reply size (0: none yet), for window()
    size_t window_ = 0;           // set from avg_reply_ (kInitialWindow before the first reply)
    bool bulk_ = false;           // sends on the backends' bulk lane (see kBulkReply)
    bool want_bulk_ = false;      // set from avg_reply_; bulk_ follows once nothing is in flight
    bool drain_wait_ = false;    // paused until every in-flight command is answered
    bool barrier_wait_ = false;  // paused on a route's flip barrier
    bool barrier_timer_ = false; // a barrier re-check is scheduled
    bool pinned_failed_ = false; // the dedicated connection died: close after the errors
    int guard_ = 0;              // >0 while inside a method that must not see this destroyed
    friend struct Guard;
    std::chrono::steady_clock::time_point last_active_;

    // client state
    bool authed_ = false;
    std::string user_;  // the named user (client.users) it authenticated as; empty: the default user
    ReplyMode reply_mode_ = ReplyMode::kOn;
    std::string name_;
    int selected_db_ = -1; // -1: the backend's configured db
    bool resp3_ = false;
    bool in_multi_ = false, watching_ = false;
    // Inside MULTI, laminar refused a command (unknown, arity, admin, routing...): Redis would have
    // flagged the transaction, so EXEC discards it.
    bool multi_refused_ = false;
    // MULTI answered, no backend yet: it is sent, with what was queued since (held_), to the
    // backend of the transaction's first command that has one.
    bool multi_held_ = false;
    struct Held {
        std::string raw;    // sent inside the MULTI once it has a backend
        std::string reply;  // its element of EXEC's array if it never gets one
    };
    std::vector<Held> held_;
    Transaction tx_;  // the open transaction's queued commands and what laminar owes at EXEC
    int blocked_ = 0;      // blocking commands in flight
    bool relay_mode_ = false;     // RESP2 pub/sub: every backend reply is relayed as it comes
    bool waiting_marker_ = false; // paused until the unsubscribe check comes back
    long long subs_ = 0, shard_subs_ = 0;
    // RESP3 pub/sub went on the pin: it stays pinned until RESET (the pushes that say whether
    // it is still subscribed can come after the replies of later commands).
    bool pushes_ = false;

    // the dedicated backend connection while pinned
    std::shared_ptr<backend::DedicatedConnection> pinned_;
    std::shared_ptr<backend::Backend> pinned_owner_;  // survives a reload that drops it
    int pinned_backend_ = -1;
    bool pinned_resp3_ = false;  // the dedicated connection was opened in RESP3: its clean state
    size_t pinned_inflight_ = 0;
    Relay relay_;
    std::unique_ptr<PinnedWrites> pinned_writes_;  // inside MULTI: attached to EXEC's slot

    // CLIENT TRACKING's state; null while off.
    struct Tracking {
        enum class Caching : uint8_t { kUnset, kYes, kNo };
        bool bcast = false, optin = false, optout = false, noloop = false, broken = false;
        uint64_t redirect = 0;
        std::vector<std::string> prefixes;  // sorted
        Caching caching = Caching::kUnset;  // CLIENT CACHING: for the next command (or transaction)
    };
    std::unique_ptr<Tracking> tracking_;
    std::vector<std::string> tx_changes_;  // inside MULTI: the keys its writes change
};

}  // namespace laminar::net

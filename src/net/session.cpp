// SPDX-License-Identifier: Apache-2.0
#include "net/session.h"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "io/memory.h"
#include "io/socket_io.h"
#include "net/client_registry.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "net/session_internal.h"
#include "net/worker.h"
#include "policy/clock.h"
#include "policy/owned_command.h"
#include "policy/write_queue.h"
#include "resp/reply_view.h"
#include "resp/resp3.h"

namespace laminar::net {
namespace asio = boost::asio;
using boost::system::error_code;

Session::Session(Worker& worker, int fd, uint64_t id, std::string addr, std::string laddr, std::shared_ptr<io::TlsContext> tls)
    : worker_(worker), fd_(fd), id_(id), addr_(std::move(addr)), laddr_(std::move(laddr)) {
    if (tls) {
        tls_ = std::make_unique<io::TlsChannel>(std::move(tls), fd_);
        handshaking_ = true;
    }
    relay_.session = this;
    window_ = kInitialWindow;
    const auto& cfg = worker_.snapshot()->config();
    parser_ = resp::RequestParser(resp::RequestLimits{.max_bulk = cfg.client.max_bulk});
    authed_ = !cfg.client.password.has_value() && cfg.client.users.empty();
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    last_active_ = std::chrono::steady_clock::now();
}

Session::~Session() {
    tls_.reset();
    if (fd_ >= 0) ::close(fd_);
}

void Session::start() {
    int flags = ::fcntl(fd_, F_GETFL, 0);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    if (!worker_.poller().add(fd_, this)) {
        close();
        maybeDestroy();
        return;
    }
    if (handshaking_) continueHandshake();
    else readMore();
    maybeDestroy();
}

void Session::continueHandshake() {
    switch (tls_->handshake()) {
        case io::IoStatus::kDone:
            handshaking_ = false;
            sessionLog()->debug("client {} {}: {} handshake done", id_, addr_, tls_->version());
            readMore();
            return;
        case io::IoStatus::kWouldBlock:
            return;
        default:
            // A client that does not speak TLS, or does not trust laminar's certificate, or whose
            // own certificate is refused: nothing to answer in RESP, since it would not be read.
            sessionLog()->info("client {} {} closed: {}", id_, addr_, tls_->error());
            worker_.stats().tls_handshake_failures.add();
            close();
            return;
    }
}

void Session::onEvents(uint32_t events) {
    {
        Guard guard(*this);
        // Edge-triggered: this may be the last event for the socket. A FIN that came with the
        // last bytes must still be read (else the socket stays in CLOSE-WAIT); a reset or error
        // means nobody will read a reply.
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed_ = true;
        if (events & (EPOLLHUP | EPOLLERR)) peer_gone_ = true;
        if (handshaking_) {
            continueHandshake();
            if (peer_gone_ && handshaking_) close();
        } else {
            if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) maybe_readable_ = true;
            // A TLS read may wait for a write and the other way round: with TLS, retry both.
            if ((events & EPOLLOUT) || tls_) startWrite();
            readMore();
        }
    }
    maybeDestroy();
}

// Rises at once to a bigger reply (so a switch to big values shrinks the window before many are
// sent), decays slowly. The window is recomputed here, not on every paused() check.
void Session::noteReplySize(size_t n) {
    n = std::max<size_t>(n, 1);
    size_t before = avg_reply_;
    if (avg_reply_ == 0 || n >= avg_reply_) avg_reply_ = n;
    else avg_reply_ -= (avg_reply_ - n) / 16;
    if (avg_reply_ == before) return;
    window_ = std::clamp<size_t>(kInflightReplyBytes / avg_reply_, kMinWindow, kMaxInflight);
    if (avg_reply_ >= kBulkReply) want_bulk_ = true;
    else if (avg_reply_ < kBulkReply / 4) want_bulk_ = false;
}

bool Session::paused() const { return drain_wait_ || waiting_marker_ || barrier_wait_ || inflight_ >= window(); }

// Reads until the socket is empty (a read returned fewer bytes than asked for, or the end once the
// peer closed its side), then waits for the next edge from the poller. When reading pauses (too
// many commands in flight, a drain before pinning), maybe_readable_ stays set so the resumed read
// does not wait for an edge that passed.
void Session::readMore() {
    if (closed_) return;
    if (peer_gone_ && paused() && !closing_) {
        // Reset or failed while paused: the replies could not be delivered, so what it had not
        // had sent is not sent (as Redis drops a client whose socket fails, unread input and all).
        close();
        return;
    }
    while (maybe_readable_ && !closing_ && !paused()) {
        bool drained = false;
        auto st = tls_ ? tls_->recv(in_, kReadChunk / 4, parser_.needed(), drained) : io::recvSome(fd_, in_, kReadChunk / 4, parser_.needed(), drained);
        switch (st) {
            case io::IoStatus::kWouldBlock:
                maybe_readable_ = false;
                in_.release();  // when empty: an idle connection holds no read buffer (a spare of the thread's)
                return;
            case io::IoStatus::kClosed:
            case io::IoStatus::kError:
                onReadError();
                return;
            case io::IoStatus::kDone:
                break;
        }
        maybe_readable_ = !drained || peer_closed_;
        last_active_ = io::Poller::loopTime();
        processInput();
        if (closed_) return;
    }
}

void Session::onReadError() {
    // EOF or reset: the client is gone (or shutdown() stopped reads): what is in flight still
    // completes, then the session is freed.
    if (closing_) finishIfDone();
    else close();
}

void Session::processInput() {
    Guard guard(*this);
    in_process_ = true;
    while (!in_.empty() && !closed_ && !closing_ && !paused()) {
        auto st = parser_.parse(in_.data());
        if (st == resp::ParseStatus::kIncomplete) break;
        if (st == resp::ParseStatus::kError) {
            // As Redis: the error once, then close. Nothing after it is read.
            replyError("ERR " + parser_.error(), obs::ErrorKind::kProtocol);
            closing_ = true;
            sessionLog()->debug("client {} {}: {}", id_, addr_, parser_.error());
            break;
        }
        const auto& argv = parser_.args();
        if (argv.empty()) {
            in_.consume(parser_.consumed());
            continue;
        }
        std::string_view raw = in_.data().substr(0, parser_.consumed());
        if (parser_.isInline()) {
            scratch_.clear();
            resp::appendCommand(scratch_, std::span<const std::string_view>(argv));
            raw = scratch_;
        }
        routed_ = nullptr;
        Outcome out = handle(argv, raw);
        if (out == Outcome::kPause) break;  // re-parsed when resumed: counted then
        countCommand();
        // CLIENT CACHING holds for the command after it (the whole transaction inside MULTI).
        if (tracking_ && tracking_->caching != Tracking::Caching::kUnset && !in_multi_ && !equalsIgnoreCase(argv[0], "CLIENT"))
            tracking_->caching = Tracking::Caching::kUnset;
        in_.consume(parser_.consumed());
        parser_.reset();
        if (parser_.tookFreedLarge()) io::freedLarge();
        if (out == Outcome::kStop) break;
    }
    in_process_ = false;
    // The write queue's records of what was just read go to disk in one write (queued_write).
    if (auto* q = worker_.host().queue()) q->flushBatch();
    if (in_.empty()) in_.release();  // back to the thread's spares, or freed when it grew large
    flushOut();
    if (closing_) finishIfDone();
}

void Session::countCommand() {
    auto& stats = worker_.stats();
    stats.commands.add();
    if (routed_) routed_->countCommand(routed_class_);
}

Session::Outcome Session::handle(std::span<const std::string_view> argv, std::string_view raw) {
    if (equalsIgnoreCase(argv[0], "LAMINAR")) {
        if (!authed_) {
            replyError("NOAUTH Authentication required.", obs::ErrorKind::kAuth);
            return Outcome::kDone;
        }
        if (!isAdmin()) {
            replyError("NOPERM laminar: user '" + user_ + "' has no admin right (LAMINAR commands)", obs::ErrorKind::kAuth);
            return Outcome::kDone;
        }
        if (in_multi_) {
            // A reload answers later, from the main thread: it cannot be one of EXEC's replies.
            if (argv.size() >= 2 && equalsIgnoreCase(argv[1], "RELOAD")) {
                replyError(kNoMultiError);
                return Outcome::kDone;
            }
            return queueForExec(argv);
        }
        return cmdLaminar(argv);
    }
    const resp::CommandInfo* cmd = resp::lookupCommand(argv);
    if (!cmd) {
        std::string msg = "ERR unknown command '" + std::string(argv[0].substr(0, 128)) + "', with args beginning with: ";
        for (size_t i = 1; i < argv.size() && msg.size() < 512; ++i) msg += "'" + std::string(argv[i].substr(0, 128)) + "' ";
        replyError(msg);
        return Outcome::kDone;
    }
    Local local = localKind(*cmd);
    if (!resp::arityOk(*cmd, argv.size())) {
        // Redis answers an EXEC it refuses with EXECABORT, discarding the transaction; one that
        // has a backend gets the backend's own answer.
        if (local == Local::kExec && pinned_) return forward(*cmd, argv, raw);
        if (local == Local::kExec) endHeldTransaction();
        replyError(std::string(local == Local::kExec ? "EXECABORT Transaction discarded because of: " : "ERR ") +
                   "wrong number of arguments for '" + std::string(cmd->name) + "' command");
        return Outcome::kDone;
    }
    if (!authed_ && local != Local::kAuth && local != Local::kHello && local != Local::kQuit) {
        replyError("NOAUTH Authentication required.", obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }
    if (in_multi_ && std::find(kNoMulti.begin(), kNoMulti.end(), cmd->name) != kNoMulti.end()) {
        replyError(kNoMultiError);
        return Outcome::kDone;
    }

    if (relay_mode_) {
        // RESP2 pub/sub: the backend answers everything (including the "only (P|S)SUBSCRIBE /
        // (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed" refusal) and replies are relayed.
        if (local == Local::kQuit) {
            reply("+OK\r\n");
            closing_ = true;
            return Outcome::kStop;
        }
        if (local == Local::kReset) return cmdReset();
        return relaySend(local, raw);
    }

    const auto& cfg = worker_.snapshot()->config();
    if (cmd->has(resp::kNoProxy)) {
        replyError("ERR laminar: '" + std::string(cmd->name) + "' is not supported through the proxy", obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (cmd->has(resp::kAdmin) && !cfg.client.allow_admin) {
        replyError("ERR laminar: '" + std::string(cmd->name) + "' is an admin command; set client.allow_admin: true to pass it to backends",
                   obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (cmd->has(resp::kAdmin) && !isAdmin()) {
        replyError("NOPERM laminar: user '" + user_ + "' has no admin right ('" + std::string(cmd->name) + "' is an admin command)",
                   obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }

    if (in_multi_ || local == Local::kMulti || local == Local::kWatch)
        if (auto out = transactionCommand(local, argv, raw)) return *out;
    if (in_multi_ && runsAtExec(local, argv)) return queueForExec(argv);
    if (in_multi_ && local == Local::kSubscribe) {
        // Redis runs it at EXEC and the connection is subscribed from then on: laminar would take
        // the messages for replies, and pool the connection subscribed. Refused, so EXEC aborts.
        replyError("ERR laminar: '" + std::string(cmd->name) + "' is not supported inside MULTI", obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (in_multi_ && pinned_ && (local == Local::kPing || local == Local::kEcho)) {
        // Inside MULTI Redis queues these too and answers them in EXEC's array: the backend does.
        Slot& slot = newSlot();
        slot.pinned = true;
        ++inflight_;
        ++pinned_inflight_;
        ++tx_.queued;
        pinned_->send(raw, &slot, false);
        return Outcome::kDone;
    }
    switch (local) {
        case Local::kPing:
            if (argv.size() > 2) {  // PING's arity is -1, and it takes at most one message (checked as it runs)
                replyError(kPingArityError);
                return Outcome::kDone;
            }
            if (argv.size() == 1) reply("+PONG\r\n");
            else reply(bulk(argv[1]));
            return Outcome::kDone;
        case Local::kEcho:
            reply(bulk(argv[1]));
            return Outcome::kDone;
        case Local::kQuit:
            reply("+OK\r\n");
            closing_ = true;
            return Outcome::kStop;
        case Local::kAuth:
            return cmdAuth(argv);
        case Local::kHello:
            return cmdHello(argv, raw);
        case Local::kSelect:
            return cmdSelect(argv, raw);
        case Local::kClient:
            return cmdClient(*cmd, argv, raw);
        case Local::kInfo:
            return cmdInfo(*cmd, argv, raw);
        case Local::kReset:
            return cmdReset();
        default:
            return forward(*cmd, argv, raw);
    }
}

Session::Outcome Session::forward(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw) {
    const auto& snapshot = *worker_.snapshot();
    keys_.clear();
    // One route: every command goes there; if it is a proxy, the keys are not even needed.
    const bool one_route = snapshot.routes().size() == 1;
    if (!one_route || !snapshot.routes()[0].isProxy()) resp::keyIndices(cmd, argv, keys_);
    std::string error;
    const policy::Route* route = one_route ? &snapshot.routes()[0] : snapshot.route(cmd, argv, keys_, error);
    const Local local = localKind(cmd);
    const bool blocking = cmd.has(resp::kBlocking) && !in_multi_;
    const bool pubsub = (local == Local::kSubscribe || local == Local::kUnsubscribe) && !in_multi_;
    const bool stateful = pinned_ || in_multi_ || watching_ || blocking || pubsub || local == Local::kMulti || local == Local::kWatch;
    // A transaction's own commands touch no key: they go where the client is pinned, whatever the
    // user's rights on the catch-all route they would otherwise take.
    const bool control = local == Local::kMulti || local == Local::kExec || local == Local::kDiscard || local == Local::kUnwatch;
    if (tracking_) trackRead(cmd, argv);

    if (!stateful && keys_.size() > 1 && (!route || !route->isProxy()) && splittable(cmd)) {
        for (int i : keys_)
            if (!barrierOpen(*snapshot.routeForKey(cmd, argv[static_cast<size_t>(i)]))) return waitForBarrier();
        return splitMultiKey(cmd, argv);
    }
    if (!route) {
        replyError(error, obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (!user_.empty() && !control && denied(*route, cmd, argv)) return Outcome::kDone;
    routed_ = &routeCounters(*route);
    routed_class_ = obs::commandClass(cmd);
    if (!stateful && (cmd.name == "flushall" || cmd.name == "flushdb") && snapshot.config().backends.size() > 1)
        return toEveryBackend(raw);
    if (!stateful && cmd.name == "script|load") loadScriptEverywhere(raw);
    if (!in_multi_ && (cmd.name == "script|kill" || cmd.name == "function|kill"))
        return killScripts(*route, policy::Request{argv, raw, &cmd, keys_});
    if (!barrierOpen(*route)) return waitForBarrier();

    if (!stateful) {
        if (bulk_ != want_bulk_) {
            // Another lane: what is in flight on this one is answered first, so that no command
            // overtakes an earlier one.
            if (inflight_ > 0) {
                drain_wait_ = true;
                return Outcome::kPause;
            }
            bulk_ = want_bulk_;
        }
        policy::Request req{argv, raw, &cmd, keys_};
        const bool serial = route->strategy->serializes(req);
        if (serial && inflight_ > 0) {
            drain_wait_ = true;  // runs once the commands before it are answered
            return Outcome::kPause;
        }
        Slot& slot = newSlot();
        noteChanges(slot, cmd, argv);
        ++inflight_;
        policy::Context ctx = context(*route);
        route->strategy->execute(req, &slot, ctx);
        if (serial && inflight_ > 0) drain_wait_ = true;  // and the next ones wait for it
        return Outcome::kDone;
    }

    int target = control && pinned_ ? pinned_backend_ : route->strategy->pinTarget();
    if (pinned_ && target != pinned_backend_) {
        const auto& cfg = snapshot.config();
        if (in_multi_) {
            replyError("CROSSSLOT laminar: this transaction runs on backend '" + cfg.backends[static_cast<size_t>(pinned_backend_)].name +
                           "' and '" + std::string(cmd.name) + "' routes to backend '" + cfg.backends[static_cast<size_t>(target)].name +
                           "'; a transaction's keys must be on one backend, so EXEC will discard it",
                       obs::ErrorKind::kRefused);
            return Outcome::kDone;
        }
        replyError("ERR laminar: this connection is pinned to backend '" + cfg.backends[static_cast<size_t>(pinned_backend_)].name +
                       "' (MULTI, WATCH, SELECT or pub/sub) but '" + std::string(cmd.name) + "' routes to '" +
                       cfg.backends[static_cast<size_t>(target)].name + "'",
                   obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (!pinned_ && refusePin(target, cmd.name)) return Outcome::kDone;
    if (cmd.name == "wait" && worker_.backend(target).config().type == config::BackendConfig::Type::kRedisCluster) {
        replyError("ERR laminar: 'wait' is not supported by redis_cluster backend '" + worker_.backend(target).name() +
                       "': a client's writes go to several masters, over connections shared with other clients, so no one "
                       "node's WAIT counts them",
                   obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (!pinned_ && !pin(target)) return Outcome::kPause;

    if (pubsub) {
        if (resp3_) {
            // RESP3: confirmations and messages are pushes, relayed as they come; no reply slot.
            pushes_ = true;
            pinned_->sendRelayed(raw);
            return Outcome::kDone;
        }
        if (pinned_inflight_ > 0) {
            drain_wait_ = true;
            return Outcome::kPause;
        }
        relay_mode_ = true;
        pinned_->setRelay(&relay_, true);
        return relaySend(local, raw);
    }

    Slot& slot = newSlot();
    slot.pinned = true;
    noteChanges(slot, cmd, argv);
    // Writes on a dedicated connection bypass the route's strategy; strategies that keep another
    // side in step (dual_write) catch up once the write (or the EXEC that ran it) is answered.
    if (cmd.has(resp::kWrite) && !route->isProxy() && !keys_.empty()) {
        if (!pinned_writes_) pinned_writes_ = std::make_unique<PinnedWrites>();
        for (int i : keys_) pinned_writes_->writes.emplace_back(route, std::string(argv[static_cast<size_t>(i)]));
    }
    std::string_view wire = raw;
    if (local == Local::kExec && in_multi_ && multi_refused_) {
        // The backend never saw the refused command, so its transaction looks whole: it gets
        // DISCARD in EXEC's place, and the client the EXECABORT Redis would have answered.
        slot.kind = SlotKind::kExecAbort;
        wire = kDiscardCommand;
        pinned_writes_.reset();
    }
    if (in_multi_ && local != Local::kMulti && local != Local::kExec && local != Local::kDiscard) {
        if (slot.kind == SlotKind::kInfo) {  // its +QUEUED passes; its place in EXEC's array gets laminar's sections
            tx_.entries.push_back(TxEntry::at(tx_.queued, TxEntry::Kind::kInfo));
            slot.kind = SlotKind::kPlain;
        }
        ++tx_.queued;
    }
    // What the client sends after such an EXEC waits for its reply: the commands laminar runs
    // there (AUTH, CLIENT SETNAME, SELECT...) change what those see, as on Redis.
    bool completes_exec = false;
    if (local == Local::kExec && in_multi_ && !multi_refused_ && !tx_.entries.empty()) {
        slot.kind = SlotKind::kExec;
        slot.tx = std::make_unique<Transaction>(std::move(tx_));
        completes_exec = true;
    }
    if (local == Local::kExec && in_multi_ && !tx_changes_.empty()) {
        slot.changes = std::make_unique<Changes>();
        slot.changes->keys = std::move(tx_changes_);
    }
    if (local == Local::kMulti || local == Local::kExec || local == Local::kDiscard) tx_changes_.clear();
    switch (local) {
        case Local::kMulti: in_multi_ = true; multi_refused_ = false; tx_ = {}; break;
        case Local::kExec:
        case Local::kDiscard: in_multi_ = watching_ = multi_refused_ = false; tx_ = {}; break;
        case Local::kWatch: if (!in_multi_) watching_ = true; break;
        case Local::kUnwatch: if (!in_multi_) watching_ = false; break;
        default: break;
    }
    if (pinned_writes_ && !in_multi_) {
        if (local == Local::kDiscard) {
            pinned_writes_.reset();
        } else {
            pinned_writes_->snapshot = worker_.snapshot();
            for (const auto& [route, key] : pinned_writes_->writes) {
                policy::Context ctx = context(*route);
                ctx.snapshot = &pinned_writes_->snapshot;
                route->strategy->beforePinnedWrite(key, ctx);
            }
            slot.writes = std::move(pinned_writes_);
        }
    }
    if (blocking) {
        slot.kind = SlotKind::kBlocking;
        if (blocked_++ == 0) {
            auto identity = pinned_->serverIdentity();
            const std::string& backend = pinned_owner_->name();
            worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) {
                e.blocked_on = identity;
                e.blocked_backend = backend;
            });
        }
    }
    if (cmd.name == "wait" && !in_multi_) pinned_->send(kWaitMark, &backend::discardSink(), false);
    ++inflight_;
    ++pinned_inflight_;
    pinned_->send(wire, &slot, blocking);
    if (completes_exec && inflight_ > 0) drain_wait_ = true;  // (a dead connection answers at once)
    return Outcome::kDone;
}

policy::Context Session::context(const policy::Route& route) {
    const auto& snapshot = worker_.snapshot();
    return policy::Context{*this,   worker_.background(), policy::SystemClock::instance(), *snapshot, &worker_.host().sync(),
                           &snapshot, route.stats.get(), &worker_,           worker_.host().queue()};
}

// Open once every I/O thread routes with this configuration (no thread can send a write the old
// way any more) and no key is pending in an old direction (sent, announced, queued or copying).
bool Session::barrierOpen(const policy::Route& route) {
    std::atomic_ref<bool> open(route.barrier_open);
    if (open.load(std::memory_order_acquire)) return true;
    if (worker_.host().minInstalledGeneration() < worker_.snapshot()->generation()) return false;
    for (const auto& pair : route.barrier)
        if (worker_.host().sync().pending(pair) > 0) return false;
    open.store(true, std::memory_order_release);
    return true;
}

// The flip barrier: the route's copy direction changed and keys are still being copied the old
// way. Commands on it wait (polled every millisecond) until those copies are done.
Session::Outcome Session::waitForBarrier() {
    if (inflight_ > 0) {
        drain_wait_ = true;  // resumes when the in-flight commands are answered, then re-checks
        return Outcome::kPause;
    }
    if (!barrier_timer_) {
        barrier_timer_ = true;
        worker_.postAfter(std::chrono::milliseconds(1), [this] {
            barrier_timer_ = false;
            barrier_wait_ = false;
            resume();
        });
    }
    barrier_wait_ = true;
    return Outcome::kPause;
}

bool Session::splittable(const resp::CommandInfo& cmd) {
    std::string_view n = cmd.name;
    return n == "mget" || n == "mset" || n == "del" || n == "unlink" || n == "exists" || n == "touch";
}


Session::Outcome Session::relaySend(Local local, std::string_view raw) {
    pinned_->sendRelayed(raw);
    if (local == Local::kUnsubscribe) {
        // Whether the client is still subscribed after this is known only to the backend: a PING
        // behind it answers "pong" in an array while subscribed, a plain bulk after.
        std::string ping;
        resp::appendCommand(ping, {"PING", kMarker});
        pinned_->sendRelayed(ping);
        waiting_marker_ = true;
    }
    return Outcome::kDone;
}

obs::RouteCounters& Session::routeCounters(const policy::Route& route) {
    return worker_.stats().route(static_cast<size_t>(&route - worker_.snapshot()->routes().data()));
}

void Session::send(int backend, std::string_view raw, backend::ReplySink* sink) {
    auto& b = worker_.backend(backend);
    if (resp3_) b.sendResp3(id_, raw, sink);
    else if (bulk_) b.sendBulk(id_, raw, sink);
    else b.send(id_, raw, sink);
}

Session::Slot& Session::newSlot() {
    Slot& s = slots_.emplace_back();
    s.session = this;
    s.route = routed_;
    s.kind = next_kind_;
    next_kind_ = SlotKind::kPlain;
    if (reply_mode_ == ReplyMode::kOff) {
        s.suppress = true;
    } else if (reply_mode_ == ReplyMode::kSkip) {
        s.suppress = true;
        reply_mode_ = ReplyMode::kOn;
    }
    return s;
}

void Session::reply(std::string_view raw) {
    if (capture_) {
        capture_->append(raw);
        return;
    }
    if (slots_.empty()) {
        if (reply_mode_ == ReplyMode::kOn) appendOut(raw);
        else if (reply_mode_ == ReplyMode::kSkip) reply_mode_ = ReplyMode::kOn;
        return;
    }
    Slot& s = newSlot();
    s.data.assign(raw);
    s.done = true;
}

void Session::replyError(std::string_view msg, obs::ErrorKind kind) {
    if (in_multi_) multi_refused_ = true;  // as Redis flags a transaction a command was refused in
    worker_.stats().countError(kind, routed_);
    std::string line;
    resp::appendError(line, msg);
    reply(line);
}

void Session::onReply(Slot& slot, std::string_view raw, bool failed) {
    {
    Guard guard(*this);
    --inflight_;
    if (slot.pinned) --pinned_inflight_;
    // Announced even when it failed: part of it may have run, and an invalidation too many is harmless.
    std::unique_ptr<Changes> changes = std::move(slot.changes);
    std::string rewritten;
    switch (slot.kind) {
        case SlotKind::kInfo:
            if (!failed && !raw.empty() && (raw[0] == '$' || raw[0] == '=')) {
                rewritten = transformInfo(raw);
                raw = rewritten;
            }
            break;
        case SlotKind::kSelect:
            if (raw.starts_with("+OK")) noteSelected(slot.arg);
            break;
        case SlotKind::kHello3:
        case SlotKind::kHello2:
            if (!failed && !raw.empty() && (raw[0] == '*' || raw[0] == '%')) {
                resp3_ = slot.kind == SlotKind::kHello3;
                worker_.host().registry().update(id_, [three = resp3_](ClientRegistry::Entry& e) { e.resp = three ? 3 : 2; });
                // Its id is laminar's (CLIENT ID's), not the backend connection's.
                rewritten = resp::withHelloId(raw, static_cast<long long>(id_));
                raw = rewritten;
            }
            break;
        case SlotKind::kBlocking:
            if (--blocked_ == 0)
                worker_.host().registry().update(id_, [](ClientRegistry::Entry& e) { e.blocked_on.reset(); });
            break;
        case SlotKind::kExecAbort:
            if (!failed) raw = kExecAbortReply;
            break;
        case SlotKind::kExec:
            if (!failed && slot.tx) {
                rewritten = completeExec(raw, *slot.tx);
                raw = rewritten;
            }
            slot.tx.reset();
            break;
        case SlotKind::kPlain:
            break;
    }
    if (!failed) noteReplySize(raw.size());
    if (failed) {
        worker_.stats().countError(backend::isTimeoutError(raw) ? obs::ErrorKind::kBackendTimeout : obs::ErrorKind::kBackendUnavailable,
                                   slot.route);
        if (slot.pinned) pinned_failed_ = true;
    } else if (!raw.empty() && raw[0] == '-') {
        // A strategy's refusal (read_only, a timed_rollover cutoff) also arrives as a reply, and so
        // does the EXECABORT laminar answers for a transaction it refused a command of.
        const bool refused = backend::isLaminarError(raw) || slot.kind == SlotKind::kExecAbort;
        worker_.stats().countError(refused ? obs::ErrorKind::kRefused : obs::ErrorKind::kBackendError, slot.route);
    }
    if (slot.writes) {
        for (const auto& [route, key] : slot.writes->writes) {
            policy::Context ctx = context(*route);
            ctx.snapshot = &slot.writes->snapshot;
            route->strategy->afterPinnedWrite(key, ctx);
        }
        slot.writes.reset();
    }
    if (&slot == &slots_.front()) {
        if (!slot.suppress) appendOut(raw);
        slots_.pop_front();
        while (!slots_.empty() && slots_.front().done) {
            if (!slots_.front().suppress) appendOut(slots_.front().data);
            slots_.pop_front();
        }
    } else {
        slot.data.assign(raw);
        slot.done = true;
    }
    if (pinned_failed_ && pinned_inflight_ == 0 && pinned_) {
        // The dedicated connection died with the client's MULTI, subscription or db on it: the
        // client gets the errors, then the connection is closed, as a Redis restart would.
        releasePin(false);
        closing_ = true;
    }
    if (pinned_ && pinned_inflight_ == 0) unpinIfClean();
    if (drain_wait_ && inflight_ == 0) {
        drain_wait_ = false;
        postResume();
    } else if (inflight_ <= window() / 2 && (maybe_readable_ || !in_.empty()) && !drain_wait_) {
        postResume();  // paused on the window, with input waiting
    }
    if (changes) announceChanges(*changes);
    if (!in_process_) requestFlush();
    }
    maybeDestroy();  // a closed session waits only for this
}

void Session::onRelay(std::string_view raw, bool failed) {
    {
        Guard guard(*this);
        relayed(raw, failed);
    }
    maybeDestroy();
}

void Session::relayed(std::string_view raw, bool failed) {
    if (failed) {
        appendOut(raw);
        closing_ = true;
        releasePin(false);
        relay_mode_ = waiting_marker_ = false;
        requestFlush();
        return;
    }
    if (waiting_marker_ && raw.size() > kMarker.size() + 2 && raw.substr(raw.size() - kMarker.size() - 2, kMarker.size()) == kMarker) {
        waiting_marker_ = false;
        if (raw[0] == '$') {  // a plain bulk: no longer subscribed
            relay_mode_ = false;
            subs_ = shard_subs_ = 0;
            pinned_->setRelay(&relay_, false);
            unpinIfClean();
        }
        postResume();
        return;
    }
    std::string_view kind;
    long long count = 0;
    if (subscriptionCount(raw, kind, count)) {
        // "ssubscribe"/"sunsubscribe" count shard channels; the others channels and patterns.
        bool shard = equalsIgnoreCase(kind, "ssubscribe") || equalsIgnoreCase(kind, "sunsubscribe");
        (shard ? shard_subs_ : subs_) = count;
    }
    appendOut(raw);
    requestFlush();
}

void Session::postResume() {
    if (resume_posted_ || closed_) return;
    resume_posted_ = true;
    asio::post(worker_.ioc(), [this] {
        resume_posted_ = false;
        resume();
    });
}

// Picks up the input a pause left unread (outside a poll round, so the loop time is refreshed).
void Session::resume() {
    io::Poller::touch();
    if (!closed_) {
        processInput();
        readMore();
    }
    maybeDestroy();  // deletes this when closed and idle: nothing may follow
}

void Session::appendOut(std::string_view bytes) {
    if (closed_) return;
    out_.append(bytes);
    const auto& cfg = worker_.snapshot()->config();
    if (out_.size() - out_off_ > cfg.client.max_output) {
        sessionLog()->warn("client {} {} closed: pending replies over client.max_output ({} bytes)", id_, addr_, cfg.client.max_output);
        out_.clear();
        close();
    }
}

void Session::requestFlush() {
    if (closed_) return;
    worker_.markDirty(this);
}

void Session::flushOut() {
    while (!slots_.empty() && slots_.front().done) {
        if (!slots_.front().suppress) appendOut(slots_.front().data);
        slots_.pop_front();
    }
    startWrite();
}

// Writes what is pending now; what the socket does not take waits for the poller's EPOLLOUT edge.
void Session::startWrite() {
    if (closed_ || handshaking_) return;
    io::IoStatus st = tls_ ? tls_->send(out_, out_off_) : io::sendPending(fd_, out_, out_off_);
    if (st == io::IoStatus::kWouldBlock) return;
    if (st == io::IoStatus::kError) {
        close();
        return;
    }
    out_.clear();
    out_off_ = 0;
    if (out_.capacity() >= io::kLargeFree) {
        std::string().swap(out_);
        io::freedLarge();
    }
    if (closing_) finishIfDone();
}

void Session::finishIfDone() {
    if (!closed_ && slots_.empty() && out_.size() == out_off_) close();
}

void Session::shutdown() {
    if (closed_ || closing_) return;
    closing_ = true;
    ::shutdown(fd_, SHUT_RD);
    finishIfDone();
    maybeDestroy();
}

void Session::close() {
    if (closed_) return;
    Guard guard(*this);
    closed_ = true;
    worker_.poller().remove(fd_, this);
    if (tls_ && !handshaking_) tls_->shutdown();
    tls_.reset();
    ::close(fd_);
    fd_ = -1;
    out_.clear();
    out_off_ = 0;
    releasePin(false);
    auto& invalidations = worker_.host().invalidations();
    if (tracking_) invalidations.disable(id_);
    invalidations.gone(id_);
    worker_.host().registry().remove(id_);
}

void Session::releaseIdleMemory(std::chrono::steady_clock::time_point cutoff) {
    if (closed_ || handshaking_ || in_process_ || last_active_ >= cutoff || !in_.empty() || !slots_.empty() || out_off_ != out_.size())
        return;
    in_.release();
    parser_.releaseMemory();
    slots_.release();
    std::string().swap(out_);
    out_off_ = 0;
    std::string().swap(scratch_);
    std::vector<int>().swap(keys_);
}

bool Session::holdsMemory() const {
    return in_.holdsMemory() || slots_.holdsMemory() || out_.capacity() > std::string().capacity() ||
           scratch_.capacity() > std::string().capacity() || keys_.capacity() > 0;
}

bool Session::idleSince(std::chrono::steady_clock::time_point t) const {
    return last_active_ < t && blocked_ == 0 && !relay_mode_ && subs_ == 0 && shard_subs_ == 0 && inflight_ == 0;
}

void Session::maybeDestroy() {
    if (closed_ && guard_ == 0 && inflight_ == 0 && !dirty_ && !resume_posted_ && !barrier_timer_)
        worker_.destroy(this);  // deletes this: nothing may follow
}

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
#include "net/session.h"

#include <fmt/format.h>
#include "obs/logging.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <unordered_map>

#include "io/memory.h"
#include "net/client_registry.h"
#include "net/host.h"
#include "policy/sync_engine.h"
#include "policy/write_queue.h"
#include "io/socket_io.h"
#include "net/worker.h"
#include "policy/clock.h"
#include "policy/owned_command.h"
#include "resp/ascii.h"
#include "resp/numbers.h"
#include "resp/reply_view.h"
#include "resp/writer.h"

namespace laminar::net {
namespace asio = boost::asio;
using resp::equalsIgnoreCase;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// A pipelining client's commands in flight are bounded by the replies they are expected to bring:
// about kInflightReplyBytes at the size its recent replies had (kInitialWindow commands before its
// first reply, never fewer than kMinWindow nor more than kMaxInflight). Its commands share the
// backend connections with every other client's, and every reply ahead of another client's
// command delays that command: so no client puts more than about this much ahead of the others,
// and a client that goes away leaves little behind (what it had not had sent is dropped).
// Reading resumes when half the window is answered.
constexpr size_t kInflightReplyBytes = 512 * 1024;
constexpr size_t kInitialWindow = 32;
constexpr size_t kMinWindow = 4;
constexpr size_t kMaxInflight = 4096;
constexpr std::string_view kMarker = "laminar:unsubscribe-sync";

// Commands laminar answers (or rewrites) itself; everything else is routed to a backend.

using Local = Session::Local;

const std::unordered_map<std::string_view, Local> kLocal = {
    {"ping", Local::kPing},         {"echo", Local::kEcho},       {"quit", Local::kQuit},
    {"auth", Local::kAuth},         {"hello", Local::kHello},     {"select", Local::kSelect},
    {"client", Local::kClient},     {"info", Local::kInfo},       {"reset", Local::kReset},
    {"multi", Local::kMulti},       {"exec", Local::kExec},       {"discard", Local::kDiscard},
    {"watch", Local::kWatch},       {"unwatch", Local::kUnwatch}, {"subscribe", Local::kSubscribe},
    {"psubscribe", Local::kSubscribe}, {"ssubscribe", Local::kSubscribe}, {"unsubscribe", Local::kUnsubscribe},
    {"punsubscribe", Local::kUnsubscribe}, {"sunsubscribe", Local::kUnsubscribe},
};

Session::Local localKindByName(std::string_view name) {
    auto bar = name.find('|');
    auto it = kLocal.find(bar == std::string_view::npos ? name : name.substr(0, bar));
    return it == kLocal.end() ? Local::kNone : it->second;
}

// Per command-table entry, computed once at start-up: a top-level command is one index, a
// subcommand a pointer hash, never a string hash.
const resp::PerCommand<Local> kTopLocalKinds([](const resp::CommandInfo& c) { return localKindByName(c.name); });

const std::unordered_map<const resp::CommandInfo*, Local> kSubLocalKinds = [] {
    std::unordered_map<const resp::CommandInfo*, Local> out;
    for (const auto& c : resp::allCommands())
        for (const auto& sub : c.subcommands) out.emplace(&sub, localKindByName(sub.name));
    return out;
}();

[[gnu::noinline]] Local subcommandLocalKind(const resp::CommandInfo& cmd) {
    auto it = kSubLocalKinds.find(&cmd);
    return it == kSubLocalKinds.end() ? Local::kNone : it->second;
}

Local localKind(const resp::CommandInfo& cmd) {
    const Local* top = kTopLocalKinds.find(&cmd);
    return top ? *top : subcommandLocalKind(cmd);
}

bool parseLong(std::string_view s, long long& out) { return resp::parseLongLong(s, out); }

// WAIT counts the replicas that acknowledged the last write of the connection it runs on. A
// client's writes went over shared connections, and WAIT runs on a dedicated one: this PUBLISH
// first (Redis replicates it; laminar's channel has no subscriber) moves that connection's offset
// past every write the client has had answered, so WAIT waits for those.
constexpr std::string_view kWaitMark = "*3\r\n$7\r\nPUBLISH\r\n$14\r\n__laminar:wait\r\n$0\r\n\r\n";

std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

// The kind word and count of a (un)subscribe confirmation, RESP2 array or RESP3 push:
// ["subscribe", channel, count]. False for anything else (messages included).
bool subscriptionCount(std::string_view raw, std::string_view& kind, long long& count) {
    if (raw.size() < 4 || (raw[0] != '*' && raw[0] != '>') || raw[1] != '3' || raw[2] != '\r') return false;
    size_t pos = 4;
    auto line = [&](std::string_view& out) {
        auto end = raw.find("\r\n", pos);
        if (end == std::string_view::npos) return false;
        out = raw.substr(pos, end - pos);
        pos = end + 2;
        return true;
    };
    auto bulkAt = [&](std::string_view& out) {
        std::string_view header;
        if (!line(header) || header.empty() || header[0] != '$') return false;
        long long n = 0;
        if (!parseLong(header.substr(1), n)) return false;
        if (n < 0) {
            out = {};
            return true;
        }
        if (pos + static_cast<size_t>(n) + 2 > raw.size()) return false;
        out = raw.substr(pos, static_cast<size_t>(n));
        pos += static_cast<size_t>(n) + 2;
        return true;
    };
    std::string_view word, channel, num;
    if (!bulkAt(word) || !bulkAt(channel) || !line(num) || num.empty() || num[0] != ':') return false;
    bool known = false;
    for (std::string_view k : {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"})
        known = known || equalsIgnoreCase(word, k);
    if (!known) return false;
    kind = word;
    return parseLong(num.substr(1), count);
}

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("client");
    return l;
}

}  // namespace

// Keeps the session alive (maybeDestroy is a no-op) while a method that may trigger completions
// is on the stack.
struct Guard {
    explicit Guard(Session& s) : s_(s) { ++s_.guard_; }
    ~Guard() { --s_.guard_; }
    Session& s_;
};

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
            log()->debug("client {} {}: {} handshake done", id_, addr_, tls_->version());
            readMore();
            return;
        case io::IoStatus::kWouldBlock:
            return;
        default:
            // A client that does not speak TLS, or does not trust laminar's certificate, or whose
            // own certificate is refused: nothing to answer in RESP, since it would not be read.
            log()->info("client {} {} closed: {}", id_, addr_, tls_->error());
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
    if (avg_reply_ != before) window_ = std::clamp<size_t>(kInflightReplyBytes / avg_reply_, kMinWindow, kMaxInflight);
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
            log()->debug("client {} {}: {}", id_, addr_, parser_.error());
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
        in_.consume(parser_.consumed());
        parser_.reset();
        if (parser_.tookFreedLarge()) io::freedLarge();
        if (out == Outcome::kStop) break;
    }
    in_process_ = false;
    // The write queue's records of what was just read go to disk in one write (queued_write).
    if (auto* q = worker_.host().queue()) q->flushBatch();
    if (in_.empty() && in_.capacity() > 4 * kReadChunk) in_.shrinkTo(kReadChunk);
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
        return cmdLaminar(argv);
    }
    const resp::CommandInfo* cmd = resp::lookupCommand(argv);
    if (!cmd) {
        std::string msg = "ERR unknown command '" + std::string(argv[0].substr(0, 128)) + "', with args beginning with: ";
        for (size_t i = 1; i < argv.size() && msg.size() < 512; ++i) msg += "'" + std::string(argv[i].substr(0, 128)) + "' ";
        replyError(msg);
        return Outcome::kDone;
    }
    if (!resp::arityOk(*cmd, argv.size())) {
        replyError("ERR wrong number of arguments for '" + std::string(cmd->name) + "' command");
        return Outcome::kDone;
    }
    Local local = localKind(*cmd);
    if (!authed_ && local != Local::kAuth && local != Local::kHello && local != Local::kQuit) {
        replyError("NOAUTH Authentication required.", obs::ErrorKind::kAuth);
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

    switch (local) {
        case Local::kPing:
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

    if (!stateful && keys_.size() > 1 && (!route || !route->isProxy()) && splittable(cmd)) {
        for (int i : keys_)
            if (!barrierOpen(*snapshot.routeForKey(cmd, argv[static_cast<size_t>(i)]))) return waitForBarrier();
        return splitMultiKey(cmd, argv);
    }
    if (!route) {
        replyError(error, obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (!user_.empty() && denied(*route, cmd)) return Outcome::kDone;
    routed_ = &routeCounters(*route);
    routed_class_ = obs::commandClass(cmd);
    if (!stateful && (cmd.name == "flushall" || cmd.name == "flushdb") && snapshot.config().backends.size() > 1)
        return toEveryBackend(raw);
    if (!stateful && cmd.name == "script|load") loadScriptEverywhere(raw);
    if (!barrierOpen(*route)) return waitForBarrier();

    if (!stateful) {
        policy::Request req{argv, raw, &cmd, keys_};
        const bool serial = route->strategy->serializes(req);
        if (serial && inflight_ > 0) {
            drain_wait_ = true;  // runs once the commands before it are answered
            return Outcome::kPause;
        }
        Slot& slot = newSlot();
        ++inflight_;
        policy::Context ctx = context(*route);
        route->strategy->execute(req, &slot, ctx);
        if (serial && inflight_ > 0) drain_wait_ = true;  // and the next ones wait for it
        return Outcome::kDone;
    }

    int target = route->strategy->pinTarget();
    if (pinned_ && target != pinned_backend_) {
        const auto& cfg = snapshot.config();
        replyError("ERR laminar: this connection is pinned to backend '" + cfg.backends[static_cast<size_t>(pinned_backend_)].name +
                       "' (MULTI, WATCH, SELECT, HELLO 3 or pub/sub) but '" + std::string(cmd.name) + "' routes to '" +
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
    // Writes on a dedicated connection bypass the route's strategy; strategies that keep another
    // side in step (dual_write) catch up once the write (or the EXEC that ran it) is answered.
    if (cmd.has(resp::kWrite) && !route->isProxy() && !keys_.empty()) {
        if (!pinned_writes_) pinned_writes_ = std::make_unique<PinnedWrites>();
        for (int i : keys_) pinned_writes_->writes.emplace_back(route, std::string(argv[static_cast<size_t>(i)]));
    }
    switch (local) {
        case Local::kMulti: in_multi_ = true; break;
        case Local::kExec:
        case Local::kDiscard: in_multi_ = watching_ = false; break;
        case Local::kWatch: if (!in_multi_) watching_ = true; break;
        case Local::kUnwatch: if (!in_multi_) watching_ = false; break;
        default: break;
    }
    if (pinned_writes_ && !in_multi_) {
        if (local == Local::kDiscard) {
            pinned_writes_.reset();
        } else {
            pinned_writes_->snapshot = worker_.snapshot();
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
    pinned_->send(raw, &slot, blocking);
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

namespace {

// One client command split into one command per key (MGET -> GETs, MSET -> SETs, DEL/UNLINK/
// EXISTS/TOUCH -> one each), each routed on its own, and the replies merged as the original
// command would have answered: MGET in order (a wrong-type key reads as nil, as in Redis), counts
// summed, MSET +OK. A part that laminar could not get an answer for fails the whole command, and
// no part is sent after it.
//
// The parts go kSplitWindow at a time, the next as earlier ones are answered: a command of a
// million keys holds its arguments, a window of parts and (MGET) its answer, never a million
// commands at once, and its parts never fill a backend connection ahead of other clients'.
constexpr size_t kSplitWindow = 1024;

struct SplitJob {
    enum class Kind { kMget, kSum, kMset };
    // Sends part `index` to `sink`; false when it was not sent (abort() said why).
    using Sender = std::function<bool(size_t index, backend::ReplySink* sink)>;

    struct Part final : backend::ReplySink {
        SplitJob* job = nullptr;
        size_t index = 0;
        void complete(std::string_view raw, bool failed) override { job->done(*this, raw, failed); }
    };

    SplitJob(Kind k, size_t parts, backend::ReplySink* client_sink) : client(client_sink), kind(k), total(parts), pool(std::min(parts, kSplitWindow)) {
        for (auto& p : pool) {
            p.job = this;
            idle.push_back(&p);
        }
        if (kind == Kind::kMget) replies.resize(total);
    }

    // Sends parts while the window has room. Deletes the job once the parts sent are all answered
    // and no more will be: nothing may touch it after this returns.
    void pump() {
        pumping = true;
        while (next < total && failure.empty() && !idle.empty()) {
            Part* p = idle.back();
            idle.pop_back();
            p->index = next++;
            ++inflight;
            if (!send(p->index, p)) {
                --inflight;
                idle.push_back(p);
                break;
            }
        }
        pumping = false;
        if (inflight > 0 || (next < total && failure.empty())) return;
        finish();
        if (total > kSplitWindow) io::freedLarge();  // its arguments, and an MGET's answer
        delete this;
    }

    void abort(std::string_view error) {
        if (failure.empty()) failure.assign(error);
    }

    backend::ReplySink* client;
    Kind kind;
    Sender send;

private:
    void done(Part& p, std::string_view raw, bool bad) {
        if (bad || (kind != Kind::kMget && resp::isError(raw))) {
            if (failure.empty()) failure.assign(raw);
            failed = failed || bad;
        } else if (kind == Kind::kMget) {
            replies[p.index].assign(raw);
        } else if (kind == Kind::kSum) {
            long long v = 0;
            resp::integerValue(raw, v);
            sum += v;
        }
        --inflight;
        idle.push_back(&p);
        if (!pumping) pump();  // a part answered while sending (a backend that is down) is counted by the loop
    }

    void finish() {
        if (!failure.empty()) {
            client->complete(failure, failed);
            return;
        }
        std::string out;
        switch (kind) {
            case Kind::kMget:
                resp::appendArrayHeader(out, replies.size());
                for (const auto& r : replies) out += resp::isError(r) ? std::string("$-1\r\n") : r;
                break;
            case Kind::kSum:
                resp::appendInteger(out, sum);
                break;
            case Kind::kMset:
                out = "+OK\r\n";
                break;
        }
        client->complete(out, false);
    }

    size_t total, next = 0, inflight = 0;
    bool pumping = false;
    std::vector<std::string> replies;  // kMget
    long long sum = 0;                 // kSum
    std::string failure;
    bool failed = false;
    std::vector<Part> pool;
    std::vector<Part*> idle;
};

// One backend's copy of a script, beside the client's own SCRIPT LOAD: nobody waits for it.
struct ScriptCopy final : backend::ReplySink {
    std::string backend;
    void complete(std::string_view raw, bool failed) override {
        if (failed || resp::isError(raw))
            log()->debug("SCRIPT LOAD on backend '{}' failed ({}); EVALSHA there answers NOSCRIPT", backend,
                         raw.substr(0, raw.find('\r')));
        delete this;
    }
};

}  // namespace

// The client gets its route's answer; every other Redis backend learns the script in the
// background too, so EVALSHA finds it on either side of a migration whatever phase the route is
// in when it runs (memcached has no scripts). Loading a script twice is harmless.
void Session::loadScriptEverywhere(std::string_view raw) {
    const auto& cfg = worker_.snapshot()->config();
    for (size_t i = 0; i < cfg.backends.size(); ++i) {
        if (cfg.backends[i].type == config::BackendConfig::Type::kMemcached) continue;
        auto* copy = new ScriptCopy;
        copy->backend = cfg.backends[i].name;
        worker_.background().send(static_cast<int>(i), raw, copy);
    }
}

// FLUSHALL / FLUSHDB (when client.allow_admin lets them through) empty every backend: +OK when all
// did, else the first error.
Session::Outcome Session::toEveryBackend(std::string_view raw) {
    size_t n = worker_.snapshot()->config().backends.size();
    Slot& slot = newSlot();
    ++inflight_;
    auto* job = new SplitJob(SplitJob::Kind::kMset, n, &slot);
    job->send = [this, raw = std::string(raw)](size_t i, backend::ReplySink* sink) {
        send(static_cast<int>(i), raw, sink);
        return true;
    };
    job->pump();
    return Outcome::kDone;
}

Session::Outcome Session::splitMultiKey(const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    auto snapshot = worker_.snapshot();
    std::string_view n = cmd.name;
    const auto kind = n == "mget" ? SplitJob::Kind::kMget : n == "mset" ? SplitJob::Kind::kMset : SplitJob::Kind::kSum;
    // One part per key: GET key, SET key value (MSET's keys are every other argument), or the
    // command itself with one key.
    const bool with_value = kind == SplitJob::Kind::kMset;
    std::string sub = kind == SplitJob::Kind::kMget ? "GET" : with_value ? "SET" : std::string(argv[0]);
    std::string_view probe[3] = {sub, argv[static_cast<size_t>(keys_[0])], with_value ? argv[static_cast<size_t>(keys_[0]) + 1] : ""};
    const resp::CommandInfo* part_cmd = resp::lookupCommand(std::span<const std::string_view>(probe, with_value ? 3 : 2));
    auto key = [&](size_t i) { return argv[static_cast<size_t>(keys_[i])]; };

    // A part on a route the user may not use refuses the whole command before any is sent (that
    // first: a user's rights come before what the routes do)...
    if (!user_.empty())
        for (size_t i = 0; i < keys_.size(); ++i)
            if (denied(*snapshot->routeForKey(*part_cmd, key(i)), cmd)) return Outcome::kDone;
    // ...and so does a part a route refuses (read_only): Redis never applies part of an MSET.
    if (cmd.has(resp::kWrite)) {
        for (size_t i = 0; i < keys_.size(); ++i) {
            const policy::Route* route = snapshot->routeForKey(*part_cmd, key(i));
            if (!route->strategy->refusesWrites()) continue;
            std::vector<std::string> words{sub, std::string(key(i))};
            if (with_value) words.emplace_back(argv[static_cast<size_t>(keys_[i]) + 1]);
            policy::OwnedCommand part(std::move(words));
            routeCounters(*route).countCommand(obs::commandClass(cmd));
            Slot& slot = newSlot();
            ++inflight_;
            policy::Context ctx = context(*route);
            route->strategy->execute(part.request(), &slot, ctx);
            return Outcome::kDone;
        }
    }
    // Each part counts as a command of its own route.
    for (size_t i = 0; i < keys_.size(); ++i)
        routeCounters(*snapshot->routeForKey(*part_cmd, key(i))).countCommand(obs::commandClass(*part_cmd));

    // The arguments outlive the client's input buffer: one string, and where each part's start.
    std::string args;
    std::vector<size_t> starts;
    starts.reserve(keys_.size() * (with_value ? 2 : 1) + 1);
    for (size_t i = 0; i < keys_.size(); ++i) {
        starts.push_back(args.size());
        args.append(key(i));
        if (!with_value) continue;
        starts.push_back(args.size());
        args.append(argv[static_cast<size_t>(keys_[i]) + 1]);
    }
    starts.push_back(args.size());

    Slot& slot = newSlot();
    ++inflight_;
    auto* job = new SplitJob(kind, keys_.size(), &slot);
    job->send = [this, job, snapshot = std::move(snapshot), sub = std::move(sub), args = std::move(args), starts = std::move(starts),
                 with_value](size_t i, backend::ReplySink* sink) {
        if (closed_) {
            job->abort("-ERR laminar: the client closed its connection\r\n");
            return false;
        }
        if (worker_.snapshot() != snapshot) {
            // Later parts would be routed by another configuration than the earlier ones (and
            // its flip barrier was not checked for them).
            job->abort("-TRYAGAIN laminar: the configuration was reloaded while this command's parts were being sent; retry\r\n");
            return false;
        }
        size_t a = with_value ? 2 * i : i;
        auto arg = [&](size_t k) { return std::string(args, starts[k], starts[k + 1] - starts[k]); };
        std::vector<std::string> words{sub, arg(a)};
        if (with_value) words.push_back(arg(a + 1));
        policy::OwnedCommand part(std::move(words));
        const policy::Route* route = snapshot->routeForKey(*part.cmd, part.words[1]);
        policy::Context ctx = context(*route);
        route->strategy->execute(part.request(), sink, ctx);
        return true;
    };
    job->pump();  // may answer and delete the job at once (a backend that is down)
    return Outcome::kDone;
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
    worker_.backend(backend).send(id_, raw, sink);
}

bool Session::refusePin(int backend, std::string_view what) {
    auto& b = worker_.backend(backend);
    if (b.dedicated()) return false;
    replyError(fmt::format("ERR laminar: '{}' is not supported by {} backend '{}': it needs a connection of its own (MULTI, WATCH, "
                           "blocking commands, pub/sub, SELECT, HELLO 3)",
                           what, b.config().typeName(), b.name()));
    return true;
}

bool Session::pin(int backend) {
    if (inflight_ > 0) {
        drain_wait_ = true;
        return false;
    }
    pinned_owner_ = worker_.backendPtr(backend);
    pinned_ = pinned_owner_->dedicated()->acquireDedicated();
    pinned_backend_ = backend;
    pinned_inflight_ = 0;
    pinned_->setRelay(&relay_, false);  // RESP3 pushes, once HELLO 3 is on
    worker_.stats().pinned.add(1);
    return true;
}

// After a reload. A client pinned to a dedicated connection (MULTI, WATCH, a blocking command,
// pub/sub, SELECT, HELLO 3) keeps it when the reload left its backend as it was and every route
// that could pin to that backend still does. Otherwise its state cannot move with it: the backend
// is gone or its settings changed (its connections are being retired, and no command may go to a
// backend that is not configured), or a route it may be using now goes elsewhere (a BLPOP would
// wait on a list that is pushed on the other side, a WATCH would watch the wrong copy). Its state
// is ended as a restart of that Redis would end it: what is pending on the connection fails naming
// the backend and why, then the client's connection is closed, and the client reconnects into the
// running configuration.
void Session::afterReload(const policy::Snapshot& before) {
    if (closed_ || !pinned_) return;
    std::string why = pinOutlivesReload(before);
    if (why.empty()) return;
    Guard guard(*this);
    log()->warn("client {} {} closed: it was pinned to backend '{}' (MULTI, WATCH, a blocking command, pub/sub, SELECT or "
                "HELLO 3) and {}",
                id_, addr_, pinned_owner_->name(), why);
    closing_ = true;
    pinned_failed_ = true;
    // A subscriber is told why in its stream of messages; any other client would read an error it
    // did not ask for as the reply to its next command, so it just sees the connection close.
    if (!relay_mode_ && subs_ == 0 && shard_subs_ == 0) pinned_->setRelay(nullptr, false);
    relay_mode_ = waiting_marker_ = false;
    pinned_->close(why);  // fails what is pending on it, through onReply
    releasePin(false);
    flushOut();
    finishIfDone();
}

std::string Session::pinOutlivesReload(const policy::Snapshot& before) {
    const std::string& name = pinned_owner_->name();
    int now = -1;
    for (size_t i = 0; i < worker_.backendCount(); ++i)
        if (worker_.backendPtr(static_cast<int>(i)) == pinned_owner_) now = static_cast<int>(i);
    if (now < 0) return fmt::format("a reload removed backend '{}' or changed its settings", name);
    const auto& after = *worker_.snapshot();
    auto targetName = [](const policy::Snapshot& s, const policy::Route& r) -> const std::string& {
        return s.config().backends[static_cast<size_t>(r.strategy->pinTarget())].name;
    };
    for (const auto& r : before.routes()) {
        if (targetName(before, r) != name) continue;
        auto it = std::find_if(after.routes().begin(), after.routes().end(), [&](const policy::Route& a) { return a.name == r.name; });
        if (it == after.routes().end()) return fmt::format("a reload removed route '{}'", r.name);
        if (targetName(after, *it) != name)
            return fmt::format("a reload moved route '{}' from backend '{}' to '{}'", r.name, name, targetName(after, *it));
    }
    pinned_backend_ = now;
    return {};
}

bool Session::stateClean() const {
    return !in_multi_ && !watching_ && blocked_ == 0 && !relay_mode_ && !waiting_marker_ && !resp3_ && selected_db_ < 0 &&
           pinned_inflight_ == 0;
}

void Session::unpinIfClean() {
    if (pinned_ && stateClean()) releasePin(true);
}

void Session::releasePin(bool clean) {
    if (!pinned_) return;
    auto conn = std::move(pinned_);
    auto owner = std::move(pinned_owner_);
    pinned_ = nullptr;
    pinned_backend_ = -1;
    worker_.stats().pinned.add(-1);
    // Not clean: closing it fails what is still pending on it, which calls back into onReply.
    owner->dedicated()->releaseDedicated(std::move(conn), clean);
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
    std::string rewritten;
    switch (slot.kind) {
        case SlotKind::kInfo:
            if (!failed && !raw.empty() && raw[0] == '$') {
                rewritten = transformInfo(raw);
                raw = rewritten;
            }
            break;
        case SlotKind::kSelect:
            if (!raw.empty() && raw[0] == '+') {
                selected_db_ = static_cast<int>(slot.arg);
                worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.db = static_cast<int>(slot.arg); });
            }
            if (pinned_owner_ && slot.arg == pinned_owner_->config().db && !raw.empty() && raw[0] == '+') selected_db_ = -1;
            break;
        case SlotKind::kHello3:
            if (!raw.empty() && raw[0] == '%') {
                resp3_ = true;
                worker_.host().registry().update(id_, [](ClientRegistry::Entry& e) { e.resp = 3; });
            }
            break;
        case SlotKind::kHello2:
            if (!raw.empty() && (raw[0] == '*' || raw[0] == '%')) {
                resp3_ = false;
                worker_.host().registry().update(id_, [](ClientRegistry::Entry& e) { e.resp = 2; });
            }
            break;
        case SlotKind::kBlocking:
            if (--blocked_ == 0)
                worker_.host().registry().update(id_, [](ClientRegistry::Entry& e) { e.blocked_on.reset(); });
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
        // A strategy's refusal (read_only, a timed_rollover cutoff) also arrives as a reply.
        worker_.stats().countError(backend::isLaminarError(raw) ? obs::ErrorKind::kRefused : obs::ErrorKind::kBackendError, slot.route);
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
        log()->warn("client {} {} closed: pending replies over client.max_output ({} bytes)", id_, addr_, cfg.client.max_output);
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
    worker_.host().registry().remove(id_);
}

bool Session::idleSince(std::chrono::steady_clock::time_point t) const {
    return last_active_ < t && blocked_ == 0 && !relay_mode_ && subs_ == 0 && shard_subs_ == 0 && inflight_ == 0;
}

void Session::maybeDestroy() {
    if (closed_ && guard_ == 0 && inflight_ == 0 && !dirty_ && !resume_posted_ && !barrier_timer_)
        worker_.destroy(this);  // deletes this: nothing may follow
}

// ---------------------------------------------------------------- local commands

Session::Outcome Session::cmdAuth(std::span<const std::string_view> argv) {
    const auto& client = worker_.snapshot()->config().client;
    if (argv.size() > 3) {
        replyError("ERR syntax error");
        return Outcome::kDone;
    }
    if (argv.size() == 2 && !client.password) {
        replyError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                   obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }
    if (!authenticate(argv.size() == 2 ? std::string_view("default") : argv[1], argv.back())) {
        replyError("WRONGPASS invalid username-password pair or user is disabled.", obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }
    reply("+OK\r\n");
    return Outcome::kDone;
}

bool Session::authenticate(std::string_view name, std::string_view password) {
    const auto& client = worker_.snapshot()->config().client;
    if (name == "default") {
        if (!client.password || password != *client.password) return false;
        user_.clear();
    } else {
        auto it = std::find_if(client.users.begin(), client.users.end(), [&](const config::UserConfig& u) { return u.name == name; });
        if (it == client.users.end() || password != it->password) return false;
        user_ = it->name;
    }
    authed_ = true;
    return true;
}

const config::UserConfig* Session::user() const {
    if (user_.empty()) return nullptr;
    for (const auto& u : worker_.snapshot()->config().client.users)
        if (u.name == user_) return &u;
    return nullptr;
}

bool Session::isAdmin() const {
    if (user_.empty()) return true;  // the default user
    const auto* u = user();
    return u && u->admin;
}

bool Session::denied(const policy::Route& route, const resp::CommandInfo& cmd) {
    const auto* u = user();
    auto access = u ? u->on(route.name) : config::UserConfig::Access::kNone;  // removed by a reload: nothing
    bool write = cmd.has(resp::kWrite);
    if (access == config::UserConfig::Access::kWrite || (access == config::UserConfig::Access::kRead && !write)) return false;
    replyError(fmt::format("NOPERM laminar: user '{}' may not {} on route '{}' ('{}')", user_, write ? "write" : "read", route.name, cmd.name),
               obs::ErrorKind::kAuth);
    return true;
}

Session::Outcome Session::cmdHello(std::span<const std::string_view> argv, std::string_view raw) {
    (void)raw;
    long long proto = resp3_ ? 3 : 2;
    if (argv.size() >= 2) {
        if (!parseLong(argv[1], proto)) {
            replyError("ERR Protocol version is not an integer or out of range");
            return Outcome::kDone;
        }
        if (proto != 2 && proto != 3) {
            replyError("NOPROTO unsupported protocol version");
            return Outcome::kDone;
        }
    }
    std::string_view setname;
    bool has_setname = false, auth_ok = authed_;
    for (size_t i = 2; i < argv.size(); ++i) {
        if (equalsIgnoreCase(argv[i], "AUTH") && i + 2 < argv.size()) {
            auth_ok = authenticate(argv[i + 1], argv[i + 2]);
            if (!auth_ok) {
                replyError("WRONGPASS invalid username-password pair or user is disabled.", obs::ErrorKind::kAuth);
                return Outcome::kDone;
            }
            i += 2;
        } else if (equalsIgnoreCase(argv[i], "SETNAME") && i + 1 < argv.size()) {
            setname = argv[++i];
            has_setname = true;
        } else {
            replyError("ERR Syntax error in HELLO option '" + std::string(argv[i]) + "'");
            return Outcome::kDone;
        }
    }
    if (!auth_ok) {
        replyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
                   obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }
    if (proto == 2 && resp3_ && (subs_ > 0 || shard_subs_ > 0)) {
        replyError("ERR laminar: HELLO 2 while subscribed in RESP3 is not supported; UNSUBSCRIBE first", obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    if (proto == 3 && !pinned_) {
        const auto& snapshot = *worker_.snapshot();
        int target = snapshot.routes().back().strategy->pinTarget();
        if (refusePin(target, "hello 3")) return Outcome::kDone;
        if (!pin(target)) return Outcome::kPause;
    }
    authed_ = true;
    if (has_setname) {
        name_ = std::string(setname);
        worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.name = name_; });
    }
    std::string cmd;
    resp::appendCommand(cmd, {"HELLO", proto == 3 ? "3" : "2"});
    if (pinned_) {
        Slot& slot = newSlot();
        slot.pinned = true;
        slot.kind = proto == 3 ? SlotKind::kHello3 : SlotKind::kHello2;
        ++inflight_;
        ++pinned_inflight_;
        pinned_->send(cmd, &slot, false);
    } else {
        Slot& slot = newSlot();
        ++inflight_;
        send(worker_.snapshot()->routes().back().strategy->pinTarget(), cmd, &slot);
    }
    return Outcome::kDone;
}

Session::Outcome Session::cmdSelect(std::span<const std::string_view> argv, std::string_view raw) {
    long long db = 0;
    if (!parseLong(argv[1], db) || db < 0 || db > INT32_MAX) {
        replyError("ERR value is not an integer or out of range");
        return Outcome::kDone;
    }
    const auto& snapshot = *worker_.snapshot();
    int target = pinned_ ? pinned_backend_ : snapshot.routes().back().strategy->pinTarget();
    bool is_default = db == worker_.backend(target).config().db;
    if (is_default && selected_db_ < 0) {
        reply("+OK\r\n");
        return Outcome::kDone;
    }
    if (!pinned_ && refusePin(target, "select")) return Outcome::kDone;
    if (!pinned_ && !pin(target)) return Outcome::kPause;
    Slot& slot = newSlot();
    slot.pinned = true;
    slot.kind = SlotKind::kSelect;
    slot.arg = db;
    ++inflight_;
    ++pinned_inflight_;
    pinned_->send(raw, &slot, false);
    return Outcome::kDone;
}

Session::Outcome Session::cmdReset() {
    if (inflight_ > 0) {
        drain_wait_ = true;
        return Outcome::kPause;
    }
    releasePin(false);
    in_multi_ = watching_ = relay_mode_ = waiting_marker_ = resp3_ = false;
    blocked_ = 0;
    subs_ = shard_subs_ = 0;
    selected_db_ = -1;
    name_.clear();
    reply_mode_ = ReplyMode::kOn;
    authed_ = !worker_.snapshot()->config().client.password.has_value() && worker_.snapshot()->config().client.users.empty();
    user_.clear();
    worker_.host().registry().update(id_, [](ClientRegistry::Entry& e) {
        e.name.clear();
        e.db = 0;
        e.resp = 2;
        e.blocked_on.reset();
    });
    reply("+RESET\r\n");
    return Outcome::kDone;
}

std::string Session::clientInfoLine() const {
    ClientRegistry::Entry e;
    worker_.host().registry().find(id_, e);
    return ClientRegistry::format(e, std::chrono::steady_clock::now());
}

Session::Outcome Session::cmdClient(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw) {
    std::string_view sub = argv.size() > 1 ? argv[1] : std::string_view();
    auto& registry = worker_.host().registry();
    if (equalsIgnoreCase(sub, "SETNAME")) {
        if (argv.size() != 3) {
            replyError("ERR wrong number of arguments for 'client|setname' command");
            return Outcome::kDone;
        }
        for (unsigned char c : argv[2]) {
            if (c < '!' || c > '~') {
                replyError("ERR Client names cannot contain spaces, newlines or special characters.");
                return Outcome::kDone;
            }
        }
        name_ = std::string(argv[2]);
        registry.update(id_, [&](ClientRegistry::Entry& e) { e.name = name_; });
        reply("+OK\r\n");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "GETNAME")) {
        reply(name_.empty() ? std::string("$-1\r\n") : bulk(name_));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "ID")) {
        reply(":" + std::to_string(id_) + "\r\n");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "INFO")) {
        reply(bulk(clientInfoLine()));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "LIST")) {
        std::string all;
        auto now = std::chrono::steady_clock::now();
        for (const auto& e : registry.list()) all += ClientRegistry::format(e, now);
        reply(bulk(all));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "SETINFO")) {  // Redis 7.2's; clients send it on connect, so answer it here
        if (argv.size() != 4 || (!equalsIgnoreCase(argv[2], "LIB-NAME") && !equalsIgnoreCase(argv[2], "LIB-VER"))) {
            replyError("ERR Unrecognized option '" + std::string(argv.size() > 2 ? argv[2] : "") + "'");
            return Outcome::kDone;
        }
        bool is_name = equalsIgnoreCase(argv[2], "LIB-NAME");
        std::string value(argv[3]);
        registry.update(id_, [&](ClientRegistry::Entry& e) { (is_name ? e.lib_name : e.lib_ver) = value; });
        reply("+OK\r\n");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "REPLY")) {
        if (argv.size() != 3) {
            replyError("ERR syntax error");
        } else if (equalsIgnoreCase(argv[2], "ON")) {
            reply_mode_ = ReplyMode::kOn;
            reply("+OK\r\n");
        } else if (equalsIgnoreCase(argv[2], "OFF")) {
            reply_mode_ = ReplyMode::kOff;
        } else if (equalsIgnoreCase(argv[2], "SKIP")) {
            if (reply_mode_ != ReplyMode::kOff) reply_mode_ = ReplyMode::kSkip;
        } else {
            replyError("ERR syntax error");
        }
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "UNBLOCK")) {
        long long target = 0;
        if (argv.size() < 3 || argv.size() > 4 || !parseLong(argv[2], target)) {
            replyError("ERR value is not an integer or out of range");
            return Outcome::kDone;
        }
        if (argv.size() == 4 && !equalsIgnoreCase(argv[3], "TIMEOUT") && !equalsIgnoreCase(argv[3], "ERROR")) {
            replyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return Outcome::kDone;
        }
        ClientRegistry::Entry e;
        long long server_id = -1;
        if (registry.find(static_cast<uint64_t>(target), e) && e.blocked_on) server_id = e.blocked_on->id.load(std::memory_order_acquire);
        const auto& backends = worker_.snapshot()->config().backends;
        auto named = std::find_if(backends.begin(), backends.end(), [&](const config::BackendConfig& b) { return b.name == e.blocked_backend; });
        if (server_id < 0 || named == backends.end()) {
            reply(":0\r\n");
            return Outcome::kDone;
        }
        // The blocked client's backend connection is unblocked by its server-side id, over this
        // client's own shared connection to the same server (in a cluster, the blocked one's node).
        std::string cmdline;
        auto sid = std::to_string(server_id);
        if (argv.size() == 4) resp::appendCommand(cmdline, {"CLIENT", "UNBLOCK", sid, argv[3]});
        else resp::appendCommand(cmdline, {"CLIENT", "UNBLOCK", sid});
        Slot& slot = newSlot();
        ++inflight_;
        worker_.backend(static_cast<int>(named - backends.begin())).sendToNode(e.blocked_on->node, id_, cmdline, &slot);
        return Outcome::kDone;
    }
    // Other CLIENT subcommands (HELP, unknown ones) get the backend's own answer.
    return forward(cmd, argv, raw);
}

namespace {
std::string join(const std::vector<int>& backends, const config::Config& cfg) {
    std::string out;
    std::vector<int> seen;
    for (int b : backends) {
        if (std::find(seen.begin(), seen.end(), b) != seen.end()) continue;
        seen.push_back(b);
        if (!out.empty()) out += ",";
        out += cfg.backends[static_cast<size_t>(b)].name;
    }
    return out.empty() ? "-" : out;
}
}  // namespace

// LAMINAR STATUS | ROUTE <command> [args...] | RELOAD: laminar's own admin commands.
Session::Outcome Session::cmdLaminar(std::span<const std::string_view> argv) {
    std::string_view sub = argv.size() > 1 ? argv[1] : std::string_view();
    const auto& snapshot = *worker_.snapshot();
    const auto& cfg = snapshot.config();
    if (equalsIgnoreCase(sub, "STATUS") && argv.size() == 2) {
        reply(bulk(worker_.host().statusText(worker_)));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "ROUTE") && argv.size() >= 3) {
        auto cmdargv = argv.subspan(2);
        const resp::CommandInfo* cmd = resp::lookupCommand(cmdargv);
        if (!cmd) {
            replyError("ERR laminar: unknown command '" + std::string(cmdargv[0]) + "'");
            return Outcome::kDone;
        }
        std::vector<int> keys;
        resp::keyIndices(*cmd, cmdargv, keys);
        std::string error;
        const policy::Route* route = snapshot.route(*cmd, cmdargv, keys, error);
        if (!route) {
            replyError(error);
            return Outcome::kDone;
        }
        policy::Request req{cmdargv, {}, cmd, keys};
        policy::Context ctx = context(*route);
        std::vector<int> reads, writes;
        bool write = cmd->has(resp::kWrite);
        route->strategy->targets(req, ctx, false, reads);
        if (write) route->strategy->targets(req, ctx, true, writes);
        std::string out;
        resp::appendArrayHeader(out, 10);
        for (std::string_view v : {std::string_view("route"), std::string_view(route->name), std::string_view("strategy")}) resp::appendBulk(out, v);
        resp::appendBulk(out, route->strategy->describe());
        resp::appendBulk(out, "class");
        resp::appendBulk(out, write ? "write" : "read");
        resp::appendBulk(out, "reads");
        resp::appendBulk(out, write ? std::string("-") : join(reads, cfg));
        resp::appendBulk(out, "writes");
        resp::appendBulk(out, write ? join(writes, cfg) : std::string("-"));
        reply(out);
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "RELOAD") && argv.size() == 2) {
        // The reload runs on the main thread; its answer comes back to this thread's slot.
        Slot& slot = newSlot();
        ++inflight_;
        Worker* worker = &worker_;
        Slot* target = &slot;
        worker_.host().reloadAsync([worker, target](std::string error) {
            worker->post([target, error = std::move(error)] {
                std::string out;
                if (error.empty()) out = "+OK\r\n";
                else resp::appendError(out, "ERR laminar: reload failed, the running configuration stays: " + error);
                target->complete(out, false);
            });
        });
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "BACKFILL")) {
        reply(worker_.host().backfillCommand(worker_, argv));
        return Outcome::kDone;
    }
    replyError("ERR laminar: unknown subcommand; use LAMINAR STATUS, LAMINAR ROUTE <command> <args...>, LAMINAR RELOAD or LAMINAR BACKFILL");
    return Outcome::kDone;
}

Session::Outcome Session::cmdInfo(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw) {
    bool laminar_only = false, with_laminar = argv.size() == 1;
    for (std::string_view section : argv.subspan(1)) {
        if (equalsIgnoreCase(section, "laminar")) laminar_only = argv.size() == 2, with_laminar = true;
        for (std::string_view all : {"all", "everything", "default"}) with_laminar = with_laminar || equalsIgnoreCase(section, all);
    }
    if (laminar_only) {
        reply(bulk(worker_.host().infoSection(worker_)));
        return Outcome::kDone;
    }
    if (with_laminar) next_kind_ = SlotKind::kInfo;
    Outcome out = forward(cmd, argv, raw);
    next_kind_ = SlotKind::kPlain;
    return out;
}

std::string Session::transformInfo(std::string_view backend_reply) const {
    auto header_end = backend_reply.find("\r\n");
    std::string_view body = backend_reply.substr(header_end + 2, backend_reply.size() - header_end - 4);
    std::string merged = worker_.host().infoSection(worker_);
    merged += "\r\n";
    merged += body;
    return bulk(merged);
}

}  // namespace laminar::net

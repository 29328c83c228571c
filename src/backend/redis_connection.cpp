// SPDX-License-Identifier: Apache-2.0
#include "backend/redis_connection.h"
#include "obs/logging.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "io/memory.h"
#include "io/socket_io.h"
#include "io/write_ahead.h"
#include "resp/writer.h"

namespace laminar::backend {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::milliseconds kProbeEvery{1000};
constexpr size_t kReadChunk = 16 * 1024;
// What one connection reads in one event-loop turn before the thread's other sockets get theirs:
// a connection streaming big replies (a client's bulk lane) would otherwise hold the thread for
// as long as the server keeps its socket full, and every other client's reply would wait.
constexpr size_t kTurnBudget = 256 * 1024;
// A paced connection (a bulk lane's) reads on kBulkPause after each budget, not in the next turn:
// at most 256 MB/s. Read as fast as the client takes them, big replies keep the I/O thread, the
// server and the client each on a core, and every other client's command then waits for a CPU at
// each hop (a bystander kept 2% to 13% of its rate on 2 cores); paced, they sleep between reads,
// and a woken thread runs at once.
constexpr std::chrono::microseconds kBulkPause{1000};
constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";

std::string describe(const error_code& ec) {
    if (ec == asio::error::connection_refused) return "connection refused";
    if (ec == asio::error::eof) return "connection closed by server";
    if (ec == asio::error::connection_reset) return "connection reset";
    return ec.message();
}

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("backend");
    return l;
}
}  // namespace

RedisConnection::RedisConnection(asio::io_context& ioc, io::Poller& poller, const config::BackendConfig& cfg, bool dedicated)
    : ioc_(ioc), poller_(poller), cfg_(cfg), dedicated_(dedicated), socket_(ioc), timer_(ioc), resolver_(ioc), retry_(ioc),
      probe_timer_(ioc), read_timer_(ioc) {
    identity_->node = cfg_.address;
    if (!cfg_.tls) return;
    try {
        tls_ctx_ = io::TlsContext::client(*cfg_.tls, cfg_.address.host);
    } catch (const std::exception& e) {
        tls_error_ = std::string("TLS setup failed: ") + e.what();  // checked at load; a file may vanish since
    }
}

RedisConnection::~RedisConnection() {
    if (aside_) aside_->close("closing");
    closeSocket();
}

void RedisConnection::closeSocket() {
    if (fd_ >= 0) {
        if (tls_ && state_ == State::kReady) tls_->shutdown();
        tls_.reset();
        poller_.remove(fd_, this);
        ::close(fd_);
        fd_ = -1;
    }
    error_code ignored;
    socket_.close(ignored);
}

namespace {
// Sent in place of a command laminar refuses on a held cluster connection: Redis answers an unknown
// command with an error and, inside MULTI, makes the EXEC that follows fail with EXECABORT, as it
// does for any command refused while queueing. The client gets laminar's error instead.
constexpr std::string_view kRefused = "*1\r\n$15\r\nLAMINAR-REFUSED\r\n";

struct ReplaceSink final : ReplySink {
    ReplySink* client = nullptr;
    std::string reply;
    void complete(std::string_view raw, bool failed) override {
        if (failed) client->complete(raw, true);
        else client->complete(reply, false);
        delete this;
    }
};
}  // namespace

bool RedisConnection::route(std::string_view& raw, ReplySink*& sink, bool blocking) {
    Target t = router_(raw);
    if (t.wait && !targeted_) {
        hold(raw, sink, blocking);
        return false;
    }
    std::string refusal = t.error;
    if (refusal.empty() && targeted_ && !t.keyless && !(t.to == cfg_.address))
        refusal = fmt::format("-CROSSSLOT laminar: this client is held on cluster node {} (MULTI, WATCH, a blocking command or "
                              "pub/sub) and this command's keys are served by {}\r\n",
                              cfg_.address.str(), t.to.str());
    if (!refusal.empty()) {
        if (!targeted_) {
            // No node yet: refused here; a MULTI already answered must still fail at EXEC.
            if (deferred_multi_) multi_refused_ = true;
            sink->complete(refusal, false);
            return false;
        }
        auto* replace = new ReplaceSink;
        replace->client = sink;
        replace->reply = std::move(refusal);
        raw = kRefused;
        sink = replace;
        return true;
    }
    if (targeted_) return true;
    if (t.multi) {
        deferred_multi_ = true;
        sink->complete("+OK\r\n", false);
        return false;
    }
    retarget(t.to);
    if (deferred_multi_) {
        deferred_multi_ = false;
        resp::appendCommand(out_, {"MULTI"});
        pending_.push_back({nullptr, io::Poller::loopTime(), false, false, false});
        if (multi_refused_) {
            multi_refused_ = false;
            out_.append(kRefused);
            pending_.push_back({&discardSink(), io::Poller::loopTime(), false, false, false});
        }
    }
    return true;
}

void RedisConnection::hold(std::string_view raw, ReplySink* sink, bool blocking) {
    held_.push_back({std::string(raw), sink, blocking, io::Poller::loopTime()});
}

// Once the router places one command it places every later one (a slot map, once loaded, is only
// ever replaced), so nothing is held twice. A command sent while these go (from a sink) is held
// behind them, and goes in turn.
void RedisConnection::routeWaiting() {
    if (held_.empty() || router_(held_.front().raw).wait) return;
    auto self = shared_from_this();  // a sink may drop the last owner
    while (!held_.empty()) {
        Held h = std::move(held_.front());
        held_.pop_front();
        if (h.sink) sendInOrder(h.raw, h.sink, h.blocking);
        else relayInOrder(h.raw);
    }
}

void RedisConnection::expireWaiting(std::chrono::steady_clock::time_point cutoff, std::string_view error) {
    if (held_.empty()) return;
    auto self = shared_from_this();
    while (!held_.empty() && held_.front().since <= cutoff) {
        Held h = std::move(held_.front());
        held_.pop_front();
        if (h.sink) h.sink->complete(error, true);
        else if (relay_) relay_->complete(error, true);
    }
}

void RedisConnection::retarget(const config::Endpoint& to) {
    targeted_ = true;
    cfg_.name += "@" + to.str();
    cfg_.address = to;
    identity_->node = to;  // before any connection, so before any id
    if (!cfg_.tls) return;
    try {
        tls_ctx_ = io::TlsContext::client(*cfg_.tls, cfg_.address.host);
        tls_error_.clear();
    } catch (const std::exception& e) {
        tls_error_ = std::string("TLS setup failed: ") + e.what();
    }
}

void RedisConnection::send(std::string_view raw, ReplySink* sink, bool blocking) {
    if (!held_.empty()) return hold(raw, sink, blocking);  // behind those held, in order
    sendInOrder(raw, sink, blocking);
}

void RedisConnection::sendInOrder(std::string_view raw, ReplySink* sink, bool blocking) {
    if (router_ && state_ != State::kDown && !route(raw, sink, blocking)) return;  // may swap in kRefused
    if (state_ == State::kDown) {
        sink->complete(unavailableError(cfg_.name, last_error_), true);
        return;
    }
    if (state_ == State::kIdle) connect();
    if (state_ == State::kDown) {  // connect() can fail at once
        sink->complete(unavailableError(cfg_.name, last_error_), true);
        return;
    }
    if (stall_ == Stall::kBusy && !dedicated_) {
        // Contract 8: queued here it would wait for the script to end; Redis answers its other
        // clients at once.
        sink->complete(busy_reply_, false);
        return;
    }
    out_.append(raw);
    pending_.push_back({sink, io::Poller::loopTime(), blocking, false, false});
    if (state_ == State::kReady) {
        scheduleFlush();
        armWatchdog();
    }
}

void RedisConnection::sendRelayed(std::string_view raw) {
    if (!held_.empty()) return hold(raw, nullptr, false);
    relayInOrder(raw);
}

void RedisConnection::relayInOrder(std::string_view raw) {
    if (router_ && !targeted_ && state_ == State::kIdle) {
        Target t = router_(raw);
        if (t.wait) return hold(raw, nullptr, false);
        if (!t.error.empty()) {
            if (relay_) relay_->complete(t.error, false);
            return;
        }
        retarget(t.to);
    }
    if (state_ == State::kIdle) connect();
    if (state_ == State::kDown) {
        if (relay_) relay_->complete(unavailableError(cfg_.name, last_error_), true);
        return;
    }
    out_.append(raw);
    if (state_ == State::kReady) scheduleFlush();
}

void RedisConnection::appendHandshake() {
    if (cfg_.password) {
        if (cfg_.username) resp::appendCommand(out_, {"AUTH", *cfg_.username, *cfg_.password});
        else resp::appendCommand(out_, {"AUTH", *cfg_.password});
        pending_.push_back({nullptr, std::chrono::steady_clock::now(), false, false, false});
    }
    if (bare_) return;
    if (resp3_) {
        resp::appendCommand(out_, {"HELLO", "3"});
        pending_.push_back({nullptr, std::chrono::steady_clock::now(), false, false, false});
    }
    if (cfg_.db != 0) {
        auto db = std::to_string(cfg_.db);
        resp::appendCommand(out_, {"SELECT", db});
        pending_.push_back({nullptr, std::chrono::steady_clock::now(), false, false, false});
    }
    if (dedicated_) {
        resp::appendCommand(out_, {"CLIENT", "ID"});
        pending_.push_back({nullptr, std::chrono::steady_clock::now(), false, true, false});
    } else {
        appendProbe();
    }
}

// A shared connection is up when Redis answers on it, not when the kernel accepts the connect (a
// stopped server's kernel still does): a PING goes first on every connect, and again whenever the
// connection has been quiet for kProbeEvery, so the watchdog's `timeout` catches a server that
// stopped answering while nobody was sending.
void RedisConnection::appendProbe() {
    out_.append(kPing);
    pending_.push_back({nullptr, io::Poller::loopTime(), false, false, true});
}

void RedisConnection::armProbe() {
    auto gen = generation_;
    probe_timer_.expires_after(kProbeEvery);
    probe_timer_.async_wait([this, self = shared_from_this(), gen](const error_code& e) {
        if (e || gen != generation_ || state_ != State::kReady) return;
        if (pending_.empty() && std::chrono::steady_clock::now() - last_received_ >= kProbeEvery) {
            appendProbe();
            scheduleFlush();
            armWatchdog();
        }
        armProbe();
    });
}

void RedisConnection::connect() {
    ++generation_;
    state_ = State::kConnecting;
    // The handshake goes before anything already queued: swap it in front.
    std::string queued;
    queued.swap(out_);
    std::deque<Pending> waiting;
    waiting.swap(pending_);
    appendHandshake();
    out_.append(queued);
    for (auto& p : waiting) pending_.push_back(p);

    closeSocket();
    if (!tls_error_.empty()) {
        fail(tls_error_);
        return;
    }
    auto self = shared_from_this();
    auto gen = generation_;
    timer_.expires_after(cfg_.connect_timeout);
    timer_.async_wait([this, self, gen](const error_code& e) {
        if (e || gen != generation_ || state_ != State::kConnecting) return;
        fail("connect timed out after " + std::to_string(cfg_.connect_timeout.count()) + "ms");
    });
    error_code ec;
    auto address = asio::ip::make_address(cfg_.address.host == "localhost" ? "127.0.0.1" : cfg_.address.host, ec);
    if (!ec) {
        connectTo({address, cfg_.address.port});
        return;
    }
    // A host name (a container's, a service's): resolved at every connect, so a backend that
    // moves to another address is found again on reconnect.
    resolver_.async_resolve(cfg_.address.host, std::to_string(cfg_.address.port),
                            [this, self, gen](const error_code& e, asio::ip::tcp::resolver::results_type results) {
                                if (gen != generation_ || state_ != State::kConnecting) return;
                                if (e || results.empty()) {
                                    fail("cannot resolve '" + cfg_.address.host + "': " + (e ? e.message() : "no address"));
                                    return;
                                }
                                connectTo(results.begin()->endpoint());
                            });
}

void RedisConnection::connectTo(const asio::ip::tcp::endpoint& endpoint) {
    auto self = shared_from_this();
    auto gen = generation_;
    socket_.async_connect(endpoint, [this, self, gen](const error_code& e) {
        if (gen != generation_ || state_ != State::kConnecting) return;
        if (e) {
            fail(describe(e));
            return;
        }
        onConnected();
    });
}

void RedisConnection::onConnected() {
    error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    // From here the poller drives this socket (see io/poller.h for why not Asio).
    fd_ = socket_.release(ec);
    if (fd_ < 0 || !poller_.add(fd_, this)) {
        fail("cannot watch the socket: " + ec.message());
        return;
    }
    if (!tls_ctx_) {
        onReady();
        return;
    }
    // Still connecting (the connect timer runs on) until the handshake is over.
    try {
        tls_ = std::make_unique<io::TlsChannel>(tls_ctx_, fd_);
    } catch (const std::exception& e) {
        fail(e.what());
        return;
    }
    continueHandshake();
}

void RedisConnection::continueHandshake() {
    switch (tls_->handshake()) {
        case io::IoStatus::kDone:
            log()->debug("connection to backend '{}' at {}: {} handshake done", cfg_.name, cfg_.address.str(), tls_->version());
            onReady();
            return;
        case io::IoStatus::kWouldBlock:
            return;
        default:
            fail(tls_->error());
            return;
    }
}

void RedisConnection::onReady() {
    timer_.cancel();
    maybe_readable_ = true;
    peer_closed_ = false;
    state_ = State::kReady;
    // Per connection, so at debug: the backend logs its own up/down once per transition.
    if (backoff_ > std::chrono::milliseconds(100) || !last_error_.empty())
        log()->debug("connection to backend '{}' at {} is up", cfg_.name, cfg_.address.str());
    backoff_ = std::chrono::milliseconds(100);
    last_error_.clear();
    last_received_ = io::Poller::loopTime();
    // A shared connection that failed before is up again when its probe is answered (dispatch).
    if (observer_ && answered_) observer_->connectionChanged({});
    if (!dedicated_) armProbe();
    readAll();
    if (!out_.empty()) scheduleFlush();
    if (!pending_.empty()) armWatchdog();
}

void RedisConnection::scheduleFlush() {
    if (flush_posted_) return;
    flush_posted_ = true;
    // Posted, not written now: every client whose request arrived in this event-loop turn adds
    // its commands first, so they all leave in one write.
    asio::post(ioc_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
    });
}

void RedisConnection::scheduleRead() {
    if (read_posted_) return;
    read_posted_ = true;
    auto next = [self = shared_from_this(), gen = generation_] {
        self->read_posted_ = false;
        if (gen != self->generation_) return;
        io::Poller::touch();  // outside a poll round
        self->readAll();
    };
    if (!paced_) {
        asio::post(ioc_, std::move(next));
        return;
    }
    read_timer_.expires_after(kBulkPause);
    read_timer_.async_wait([next = std::move(next)](const error_code&) { next(); });
}

// Writes what the socket takes now; the rest waits for the poller's EPOLLOUT edge.
void RedisConnection::flush() {
    if (state_ != State::kReady) return;
    io::beforeSend();  // the write-ahead records of what out_ holds are written first
    io::IoStatus st = tls_ ? tls_->send(out_, out_off_) : io::sendPending(fd_, out_, out_off_);
    if (st == io::IoStatus::kWouldBlock) return;
    if (st == io::IoStatus::kError) {
        fail(ioError());
        return;
    }
    out_.clear();
    out_off_ = 0;
    if (out_.capacity() >= io::kLargeFree) {
        std::string().swap(out_);
        io::freedLarge();
    }
}

void RedisConnection::onEvents(uint32_t events) {
    auto self = shared_from_this();  // a sink may drop the last owner
    if (state_ == State::kConnecting && tls_) {
        continueHandshake();
        return;
    }
    if (state_ != State::kReady) return;
    auto gen = generation_;
    // A TLS read may wait for the socket to take a write and the other way round: with TLS any
    // event retries both.
    if ((events & EPOLLOUT) || tls_) flush();
    if (gen != generation_) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) maybe_readable_ = true;
    // The server closed its side: the FIN may have come with the last replies, and the edge that
    // told of both was the last one. Read until the end is seen, not until a short read.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) peer_closed_ = true;
    if (paced_ && read_posted_) return;  // its pause is not over: the timer reads
    readAll();
}

std::string RedisConnection::ioError() const {
    if (tls_ && !tls_->error().empty()) return tls_->error();
    return describe(error_code(errno, boost::system::system_category()));
}

// Reads until the socket is empty (a read shorter than asked for), dispatching every reply; past
// kTurnBudget bytes, the rest is read in a later turn (posted: the edge has passed).
void RedisConnection::readAll() {
    auto gen = generation_;
    size_t budget = kTurnBudget;
    while (maybe_readable_ && gen == generation_ && state_ == State::kReady) {
        if (budget == 0) {
            scheduleRead();
            return;
        }
        bool drained = false;
        const size_t before = in_.size();
        auto st = tls_ ? tls_->recv(in_, kReadChunk / 4, 0, drained) : io::recvSome(fd_, in_, kReadChunk / 4, 0, drained, budget);
        switch (st) {
            case io::IoStatus::kWouldBlock:
                maybe_readable_ = false;
                return;
            case io::IoStatus::kClosed:
                fail("connection closed by server");
                return;
            case io::IoStatus::kError:
                fail(ioError());
                return;
            case io::IoStatus::kDone:
                break;
        }
        budget -= std::min(budget, in_.size() - before);
        last_received_ = io::Poller::loopTime();
        if (stall_ == Stall::kBusy) log()->info("backend '{}' at {} answers again after a script", cfg_.name, cfg_.address.str());
        if (stall_ != Stall::kNone || aside_) endStall();
        maybe_readable_ = !drained || peer_closed_;
        dispatchReplies();
    }
}

// Hands every complete reply in the buffer to its sink (or the relay).
void RedisConnection::dispatchReplies() {
    auto gen = generation_;
    while (!in_.empty()) {
        auto st = scanner_.scan(in_.data());
        if (st == resp::ParseStatus::kIncomplete) break;
        if (st == resp::ParseStatus::kError) {
            fail("protocol error from server: " + scanner_.error());
            return;
        }
        size_t len = scanner_.consumed();
        char type = scanner_.type();
        dispatch(in_.data().substr(0, len), type);
        if (gen != generation_) return;  // a sink closed us
        in_.consume(len);
        scanner_.reset();
    }
    if (in_.empty() && in_.capacity() > 4 * kReadChunk) in_.shrinkTo(kReadChunk);
}

void RedisConnection::dispatch(std::string_view reply, char type) {
    // The handshake's replies come first, whatever mode the connection was put in meanwhile.
    bool handshake = !pending_.empty() && pending_.front().sink == nullptr;
    if (!handshake && relay_ && (relay_all_ || type == '>')) {
        relay_->complete(reply, false);
        return;
    }
    if (!handshake && type == '>') return;  // a push nobody subscribed to here: no command's reply
    if (pending_.empty()) {
        fail("unexpected reply from server");
        return;
    }
    Pending p = pending_.front();
    pending_.pop_front();
    if (p.sink) {
        if (observer_) {
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(io::Poller::loopTime() - p.sent).count();
            observer_->replyLatency(static_cast<uint32_t>(std::max<long long>(0, us)));
        }
        if (type == '-' && redirected_) {
            if (auto instead = redirected_(reply, cfg_.address); !instead.empty()) {
                p.sink->complete(instead, false);
                return;
            }
        }
        p.sink->complete(reply, false);
        return;
    }
    // A handshake reply: an error means this connection cannot serve (bad password, bad db). A
    // probe answered -BUSY is answered: the server runs another connection's script.
    if (type == '-' && !(p.probe && reply.starts_with("-BUSY"))) {
        std::string msg(reply.substr(1));
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
        fail("handshake failed: " + msg);
    } else if (p.client_id && type == ':') {
        identity_->id.store(std::strtoll(std::string(reply.substr(1)).c_str(), nullptr, 10), std::memory_order_release);
    } else if (p.probe && !answered_) {
        answered_ = true;
        if (observer_) observer_->connectionChanged({});
    }
}

void RedisConnection::close(std::string_view why) {
    closed_ = true;
    retry_.cancel();
    expireWaiting(std::chrono::steady_clock::time_point::max(), unavailableError(cfg_.name, why));
    if (state_ == State::kDown || state_ == State::kIdle) {
        state_ = State::kDown;
        last_error_ = std::string(why);
        return;
    }
    fail(std::string(why));
}

void RedisConnection::fail(std::string why, std::string error) {
    bool was_up = state_ == State::kReady;
    endStall();
    ++generation_;
    state_ = State::kDown;
    answered_ = false;
    probe_timer_.cancel();
    flush_posted_ = false;
    watchdog_armed_ = false;
    closeSocket();
    out_off_ = 0;
    timer_.cancel();
    out_.clear();
    in_.consume(in_.size());
    scanner_.reset();
    last_error_ = why;
    if (!closed_ && (was_up || backoff_ == std::chrono::milliseconds(100)))
        log()->debug("connection to backend '{}' at {} is down: {}", cfg_.name, cfg_.address.str(), why);

    if (observer_) {
        if (!closed_) observer_->commandFailed();
        observer_->connectionChanged(why);
    }
    std::deque<Pending> failed;
    failed.swap(pending_);
    if (error.empty()) error = unavailableError(cfg_.name, why);
    auto gen = generation_;
    auto self = shared_from_this();  // a sink may drop the last owner
    for (auto& p : failed)
        if (p.sink) p.sink->complete(error, true);
    if (relay_) relay_->complete(error, true);
    if (gen != generation_ || dedicated_ || closed_) return;

    retry_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    retry_.async_wait([this, self, gen](const error_code& e) {
        if (e || gen != generation_ || state_ != State::kDown) return;
        connect();
    });
}

void RedisConnection::armWatchdog() {
    if (watchdog_armed_) return;
    watchdog_armed_ = true;
    auto tick = std::clamp(cfg_.timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
    timer_.expires_after(tick);
    auto gen = generation_;
    timer_.async_wait([this, self = shared_from_this(), gen](const error_code& e) {
        if (e || gen != generation_) return;
        watchdog_armed_ = false;
        onWatchdog();
    });
}

// The timeout measures a lack of progress, not the age of a command: the oldest pending reply is
// overdue when nothing has been received for `timeout` since it was sent. A healthy server that
// streams a long queue of big replies (one client pipelining GETs of megabytes) keeps every
// command behind them alive; a paused or dead one fails them all after `timeout`, or after the
// probe of contract 8 says it is not running a script.
void RedisConnection::onWatchdog() {
    if (pending_.empty() || state_ != State::kReady) return;
    const auto& oldest = pending_.front();
    // A command behind a probe that is not answered is owed its reply from when it was sent.
    auto owed = oldest.probe && pending_.size() > 1 ? pending_[1].sent : oldest.sent;
    auto now = std::chrono::steady_clock::now();
    auto quiet = now - std::max(owed, last_received_);
    if (oldest.blocking || quiet < cfg_.timeout) {
        armWatchdog();
        return;
    }
    if (oldest.probe && pending_.size() == 1) {
        // Only the probe waits: the server is not answering, but no client is, and a reconnect
        // could not tell more. The connection stays and is reported down until the answer
        // comes (a stall ends without a reconnect and its backoff); a command sent meanwhile
        // is timed out as any.
        if (answered_) {
            answered_ = false;
            if (observer_) observer_->connectionChanged(fmt::format("no answer to PING within {}ms", cfg_.timeout.count()));
        }
        return;
    }
    switch (stall_) {
        case Stall::kNone:
            if (bare_) break;
            armWatchdog();              // first: a probe that fails at once fails this connection
            if (!aside_) probeAside();  // its answer decides
            return;
        case Stall::kBusy:
            if (quiet >= cfg_.busy_timeout) {
                fail(fmt::format("busy running a script for over {}ms (busy_timeout)", cfg_.busy_timeout.count()),
                     busyError(cfg_.name, cfg_.busy_timeout.count()));
                return;
            }
            armWatchdog();
            if (!aside_ && now - stall_mark_ >= cfg_.timeout) probeAside();  // still busy?
            return;
        case Stall::kFree:
            if (now - stall_mark_ < cfg_.timeout) {
                armWatchdog();
                return;
            }
            break;
    }
    fail("timed out after " + std::to_string(cfg_.timeout.count()) + "ms", timeoutError(cfg_.name, cfg_.timeout.count()));
}

namespace {
struct AsideAnswer final : ReplySink {
    std::weak_ptr<RedisConnection> owner;
    uint64_t token = 0;
    std::function<void(RedisConnection&, uint64_t, std::string_view, bool)> deliver;
    void complete(std::string_view raw, bool failed) override {
        if (auto o = owner.lock()) deliver(*o, token, raw, failed);
        delete this;
    }
};
}  // namespace

void RedisConnection::probeAside() {
    io::Poller::touch();  // from a timer, outside a poll round: the probe's clock starts now
    aside_ = std::make_shared<RedisConnection>(ioc_, poller_, cfg_, true);
    aside_->setBare();
    auto* answer = new AsideAnswer;
    answer->owner = weak_from_this();
    answer->token = aside_token_;
    answer->deliver = [](RedisConnection& c, uint64_t token, std::string_view raw, bool failed) { c.onAsideAnswer(token, raw, failed); };
    auto conn = aside_;  // the answer may come at once (a refused connect) and end the stall
    conn->start();
    conn->send(kPing, answer, false);
}

void RedisConnection::onAsideAnswer(uint64_t token, std::string_view reply, bool failed) {
    if (token != aside_token_ || !aside_) return;  // the stall ended before the answer
    // Not closed from inside its own call (it has nothing left pending).
    asio::post(ioc_, [c = std::move(aside_)] { c->close("answered"); });
    auto line = reply.substr(0, reply.find('\r'));
    if (failed) {
        // `why` stays the plain timeout's: commands sent while down read it in their error.
        log()->debug("connection to backend '{}' at {}: the probe on a new connection failed: {}", cfg_.name, cfg_.address.str(),
                     line.substr(1));
        fail("timed out after " + std::to_string(cfg_.timeout.count()) + "ms", timeoutError(cfg_.name, cfg_.timeout.count()));
        return;
    }
    stall_mark_ = std::chrono::steady_clock::now();
    if (!reply.starts_with("-BUSY")) {
        stall_ = Stall::kFree;
        return;
    }
    if (stall_ != Stall::kBusy)
        log()->warn("backend '{}' at {} is running a script ({}); {} commands wait behind it for up to busy_timeout ({}ms), and "
                    "new ones get -BUSY",
                    cfg_.name, cfg_.address.str(), line.substr(1), pending_.size(), cfg_.busy_timeout.count());
    stall_ = Stall::kBusy;
    busy_reply_ = std::string(line) + "\r\n";
}

// Closes the probe's connection now rather than from a posted handler, which a stopping
// io_context may never run: its unanswered command's sink would then be lost.
void RedisConnection::endStall() {
    stall_ = Stall::kNone;
    ++aside_token_;  // first: the close answers the probe, and that answer is stale
    if (auto conn = std::move(aside_)) conn->close("no longer needed");
}

}  // namespace laminar::backend

// SPDX-License-Identifier: Apache-2.0
// Pinning: a client in a stateful mode (MULTI, WATCH, blocking, pub/sub, SELECT) gets a
// dedicated backend connection, kept across reloads only when its backend and route stay. A
// transaction is pinned to the backend of its keys: MULTI is held until the first command that
// has a backend to go to.
#include "net/session.h"

#include <fmt/format.h>

#include "net/host.h"
#include "net/invalidations.h"
#include "net/worker.h"
#include "net/session_internal.h"

namespace laminar::net {

bool Session::refusePin(int backend, std::string_view what) {
    auto& b = worker_.backend(backend);
    if (b.dedicated()) return false;
    replyError(fmt::format("ERR laminar: '{}' is not supported by {} backend '{}': it needs a connection of its own (MULTI, WATCH, "
                           "blocking commands, pub/sub, SELECT)",
                           what, b.config().typeName(), b.name()));
    return true;
}

bool Session::pin(int backend) {
    if (inflight_ > 0) {
        drain_wait_ = true;
        return false;
    }
    pinned_owner_ = worker_.backendPtr(backend);
    pinned_ = pinned_owner_->dedicated()->acquireDedicated(resp3_);
    pinned_resp3_ = resp3_;
    pinned_backend_ = backend;
    pinned_inflight_ = 0;
    pinned_->setRelay(&relay_, false);  // RESP3 pushes
    worker_.stats().pinned.add(1);
    if (multi_held_) {
        // The client had its +OK and QUEUEDs already: the backend's are dropped.
        pinned_->send(kMultiCommand, &backend::discardSink(), false);
        for (const auto& h : held_) pinned_->send(h.raw, &backend::discardSink(), false);
        multi_held_ = false;
        held_.clear();
    }
    return true;
}

// Redis Cluster runs a transaction on the node of its keys and refuses (CROSSSLOT) a key of
// another; laminar does the same with backends. A MULTI outside any pinned state is answered at
// once and held; the transaction's first command with a backend to go to (a key's route, or the
// catch-all's for a keyless command routed there) pins the client there and sends MULTI and what
// was queued before it. A later command for another backend is refused, and so EXEC aborts the
// whole transaction. Until it has a backend, PING, ECHO and UNWATCH are held here: they get QUEUED
// and their replies in EXEC's array; EXEC of such a transaction answers that array (`*0` for an
// empty one), with what laminar queued for itself (queueForExec) run in its place, DISCARD +OK, as
// Redis would.
std::optional<Session::Outcome> Session::transactionCommand(Local local, std::span<const std::string_view> argv, std::string_view raw) {
    // Redis answers these two at once and leaves the transaction as it was.
    auto refuseKeepingTransaction = [&](std::string_view msg) {
        worker_.stats().countError(obs::ErrorKind::kCommand, routed_);
        std::string line;
        resp::appendError(line, msg);
        reply(line);
        return Outcome::kDone;
    };
    if (local == Local::kMulti && in_multi_) return refuseKeepingTransaction("ERR MULTI calls can not be nested");
    if (local == Local::kWatch && in_multi_) return refuseKeepingTransaction("ERR WATCH inside MULTI is not allowed");
    if (local == Local::kMulti) {
        // Pinned (WATCH, SELECT...): the transaction runs there. No backend that can
        // hold one: refused as MULTI was before (the catch-all's backend names the reason).
        if (pinned_ || !canHoldTransaction()) return std::nullopt;
        in_multi_ = multi_held_ = true;
        multi_refused_ = false;
        held_.clear();
        tx_ = {};
        reply("+OK\r\n");
        return Outcome::kDone;
    }
    if (!multi_held_) return std::nullopt;
    switch (local) {
        case Local::kPing:
            ++tx_.queued;
            held_.push_back({std::string(raw), argv.size() == 1   ? std::string("+PONG\r\n")
                                               : argv.size() == 2 ? bulk(argv[1])
                                                                  : "-" + std::string(kPingArityError) + "\r\n"});
            reply("+QUEUED\r\n");
            return Outcome::kDone;
        case Local::kEcho:
            ++tx_.queued;
            held_.push_back({std::string(raw), bulk(argv[1])});
            reply("+QUEUED\r\n");
            return Outcome::kDone;
        case Local::kUnwatch:
            ++tx_.queued;
            held_.push_back({std::string(raw), "+OK\r\n"});
            reply("+QUEUED\r\n");
            return Outcome::kDone;
        case Local::kHello:
        case Local::kSelect: {
            // These go to the catch-all's backend (or a pin): the transaction opens there, so they
            // are queued in it as Redis queues them, not run on a shared connection before it.
            int target = worker_.snapshot()->routes().back().strategy->pinTarget();
            if (refusePin(target, local == Local::kHello ? "hello" : "select")) return Outcome::kDone;
            if (!pin(target)) return Outcome::kPause;
            return std::nullopt;
        }
        case Local::kExec: {
            // What laminar queued itself runs now, in its place between the held replies. A CLIENT
            // REPLY among them applies from the next command: EXEC's reply goes out as the mode
            // was when EXEC came.
            const bool refused = multi_refused_;
            const ReplyMode at_exec = reply_mode_;
            std::string array = "*" + std::to_string(tx_.queued) + "\r\n";
            if (!refused) {
                auto held = held_.begin();
                auto entry = tx_.entries.begin();
                for (size_t i = 0; i < tx_.queued; ++i) {
                    if (entry != tx_.entries.end() && entry->index == i) array += runQueued(*entry++);
                    else if (held != held_.end()) array += (held++)->reply;
                }
            }
            const ReplyMode after = reply_mode_;
            reply_mode_ = at_exec;
            endHeldTransaction();
            if (refused) {
                worker_.stats().countError(obs::ErrorKind::kRefused, routed_);
                reply(kExecAbortReply);
            } else {
                reply(array);
            }
            if (after != at_exec) reply_mode_ = after;
            return Outcome::kDone;
        }
        case Local::kDiscard:
            endHeldTransaction();
            reply("+OK\r\n");
            return Outcome::kDone;
        default:
            return std::nullopt;
    }
}

bool Session::canHoldTransaction() {
    for (size_t i = 0; i < worker_.backendCount(); ++i)
        if (worker_.backend(static_cast<int>(i)).dedicated()) return true;
    return false;
}

void Session::endHeldTransaction() {
    in_multi_ = multi_held_ = multi_refused_ = false;
    held_.clear();
    tx_ = {};
}

// After a reload. A client pinned to a dedicated connection (MULTI, WATCH, a blocking command,
// pub/sub, SELECT) keeps it when the reload left its backend as it was and every route
// that could pin to that backend still does. Otherwise its state cannot move with it: the backend
// is gone or its settings changed (its connections are being retired, and no command may go to a
// backend that is not configured), or a route it may be using now goes elsewhere (a BLPOP would
// wait on a list that is pushed on the other side, a WATCH would watch the wrong copy). Its state
// is ended as a restart of that Redis would end it: what is pending on the connection fails naming
// the backend and why, then the client's connection is closed, and the client reconnects into the
// running configuration.
void Session::afterReload(const policy::Snapshot& before) {
    // A reload may move where a key is read (a phase flip, a condition, a codec): what a tracking
    // client cached may no longer be what a read returns. Sent before anything routed with the
    // new configuration is answered.
    if (!closed_ && tracking_) worker_.host().invalidations().flush(id_);
    if (closed_ || !pinned_) return;
    std::string why = pinOutlivesReload(before);
    if (why.empty()) return;
    Guard guard(*this);
    sessionLog()->warn("client {} {} closed: it was pinned to backend '{}' (MULTI, WATCH, a blocking command, pub/sub or "
                "SELECT) and {}",
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
    return !in_multi_ && !watching_ && blocked_ == 0 && !relay_mode_ && !waiting_marker_ && resp3_ == pinned_resp3_ && !pushes_ && selected_db_ < 0 &&
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

}  // namespace laminar::net

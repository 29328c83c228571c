// SPDX-License-Identifier: Apache-2.0
// Pinning: a client in a stateful mode (MULTI, WATCH, blocking, pub/sub, SELECT, HELLO 3) gets a
// dedicated backend connection, kept across reloads only when its backend and route stay.
#include "net/session.h"

#include <fmt/format.h>

#include "net/worker.h"
#include "net/session_internal.h"

namespace laminar::net {

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
    sessionLog()->warn("client {} {} closed: it was pinned to backend '{}' (MULTI, WATCH, a blocking command, pub/sub, SELECT or "
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

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
// CLIENT TRACKING through laminar: the client's options, the keys it reads, what its writes
// change, and the invalidations it is sent (net/invalidations.h keeps the table).
#include "net/session.h"

#include <algorithm>

#include "net/client_registry.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "net/session_internal.h"
#include "net/worker.h"
#include "resp/writer.h"

namespace laminar::net {

Session::Outcome Session::cmdTracking(std::span<const std::string_view> argv) {
    // Redis 7.0's parsing and checks, in its order and with its texts.
    Invalidations::Mode mode;
    bool optin = false, optout = false;
    long long redirect = 0;
    std::vector<std::string> prefixes;
    for (size_t j = 3; j < argv.size(); ++j) {
        const bool more = j + 1 < argv.size();
        if (equalsIgnoreCase(argv[j], "REDIRECT") && more) {
            ++j;
            if (redirect != 0) {
                replyError("ERR A client can only redirect to a single other client");
                return Outcome::kDone;
            }
            if (!parseLong(argv[j], redirect)) {
                replyError("ERR value is not an integer or out of range");
                return Outcome::kDone;
            }
            ClientRegistry::Entry target;
            if (redirect <= 0 || !worker_.host().registry().find(static_cast<uint64_t>(redirect), target) || target.worker < 0) {
                replyError("ERR The client ID you want redirect to does not exist");
                return Outcome::kDone;
            }
            mode.redirect = static_cast<uint64_t>(redirect);
            mode.redirect_worker = target.worker;
        } else if (equalsIgnoreCase(argv[j], "BCAST")) {
            mode.bcast = true;
        } else if (equalsIgnoreCase(argv[j], "OPTIN")) {
            optin = true;
        } else if (equalsIgnoreCase(argv[j], "OPTOUT")) {
            optout = true;
        } else if (equalsIgnoreCase(argv[j], "NOLOOP")) {
            mode.noloop = true;
        } else if (equalsIgnoreCase(argv[j], "PREFIX") && more) {
            prefixes.emplace_back(argv[++j]);
        } else {
            replyError("ERR syntax error");
            return Outcome::kDone;
        }
    }
    auto& invalidations = worker_.host().invalidations();
    if (equalsIgnoreCase(argv[2], "OFF")) {
        if (tracking_) invalidations.disable(id_);
        tracking_.reset();
        reply("+OK\r\n");
        return Outcome::kDone;
    }
    if (!equalsIgnoreCase(argv[2], "ON")) {
        replyError("ERR syntax error");
        return Outcome::kDone;
    }
    if (!mode.bcast && !prefixes.empty()) {
        replyError("ERR PREFIX option requires BCAST mode to be enabled");
        return Outcome::kDone;
    }
    if (tracking_ && tracking_->bcast != mode.bcast) {
        replyError("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a "
                   "different mode.");
        return Outcome::kDone;
    }
    if (mode.bcast && (optin || optout)) {
        replyError("ERR OPTIN and OPTOUT are not compatible with BCAST");
        return Outcome::kDone;
    }
    if (optin && optout) {
        replyError("ERR You can't specify both OPTIN mode and OPTOUT mode");
        return Outcome::kDone;
    }
    if (tracking_ && ((optin && tracking_->optout) || (optout && tracking_->optin))) {
        replyError("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a "
                   "different mode.");
        return Outcome::kDone;
    }
    // Prefixes of one client must not overlap (one a prefix of the other): neither the ones it
    // has, nor the new ones among themselves.
    auto overlap = [](std::string_view a, std::string_view b) { return a.substr(0, b.size()) == b.substr(0, a.size()); };
    for (size_t i = 0; i < prefixes.size(); ++i) {
        if (tracking_) {
            for (const auto& had : tracking_->prefixes) {
                if (overlap(had, prefixes[i])) {
                    replyError("ERR Prefix '" + prefixes[i] + "' overlaps with an existing prefix '" + had +
                               "'. Prefixes for a single client must not overlap.");
                    return Outcome::kDone;
                }
            }
        }
        for (size_t k = i + 1; k < prefixes.size(); ++k) {
            if (overlap(prefixes[i], prefixes[k])) {
                replyError("ERR Prefix '" + prefixes[i] + "' overlaps with another provided prefix '" + prefixes[k] +
                           "'. Prefixes for a single client must not overlap.");
                return Outcome::kDone;
            }
        }
    }
    if (!tracking_) tracking_ = std::make_unique<Tracking>();
    auto& t = *tracking_;
    t.bcast = mode.bcast;
    t.optin = optin;
    t.optout = optout;
    t.noloop = mode.noloop;
    t.redirect = mode.redirect;
    t.broken = false;
    t.caching = Tracking::Caching::kUnset;
    if (mode.bcast) {
        if (prefixes.empty()) prefixes.emplace_back();  // every key
        for (auto& p : prefixes)
            if (std::find(t.prefixes.begin(), t.prefixes.end(), p) == t.prefixes.end()) t.prefixes.push_back(p);
        std::sort(t.prefixes.begin(), t.prefixes.end());
    }
    mode.prefixes = std::move(prefixes);
    invalidations.enable(id_, worker_.index(), std::move(mode));
    reply("+OK\r\n");
    return Outcome::kDone;
}

Session::Outcome Session::cmdTrackingInfo() {
    std::vector<std::string_view> flags{tracking_ ? "on" : "off"};
    if (tracking_) {
        const auto& t = *tracking_;
        if (t.bcast) flags.push_back("bcast");
        if (t.optin) flags.push_back("optin");
        if (t.optin && t.caching == Tracking::Caching::kYes) flags.push_back("caching-yes");
        if (t.optout) flags.push_back("optout");
        if (t.optout && t.caching == Tracking::Caching::kNo) flags.push_back("caching-no");
        if (t.noloop) flags.push_back("noloop");
        if (t.broken) flags.push_back("broken_redirect");
    }
    std::string out = resp3_ ? "%3\r\n" : "*6\r\n";
    resp::appendBulk(out, "flags");
    out += (resp3_ ? "~" : "*") + std::to_string(flags.size()) + "\r\n";
    for (auto f : flags) resp::appendBulk(out, f);
    resp::appendBulk(out, "redirect");
    resp::appendInteger(out, tracking_ ? static_cast<long long>(tracking_->redirect) : -1);
    resp::appendBulk(out, "prefixes");
    resp::appendArrayHeader(out, tracking_ ? tracking_->prefixes.size() : 0);
    if (tracking_)
        for (const auto& p : tracking_->prefixes) resp::appendBulk(out, p);
    reply(out);
    return Outcome::kDone;
}

Session::Outcome Session::cmdCaching(std::span<const std::string_view> argv) {
    if (!tracking_) {
        replyError("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(argv[2], "YES")) {
        if (!tracking_->optin) {
            replyError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
            return Outcome::kDone;
        }
        tracking_->caching = Tracking::Caching::kYes;
    } else if (equalsIgnoreCase(argv[2], "NO")) {
        if (!tracking_->optout) {
            replyError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
            return Outcome::kDone;
        }
        tracking_->caching = Tracking::Caching::kNo;
    } else {
        replyError("ERR syntax error");
        return Outcome::kDone;
    }
    reply("+OK\r\n");
    return Outcome::kDone;
}

// Remembered when sent, not when answered: a change seen while the read is in flight is then
// sent after the read's reply, so the client drops the value it just got.
void Session::trackRead(const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    const auto& t = *tracking_;
    if (t.bcast || !cmd.has(resp::kRead)) return;
    if (t.optin && t.caching != Tracking::Caching::kYes) return;
    if (t.optout && t.caching == Tracking::Caching::kNo) return;
    if (keys_.empty()) resp::keyIndices(cmd, argv, keys_);
    auto& invalidations = worker_.host().invalidations();
    const auto& snapshot = *worker_.snapshot();
    const auto now = std::chrono::system_clock::now();
    for (int i : keys_) {
        std::string_view key = argv[static_cast<size_t>(i)];
        invalidations.remember(id_, key);
        // A read that moves with the clock (a timed_rollover cutoff) is invalidated when it does.
        const policy::Route* route = snapshot.routeForKey(cmd, key);
        auto at = route ? route->strategy->readMovesAt(key, now) : std::nullopt;
        if (!at || !invalidations.scheduleMove(key)) continue;
        auto delay = std::chrono::ceil<std::chrono::milliseconds>(*at - now);
        worker_.postAfter(delay, [&invalidations, key = std::string(key)] { invalidations.moved(key); });
    }
}

void Session::noteChanges(Slot& slot, const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    if (!cmd.has(resp::kWrite) || !worker_.host().invalidations().active()) return;
    if (cmd.name == "flushall" || cmd.name == "flushdb") {
        slot.changes = std::make_unique<Changes>();
        slot.changes->all = true;
        return;
    }
    if (keys_.empty()) resp::keyIndices(cmd, argv, keys_);
    if (keys_.empty()) return;
    if (in_multi_) {  // changed when EXEC runs
        for (int i : keys_) tx_changes_.emplace_back(argv[static_cast<size_t>(i)]);
        return;
    }
    slot.changes = std::make_unique<Changes>();
    for (int i : keys_) slot.changes->keys.emplace_back(argv[static_cast<size_t>(i)]);
}

void Session::announceChanges(const Changes& changes) {
    auto& invalidations = worker_.host().invalidations();
    if (changes.all) invalidations.flushAll();
    else invalidations.changed(changes.keys, id_);
}

void Session::invalidate(const std::vector<std::string>* keys) {
    if (closed_) return;
    Guard guard(*this);
    std::string out;
    if (resp3_) {
        constexpr std::string_view kHead = ">2\r\n$10\r\ninvalidate\r\n";
        if (!keys) out.append(kHead).append("_\r\n");
        for (size_t i = 0; keys && i < keys->size(); ++i) {
            out.append(kHead).append("*1\r\n");
            resp::appendBulk(out, (*keys)[i]);
        }
    } else if (relay_mode_) {
        constexpr std::string_view kHead = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";
        if (!keys) out.append(kHead).append("$-1\r\n");
        for (size_t i = 0; keys && i < keys->size(); ++i) {
            out.append(kHead).append("*1\r\n");
            resp::appendBulk(out, (*keys)[i]);
        }
    } else {
        return;  // a RESP2 client that is not subscribed: Redis sends it nothing either
    }
    push(out);
}

void Session::redirectBroken(uint64_t target) {
    if (closed_ || !tracking_ || tracking_->redirect != target) return;
    tracking_->broken = true;
    if (!resp3_) return;  // Redis has no way to tell a RESP2 client either
    Guard guard(*this);
    std::string out = ">2\r\n$21\r\ntracking-redir-broken\r\n";
    resp::appendInteger(out, static_cast<long long>(target));
    push(out);
}

void Session::push(std::string_view bytes) {
    if (relay_mode_ || slots_.empty()) {
        appendOut(bytes);
    } else {
        Slot& s = slots_.emplace_back();
        s.session = this;
        s.data.assign(bytes);
        s.done = true;
    }
    requestFlush();
}

}  // namespace laminar::net

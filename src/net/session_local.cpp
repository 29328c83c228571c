// SPDX-License-Identifier: Apache-2.0
// Commands laminar answers itself: AUTH, HELLO, SELECT, RESET, CLIENT, INFO, and rights checks.
#include "net/session.h"

#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <vector>

#include "net/client_registry.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "net/worker.h"
#include "resp/reply_view.h"
#include "resp/resp3.h"
#include "net/session_internal.h"

namespace laminar::net {

namespace asio = boost::asio;


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

std::optional<std::string> Session::credentials(std::string_view name, std::string_view password) const {
    const auto& client = worker_.snapshot()->config().client;
    if (name == "default") {
        if (!client.password || password != *client.password) return std::nullopt;
        return std::string();
    }
    auto it = std::find_if(client.users.begin(), client.users.end(), [&](const config::UserConfig& u) { return u.name == name; });
    if (it == client.users.end() || password != it->password) return std::nullopt;
    return it->name;
}

bool Session::authenticate(std::string_view name, std::string_view password) {
    auto user = credentials(name, password);
    if (!user) return false;
    user_ = std::move(*user);
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

namespace {

// Commands that reach keys they do not name: a script (any key of its server), SORT with a BY or
// GET pattern, and the keyspace listings. Rights per route cannot follow them, so a user needs its
// right on every route of the backend they run on.
bool reachesUnnamedKeys(const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    std::string_view n = cmd.name;
    if (n == "eval" || n == "evalsha" || n == "eval_ro" || n == "evalsha_ro" || n == "fcall" || n == "fcall_ro") return true;
    if (n == "keys" || n == "scan" || n == "randomkey" || n == "dbsize") return true;
    if (n == "sort" || n == "sort_ro") {
        for (size_t i = 2; i + 1 < argv.size(); ++i) {
            bool by = equalsIgnoreCase(argv[i], "by"), get = equalsIgnoreCase(argv[i], "get");
            if ((by && !equalsIgnoreCase(argv[i + 1], "nosort")) || (get && argv[i + 1] != "#")) return true;
        }
    }
    return false;
}

// How long CLIENT UNBLOCK waits for a just-blocked client's server-side id (see unblockOnceKnown).
constexpr auto kUnblockIdWait = std::chrono::milliseconds(200);

bool allows(config::UserConfig::Access access, bool write) {
    return access == config::UserConfig::Access::kWrite || (access == config::UserConfig::Access::kRead && !write);
}

}  // namespace

bool Session::denied(const policy::Route& route, const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    const auto* u = user();
    auto access = u ? u->on(route.name) : config::UserConfig::Access::kNone;  // removed by a reload: nothing
    bool write = cmd.has(resp::kWrite);
    if (!allows(access, write)) {
        replyError(fmt::format("NOPERM laminar: user '{}' may not {} on route '{}' ('{}')", user_, write ? "write" : "read", route.name, cmd.name),
                   obs::ErrorKind::kAuth);
        return true;
    }
    if (!u || u->admin || !reachesUnnamedKeys(cmd, argv)) return false;
    // Scripts may write (EVAL) or only read (EVAL_RO); the others read.
    const bool writes = write || cmd.name == "eval" || cmd.name == "evalsha" || cmd.name == "fcall";
    for (const auto& other : worker_.snapshot()->routes()) {
        bool shares = std::any_of(other.backends.begin(), other.backends.end(), [&](int b) {
            return std::find(route.backends.begin(), route.backends.end(), b) != route.backends.end();
        });
        if (!shares || allows(u->on(other.name), writes)) continue;
        replyError(fmt::format("NOPERM laminar: user '{}' may not run '{}': it can reach any key of its backend, and the user may not {} "
                               "on route '{}' there (scripts, SORT with BY or GET patterns and keyspace listings need the right on "
                               "every route of their backend)",
                               user_, cmd.name, writes ? "write" : "read", other.name),
                   obs::ErrorKind::kAuth);
        return true;
    }
    return false;
}

namespace {

constexpr std::string_view kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

// HELLO [protover [AUTH username password] [SETNAME clientname]], read but not applied.
struct HelloArgs {
    long long proto = 2;
    std::optional<std::pair<std::string_view, std::string_view>> auth;  // username, password
    std::optional<std::string_view> setname;
};

// The arguments of HELLO, or the error Redis answers them with ("" when they are good).
std::string readHello(std::span<const std::string_view> argv, long long proto, HelloArgs& out) {
    out.proto = proto;
    if (argv.size() >= 2) {
        if (!parseLong(argv[1], out.proto)) return "ERR Protocol version is not an integer or out of range";
        if (out.proto != 2 && out.proto != 3) return "NOPROTO unsupported protocol version";
    }
    for (size_t i = 2; i < argv.size(); ++i) {
        if (equalsIgnoreCase(argv[i], "AUTH") && i + 2 < argv.size()) {
            out.auth.emplace(argv[i + 1], argv[i + 2]);
            i += 2;
        } else if (equalsIgnoreCase(argv[i], "SETNAME") && i + 1 < argv.size()) {
            out.setname = argv[++i];
        } else {
            return "ERR Syntax error in HELLO option '" + std::string(argv[i]) + "'";
        }
    }
    return "";
}

}  // namespace

Session::Outcome Session::cmdHello(std::span<const std::string_view> argv, std::string_view raw) {
    (void)raw;
    HelloArgs hello;
    std::string error = readHello(argv, resp3_ ? 3 : 2, hello);
    auto kind = obs::ErrorKind::kCommand;
    if (error.empty() && hello.auth && !credentials(hello.auth->first, hello.auth->second)) {
        error = kWrongPass;
        kind = obs::ErrorKind::kAuth;
    } else if (error.empty() && !hello.auth && !authed_) {
        error = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
        kind = obs::ErrorKind::kAuth;
    } else if (error.empty() && hello.proto == 2 && resp3_ && (subs_ > 0 || shard_subs_ > 0)) {
        error = "ERR laminar: HELLO 2 while subscribed in RESP3 is not supported; UNSUBSCRIBE first";
        kind = obs::ErrorKind::kRefused;
    }
    if (in_multi_ && pinned_) {
        // Queued as Redis queues it, which checks HELLO at EXEC: an error is its element of EXEC's
        // array (the rest runs), and AUTH, SETNAME and the protocol apply at EXEC, in order, and
        // only if the transaction runs (see completeExec).
        if (!error.empty()) return answerAtExec("-" + error + "\r\n");
        TxEntry entry = TxEntry::at(tx_.queued++, TxEntry::Kind::kHello, hello.proto);
        entry.argv.assign(argv.begin(), argv.end());
        tx_.entries.push_back(std::move(entry));
        std::string cmd;
        resp::appendCommand(cmd, {"HELLO", hello.proto == 3 ? "3" : "2"});
        Slot& slot = newSlot();
        slot.pinned = true;
        ++inflight_;
        ++pinned_inflight_;
        pinned_->send(cmd, &slot, false);
        return Outcome::kDone;
    }
    if (!error.empty()) {
        replyError(error, kind);
        return Outcome::kDone;
    }
    const int target = worker_.snapshot()->routes().back().strategy->pinTarget();
    if (!pinned_ && (hello.proto == 3) != resp3_ && inflight_ > 0) {
        // Another lane: what is in flight is answered first, so that no command overtakes an
        // earlier one.
        drain_wait_ = true;
        return Outcome::kPause;
    }
    applyHello(argv);
    if (!pinned_) {
        // Multiplexed: its commands go on the backends' RESP3 connections from now on.
        resp3_ = hello.proto == 3;
        worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.resp = resp3_ ? 3 : 2; });
        if (worker_.backend(target).config().type == config::BackendConfig::Type::kMemcached) {
            reply(helloReply(hello.proto));
            return Outcome::kDone;
        }
    }
    std::string cmd;
    resp::appendCommand(cmd, {"HELLO", hello.proto == 3 ? "3" : "2"});
    Slot& slot = newSlot();
    ++inflight_;
    slot.kind = hello.proto == 3 ? SlotKind::kHello3 : SlotKind::kHello2;  // its reply gets laminar's id
    if (pinned_) {
        slot.pinned = true;
        ++pinned_inflight_;
        pinned_->send(cmd, &slot, false);
    } else {
        send(worker_.snapshot()->routes().back().strategy->pinTarget(), cmd, &slot);
    }
    return Outcome::kDone;
}

std::string Session::helloReply(long long proto) const {
    std::string out = proto == 3 ? "%7\r\n" : "*14\r\n";
    auto field = [&](std::string_view name, std::string_view value) {
        resp::appendBulk(out, name);
        resp::appendBulk(out, value);
    };
    field("server", "laminar");
    field("version", LAMINAR_VERSION);
    resp::appendBulk(out, "proto");
    resp::appendInteger(out, proto);
    resp::appendBulk(out, "id");
    resp::appendInteger(out, static_cast<long long>(id_));
    field("mode", "standalone");
    field("role", "master");
    resp::appendBulk(out, "modules");
    resp::appendArrayHeader(out, 0);
    return out;
}

void Session::applyHello(std::span<const std::string_view> argv) {
    HelloArgs hello;
    readHello(argv, resp3_ ? 3 : 2, hello);
    if (hello.auth && !authenticate(hello.auth->first, hello.auth->second))
        // Checked when queued; a reload removed the user before EXEC. The protocol still changed
        // (the backend ran it), the connection keeps its user.
        sessionLog()->warn("client {} {}: HELLO's AUTH inside MULTI no longer holds at EXEC; the client keeps its user", id_, addr_);
    authed_ = true;
    if (hello.setname) {
        name_ = std::string(*hello.setname);
        worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.name = name_; });
    }
}

Session::Outcome Session::cmdSelect(std::span<const std::string_view> argv, std::string_view raw) {
    long long db = 0;
    if (in_multi_ && pinned_) {
        // Queued on the backend, which answers a bad index at EXEC as Redis does (the rest of the
        // transaction runs); laminar learns the db from EXEC's array.
        const bool valid = parseLong(argv[1], db) && db >= 0 && db <= INT32_MAX;
        if (valid && db != pinned_owner_->config().db && !user_.empty() && !isAdmin()) {
            replyError(fmt::format("NOPERM laminar: user '{}' may not SELECT database {}: its rights are per route, in database {} of "
                                   "backend '{}'",
                                   user_, db, pinned_owner_->config().db, pinned_owner_->name()),
                       obs::ErrorKind::kAuth);
            return Outcome::kDone;
        }
        if (valid) tx_.entries.push_back(TxEntry::at(tx_.queued, TxEntry::Kind::kSelect, db));
        ++tx_.queued;
        Slot& slot = newSlot();
        slot.pinned = true;
        ++inflight_;
        ++pinned_inflight_;
        pinned_->send(raw, &slot, false);
        return Outcome::kDone;
    }
    if (!parseLong(argv[1], db)) {
        replyError("ERR value is not an integer or out of range");
        return Outcome::kDone;
    }
    if (db < INT32_MIN || db > INT32_MAX) {
        replyError("ERR value is out of range, value must between -2147483648 and 2147483647");
        return Outcome::kDone;
    }
    if (db < 0) {
        replyError("ERR DB index is out of range");
        return Outcome::kDone;
    }
    const auto& snapshot = *worker_.snapshot();
    int target = pinned_ ? pinned_backend_ : snapshot.routes().back().strategy->pinTarget();
    bool is_default = db == worker_.backend(target).config().db;
    if (!is_default && !user_.empty() && !isAdmin()) {
        // A user's rights are per route, and routes are in the backend's configured db.
        replyError(fmt::format("NOPERM laminar: user '{}' may not SELECT database {}: its rights are per route, in database {} of "
                               "backend '{}'",
                               user_, db, worker_.backend(target).config().db, worker_.backend(target).name()),
                   obs::ErrorKind::kAuth);
        return Outcome::kDone;
    }
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
    if (tracking_) worker_.host().invalidations().disable(id_);
    tracking_.reset();
    tx_changes_.clear();
    in_multi_ = watching_ = multi_refused_ = relay_mode_ = waiting_marker_ = resp3_ = pushes_ = false;
    multi_held_ = false;
    held_.clear();
    tx_ = {};
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
        reply(name_.empty() ? std::string(resp::nullReply(resp3_)) : bulk(name_));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "ID")) {
        reply(":" + std::to_string(id_) + "\r\n");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "INFO")) {
        reply(text(clientInfoLine()));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "LIST")) {
        // Redis's filters: TYPE t (every laminar client is a normal one, subscribers included) or
        // ID id..., with its error texts.
        std::vector<uint64_t> ids;
        bool none = false;
        if (argv.size() == 4 && equalsIgnoreCase(argv[2], "TYPE")) {
            bool known = false;
            for (std::string_view t : {"normal", "pubsub", "master", "replica", "slave"}) known = known || equalsIgnoreCase(argv[3], t);
            if (!known) {
                replyError("ERR Unknown client type '" + std::string(argv[3]) + "'");
                return Outcome::kDone;
            }
            none = !equalsIgnoreCase(argv[3], "normal") && !equalsIgnoreCase(argv[3], "pubsub");
        } else if (argv.size() > 3 && equalsIgnoreCase(argv[2], "ID")) {
            for (std::string_view arg : argv.subspan(3)) {
                long long id = 0;
                if (!parseLong(arg, id)) {
                    replyError("ERR Invalid client ID");
                    return Outcome::kDone;
                }
                ids.push_back(static_cast<uint64_t>(id));
            }
        } else if (argv.size() != 2) {
            replyError("ERR syntax error");
            return Outcome::kDone;
        }
        std::string all;
        auto now = std::chrono::steady_clock::now();
        for (const auto& e : registry.list())
            if (!none && (ids.empty() || std::find(ids.begin(), ids.end(), e.id) != ids.end())) all += ClientRegistry::format(e, now);
        reply(text(all));
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
    if (equalsIgnoreCase(sub, "TRACKING")) return cmdTracking(argv);
    if (equalsIgnoreCase(sub, "TRACKINGINFO")) return cmdTrackingInfo();
    if (equalsIgnoreCase(sub, "CACHING")) return cmdCaching(argv);
    if (equalsIgnoreCase(sub, "GETREDIR")) {
        reply(":" + std::to_string(tracking_ ? static_cast<long long>(tracking_->redirect) : -1LL) + "\r\n");
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "UNBLOCK")) {
        long long target = 0;
        if (in_multi_) {
            // It answers from the blocked client's connection, later: it cannot be one of EXEC's replies.
            replyError("ERR laminar: 'client|unblock' is not supported inside MULTI", obs::ErrorKind::kRefused);
            return Outcome::kDone;
        }
        if (argv.size() > 4) {
            std::string container(argv[0]);
            for (char& ch : container) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            replyError("ERR unknown subcommand or wrong number of arguments for '" + std::string(argv[1].substr(0, 128)) + "'. Try " +
                       container + " HELP.");
            return Outcome::kDone;
        }
        if (!parseLong(argv[2], target)) {
            replyError("ERR value is not an integer or out of range");
            return Outcome::kDone;
        }
        if (argv.size() == 4 && !equalsIgnoreCase(argv[3], "TIMEOUT") && !equalsIgnoreCase(argv[3], "ERROR")) {
            replyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return Outcome::kDone;
        }
        Slot& slot = newSlot();
        ++inflight_;
        unblockOnceKnown(static_cast<uint64_t>(target), argv.size() == 4 ? std::string(argv[3]) : std::string(), &slot,
                         std::chrono::steady_clock::now() + kUnblockIdWait);
        return Outcome::kDone;
    }
    // Other CLIENT subcommands (HELP, unknown ones) get the backend's own answer.
    return forward(cmd, argv, raw);
}

// The blocked client's backend connection is unblocked by its server-side id, over this client's
// own shared connection to the same server (in a cluster, the blocked one's node). That id comes
// from the CLIENT ID reply of the dedicated connection's handshake, read on the blocked client's
// own thread: a client blocked a moment ago may be blocked on the server before its thread has
// read it. So a blocked client whose id is not known yet is asked for again, every millisecond
// for a short while, instead of answering 0 for a client the server holds blocked.
void Session::unblockOnceKnown(uint64_t target, std::string reason, Slot* slot, std::chrono::steady_clock::time_point deadline) {
    ClientRegistry::Entry e;
    const bool blocked = worker_.host().registry().find(target, e) && e.blocked_on;
    const long long server_id = blocked ? e.blocked_on->id.load(std::memory_order_acquire) : -1;
    const auto& backends = worker_.snapshot()->config().backends;
    auto named = std::find_if(backends.begin(), backends.end(), [&](const config::BackendConfig& b) { return b.name == e.blocked_backend; });
    if (blocked && server_id < 0 && named != backends.end() && std::chrono::steady_clock::now() < deadline) {
        auto timer = std::make_shared<asio::steady_timer>(worker_.ioc(), std::chrono::milliseconds(1));
        timer->async_wait([this, timer, target, reason = std::move(reason), slot, deadline](const boost::system::error_code&) mutable {
            io::Poller::touch();
            unblockOnceKnown(target, std::move(reason), slot, deadline);
        });
        return;
    }
    if (server_id < 0 || named == backends.end()) {
        slot->complete(":0\r\n", false);
        return;
    }
    std::string cmdline;
    auto sid = std::to_string(server_id);
    if (!reason.empty()) resp::appendCommand(cmdline, {"CLIENT", "UNBLOCK", sid, reason});
    else resp::appendCommand(cmdline, {"CLIENT", "UNBLOCK", sid});
    worker_.backend(static_cast<int>(named - backends.begin())).sendToNode(e.blocked_on->node, id_, cmdline, slot);
}

Session::Outcome Session::cmdInfo(const resp::CommandInfo& cmd, std::span<const std::string_view> argv, std::string_view raw) {
    bool laminar_only = false, with_laminar = argv.size() == 1;
    for (std::string_view section : argv.subspan(1)) {
        if (equalsIgnoreCase(section, "laminar")) laminar_only = argv.size() == 2, with_laminar = true;
        for (std::string_view all : {"all", "everything", "default"}) with_laminar = with_laminar || equalsIgnoreCase(section, all);
    }
    if (laminar_only) {
        reply(text(worker_.host().infoSection(worker_)));
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
    const bool verbatim = backend_reply.starts_with("=");  // RESP3: "txt:" and the text
    if (verbatim) body.remove_prefix(std::min<size_t>(4, body.size()));
    std::string merged = worker_.host().infoSection(worker_);
    merged += "\r\n";
    merged += body;
    if (!verbatim) return bulk(merged);
    std::string out;
    resp::appendVerbatim(out, merged);
    return out;
}

std::string Session::text(std::string_view body) const {
    if (!resp3_) return bulk(body);
    std::string out;
    resp::appendVerbatim(out, body);
    return out;
}

}  // namespace laminar::net

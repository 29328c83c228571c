// SPDX-License-Identifier: Apache-2.0
// Session's insides, shared by the files it is split into: session.cpp (the socket, parsing,
// forwarding, the reply queue), session_split.cpp (multi-key commands split per key, fan-out to
// every backend), session_pinning.cpp (dedicated connections), session_local.cpp (commands laminar
// answers itself: AUTH, HELLO, SELECT, CLIENT, INFO, RESET), session_laminar.cpp (LAMINAR ...) and
// session_transaction.cpp (what laminar answers itself inside MULTI, run at EXEC).
// Not for use outside net/.
#pragma once

#include <spdlog/spdlog.h>

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/session.h"
#include "obs/logging.h"
#include "resp/ascii.h"
#include "resp/command_table.h"
#include "resp/numbers.h"
#include "resp/writer.h"

namespace laminar::net {

using resp::equalsIgnoreCase;

inline constexpr size_t kReadChunk = 16 * 1024;
// A pipelining client's commands in flight are bounded by the replies they are expected to bring:
// about kInflightReplyBytes at the size its recent replies had (kInitialWindow commands before its
// first reply, never fewer than kMinWindow nor more than kMaxInflight). Its commands share the
// backend connections with every other client's, and every reply ahead of another client's
// command delays that command: so no client puts more than about this much ahead of the others,
// and a client that goes away leaves little behind (what it had not had sent is dropped).
// Reading resumes when half the window is answered. The first window is small because nothing is
// known yet: 32 GETs of a 1 MB value sent at once put 32 MB ahead of everyone, and past an 8 MB
// client.max_output disconnected a client that was reading as fast as it could.
inline constexpr size_t kInflightReplyBytes = 512 * 1024;
inline constexpr size_t kInitialWindow = 4;
inline constexpr size_t kMinWindow = 4;
inline constexpr size_t kMaxInflight = 4096;
// A client whose recent replies (the same average as the window's) reach kBulkReply sends on its
// backends' bulk lane (Backend::sendBulk), and back on the usual one once they fall under a
// quarter of it; it changes lanes only with nothing in flight. On one connection Redis sends a
// connection's replies in order, so a command behind a client's megabyte replies waits for all of
// them; on two it sends 64 KB of one, then the other's.
inline constexpr size_t kBulkReply = 64 * 1024;
inline constexpr std::string_view kMarker = "laminar:unsubscribe-sync";

// Commands laminar answers (or rewrites) itself; everything else is routed to a backend.

using Local = Session::Local;

inline const std::unordered_map<std::string_view, Local> kLocal = {
    {"ping", Local::kPing},         {"echo", Local::kEcho},       {"quit", Local::kQuit},
    {"auth", Local::kAuth},         {"hello", Local::kHello},     {"select", Local::kSelect},
    {"client", Local::kClient},     {"info", Local::kInfo},       {"reset", Local::kReset},
    {"multi", Local::kMulti},       {"exec", Local::kExec},       {"discard", Local::kDiscard},
    {"watch", Local::kWatch},       {"unwatch", Local::kUnwatch}, {"subscribe", Local::kSubscribe},
    {"psubscribe", Local::kSubscribe}, {"ssubscribe", Local::kSubscribe}, {"unsubscribe", Local::kUnsubscribe},
    {"punsubscribe", Local::kUnsubscribe}, {"sunsubscribe", Local::kUnsubscribe},
};

inline Session::Local localKindByName(std::string_view name) {
    auto bar = name.find('|');
    auto it = kLocal.find(bar == std::string_view::npos ? name : name.substr(0, bar));
    return it == kLocal.end() ? Local::kNone : it->second;
}

// Per command-table entry, computed once at start-up: a top-level command is one index, a
// subcommand a pointer hash, never a string hash.
inline const resp::PerCommand<Local> kTopLocalKinds([](const resp::CommandInfo& c) { return localKindByName(c.name); });

inline const std::unordered_map<const resp::CommandInfo*, Local> kSubLocalKinds = [] {
    std::unordered_map<const resp::CommandInfo*, Local> out;
    for (const auto& c : resp::allCommands())
        for (const auto& sub : c.subcommands) out.emplace(&sub, localKindByName(sub.name));
    return out;
}();

[[gnu::noinline]] inline Local subcommandLocalKind(const resp::CommandInfo& cmd) {
    auto it = kSubLocalKinds.find(&cmd);
    return it == kSubLocalKinds.end() ? Local::kNone : it->second;
}

inline Local localKind(const resp::CommandInfo& cmd) {
    const Local* top = kTopLocalKinds.find(&cmd);
    return top ? *top : subcommandLocalKind(cmd);
}

inline bool parseLong(std::string_view s, long long& out) { return resp::parseLongLong(s, out); }

// WAIT counts the replicas that acknowledged the last write of the connection it runs on. A
// client's writes went over shared connections, and WAIT runs on a dedicated one: this PUBLISH
// first (Redis replicates it; laminar's channel has no subscriber) moves that connection's offset
// past every write the client has had answered, so WAIT waits for those.
inline constexpr std::string_view kDiscardCommand = "*1\r\n$7\r\nDISCARD\r\n";
inline constexpr std::string_view kExecAbortReply = "-EXECABORT Transaction discarded because of previous errors.\r\n";
// PING's arity (-1) lets it be queued with any arguments; running, it refuses more than one.
inline constexpr std::string_view kPingArityError = "ERR wrong number of arguments for 'ping' command";
// Sent ahead of a transaction's first command with a backend (MULTI is held until then).
inline constexpr std::string_view kMultiCommand = "*1\r\n$5\r\nMULTI\r\n";
// The commands Redis 7.0 flags no_multi (its COMMAND reply): inside MULTI it refuses them with
// kNoMultiError, before any rights check, and EXEC then aborts. laminar refuses them through the
// proxy anyway; inside MULTI it answers Redis's text.
inline constexpr std::array<std::string_view, 4> kNoMulti = {"save", "shutdown", "sync", "psync"};
inline constexpr std::string_view kNoMultiError = "ERR Command not allowed inside a transaction";

inline constexpr std::string_view kWaitMark = "*3\r\n$7\r\nPUBLISH\r\n$14\r\n__laminar:wait\r\n$0\r\n\r\n";

inline std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

// The kind word and count of a (un)subscribe confirmation, RESP2 array or RESP3 push:
// ["subscribe", channel, count]. False for anything else (messages included).
inline bool subscriptionCount(std::string_view raw, std::string_view& kind, long long& count) {
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

inline std::shared_ptr<spdlog::logger> sessionLog() {
    static auto l = obs::logger("client");
    return l;
}

// Keeps the session alive (maybeDestroy is a no-op) while a method that may trigger completions
// is on the stack.
struct Guard {
    explicit Guard(Session& s) : s_(s) { ++s_.guard_; }
    ~Guard() { --s_.guard_; }
    Session& s_;
};

}  // namespace laminar::net

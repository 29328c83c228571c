// SPDX-License-Identifier: Apache-2.0
// Inside MULTI, what laminar answers itself is queued as Redis queues it: +QUEUED now, run at
// EXEC in its place among the transaction's commands, its reply put into EXEC's array between the
// backend's. A transaction that never reached a backend is answered here whole (see
// transactionCommand in session_pinning.cpp).
#include "net/session.h"

#include <fmt/format.h>

#include "net/client_registry.h"
#include "net/host.h"
#include "net/worker.h"
#include "net/session_internal.h"
#include "resp/reply_scanner.h"

namespace laminar::net {

// AUTH, CLIENT's own subcommands, INFO laminar and LAMINAR ... (checked by handle()). PING, ECHO,
// SELECT and HELLO are queued on the backend instead, and CLIENT UNBLOCK is refused: it answers
// from another connection, later.
bool Session::runsAtExec(Local local, std::span<const std::string_view> argv) const {
    switch (local) {
        case Local::kAuth:
            return true;
        case Local::kInfo:
            return argv.size() == 2 && equalsIgnoreCase(argv[1], "laminar");
        case Local::kClient:
            for (std::string_view sub : {"SETNAME", "GETNAME", "ID", "INFO", "LIST", "SETINFO", "REPLY", "TRACKING", "TRACKINGINFO", "GETREDIR", "CACHING"})
                if (equalsIgnoreCase(argv[1], sub)) return true;
            return false;
        default:
            return false;
    }
}

Session::Outcome Session::queueForExec(std::span<const std::string_view> argv) {
    TxEntry entry = TxEntry::at(tx_.queued++, TxEntry::Kind::kLocal);
    entry.argv.assign(argv.begin(), argv.end());
    tx_.entries.push_back(std::move(entry));
    reply("+QUEUED\r\n");
    return Outcome::kDone;
}

Session::Outcome Session::answerAtExec(std::string answer) {
    TxEntry entry = TxEntry::at(tx_.queued++, TxEntry::Kind::kLocal);
    entry.answer = std::move(answer);
    tx_.entries.push_back(std::move(entry));
    reply("+QUEUED\r\n");
    return Outcome::kDone;
}

std::string Session::runQueued(const TxEntry& entry) {
    if (!entry.answer.empty()) return entry.answer;
    std::vector<std::string_view> argv(entry.argv.begin(), entry.argv.end());
    std::string raw, out;
    resp::appendCommand(raw, std::span<const std::string_view>(argv));
    // Run as outside MULTI (a new transaction may be open already, pipelined after this EXEC).
    const bool in_multi = in_multi_, refused = multi_refused_, held = multi_held_;
    auto* routed = routed_;
    in_multi_ = multi_refused_ = multi_held_ = false;
    capture_ = &out;
    handle(argv, raw);
    capture_ = nullptr;
    in_multi_ = in_multi;
    multi_refused_ = refused;
    multi_held_ = held;
    routed_ = routed;
    // CLIENT REPLY OFF and SKIP answer nothing; Redis's EXEC array then lacks an element and the
    // stream breaks. Its element here is +OK, and the mode applies from the next command.
    if (out.empty()) out = "+OK\r\n";
    return out;
}

std::string Session::completeExec(std::string_view raw, const Transaction& tx) {
    long long n = 0;
    auto header = raw.find("\r\n");
    if (raw.empty() || raw[0] != '*' || header == std::string_view::npos || !parseLong(raw.substr(1, header - 1), n) || n < 0)
        return std::string(raw);  // nil (a WATCHed key changed) or an error: nothing ran
    size_t locals = 0;
    for (const auto& e : tx.entries) locals += e.kind == TxEntry::Kind::kLocal;
    if (static_cast<size_t>(n) + locals != tx.queued) {
        sessionLog()->warn("client {} {}: EXEC answered {} replies for {} commands queued on the backend; passed as it came", id_, addr_, n,
                           tx.queued - locals);
        return std::string(raw);
    }
    std::string out = "*" + std::to_string(tx.queued) + "\r\n";
    std::string_view rest = raw.substr(header + 2);
    auto entry = tx.entries.begin();
    resp::ReplyScanner scanner;
    for (size_t i = 0; i < tx.queued; ++i) {
        const bool here = entry != tx.entries.end() && entry->index == i;
        if (here && entry->kind == TxEntry::Kind::kLocal) {
            out += runQueued(*entry++);
            continue;
        }
        scanner.reset();
        if (scanner.scan(rest) != resp::ParseStatus::kOk) return std::string(raw);
        std::string_view element = rest.substr(0, scanner.consumed());
        rest.remove_prefix(scanner.consumed());
        if (here) {
            switch (entry->kind) {
                case TxEntry::Kind::kInfo:
                    if (element.starts_with("$") || element.starts_with("=")) {
                        out += transformInfo(element);
                        ++entry;
                        continue;
                    }
                    break;
                case TxEntry::Kind::kSelect:
                    if (element.starts_with("+OK")) noteSelected(entry->arg);
                    break;
                case TxEntry::Kind::kHello:
                    // It ran (its reply is the server's map, or array in RESP2): the protocol, AUTH
                    // and SETNAME apply now, before the commands queued after it.
                    if (element.starts_with("%") || element.starts_with("*")) {
                        resp3_ = entry->arg == 3;
                        worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.resp = resp3_ ? 3 : 2; });
                        std::vector<std::string_view> argv(entry->argv.begin(), entry->argv.end());
                        applyHello(argv);
                    }
                    break;
                case TxEntry::Kind::kLocal:
                    break;
            }
            ++entry;
        }
        out += element;
    }
    return out;
}

void Session::noteSelected(long long db) {
    selected_db_ = pinned_owner_ && db == pinned_owner_->config().db ? -1 : static_cast<int>(db);
    worker_.host().registry().update(id_, [&](ClientRegistry::Entry& e) { e.db = static_cast<int>(db); });
}

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
// LAMINAR STATUS | ROUTE | RELOAD | BACKFILL | ...: the operator's commands.
#include "net/session.h"

#include <fmt/format.h>

#include "net/host.h"
#include "net/worker.h"
#include "resp/reply_view.h"
#include "net/session_internal.h"

namespace laminar::net {

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

// LAMINAR STATUS | ROUTE <command> [args...] | RELOAD [FORCE|DRYRUN] | MIGRATION [route] | BACKFILL: laminar's own admin commands.
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
    if (equalsIgnoreCase(sub, "RELOAD") && argv.size() == 3 && equalsIgnoreCase(argv[2], "DRYRUN")) {
        Slot& slot = newSlot();
        ++inflight_;
        Worker* worker = &worker_;
        Slot* target = &slot;
        worker_.host().dryRunAsync([worker, target](std::string report) {
            worker->post([target, report = std::move(report)] {
                std::string out;
                resp::appendBulk(out, report);
                target->complete(out, false);
            });
        });
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "MIGRATION") && argv.size() <= 3) {
        std::string_view route = argv.size() == 3 ? argv[2] : std::string_view();
        auto text = worker_.host().migrationText(worker_, route);
        if (text.empty()) {
            replyError(route.empty() ? std::string("ERR laminar: no route is a migration")
                                     : "ERR laminar: no migration route '" + std::string(route) + "'");
            return Outcome::kDone;
        }
        reply(bulk(text));
        return Outcome::kDone;
    }
    const bool force = argv.size() == 3 && equalsIgnoreCase(argv[2], "FORCE");
    if (equalsIgnoreCase(sub, "RELOAD") && (argv.size() == 2 || force)) {
        // The reload runs on the main thread; its answer comes back to this thread's slot.
        Slot& slot = newSlot();
        ++inflight_;
        Worker* worker = &worker_;
        Slot* target = &slot;
        worker_.host().reloadAsync(
            [worker, target](std::string error) {
            worker->post([target, error = std::move(error)] {
                std::string out;
                if (error.empty()) out = "+OK\r\n";
                else resp::appendError(out, "ERR laminar: reload failed, the running configuration stays: " + error);
                target->complete(out, false);
            });
            },
            force);
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "VERIFIED")) {
        reply(worker_.host().verifiedCommand(argv));
        return Outcome::kDone;
    }
    if (equalsIgnoreCase(sub, "BACKFILL")) {
        reply(worker_.host().backfillCommand(worker_, argv));
        return Outcome::kDone;
    }
    replyError("ERR laminar: unknown subcommand; use LAMINAR STATUS, LAMINAR ROUTE <command> <args...>, LAMINAR RELOAD [FORCE|DRYRUN], LAMINAR MIGRATION [route], LAMINAR BACKFILL or LAMINAR VERIFIED");
    return Outcome::kDone;
}

}  // namespace laminar::net

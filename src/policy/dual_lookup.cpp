// SPDX-License-Identifier: Apache-2.0
#include "policy/dual_lookup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "obs/logging.h"
#include "policy/fanout.h"
#include "policy/key_copy.h"
#include "policy/owned_command.h"
#include "policy/recycled.h"
#include "policy/route_stats.h"
#include "resp/command_table.h"
#include "resp/reply_view.h"
#include "resp/request_parser.h"
#include "resp/writer.h"

namespace laminar::policy {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("policy");
    return l;
}

// Reads whose reply on a missing key is a plain 0 (a length, a count, a membership test): a 0
// alone cannot tell "missing" from "empty", so an EXISTS goes just before them on `first`.
bool countsOnMissingByName(std::string_view name) {
    static const std::vector<std::string_view> kCounts = {"strlen",  "hlen",   "llen",  "scard",     "zcard",  "xlen",
                                                          "sismember", "hexists", "zcount", "zlexcount", "bitcount", "getbit",
                                                          "hstrlen", "pfcount", "bitpos"};
    return std::find(kCounts.begin(), kCounts.end(), name) != kCounts.end();
}

// How a read tells a miss, by the command's table entry: one lookup on every read.
enum class ReadKind : uint8_t { kPlain, kCounts, kExists };

const resp::PerCommand<ReadKind> kReadKinds([](const resp::CommandInfo& c) {
    if (c.name == "exists") return ReadKind::kExists;
    return countsOnMissingByName(c.name) ? ReadKind::kCounts : ReadKind::kPlain;
});

// A subcommand: none counts.
ReadKind readKind(const resp::CommandInfo* cmd) { return kReadKinds.get(cmd, ReadKind::kPlain); }

// Keeps the snapshot a read started on alive until its reply, without a locked increment and
// decrement of the shared_ptr per read: the reads in flight on one I/O thread share one
// thread-local, plainly counted hold of that thread's snapshot. A sink completes on the thread
// that sent it, so the count needs no lock. When its last read is answered the hold lets the
// snapshot go (nothing outlives the reads) but stays, empty, for the next read: no allocation
// per idle-to-busy turn. A reload that installs another snapshot while reads are in flight starts
// a new hold; the old one is deleted with its last read.
struct SnapshotHold {
    std::shared_ptr<const Snapshot> snapshot;  // null while no read is in flight
    size_t reads = 0;
};

SnapshotHold*& currentHold() {
    struct Current {
        SnapshotHold* hold = nullptr;
        ~Current() {  // the thread ends: an idle hold goes with it (a busy one is its reads')
            if (hold && hold->reads == 0) delete hold;
        }
    };
    thread_local Current current;
    return current.hold;
}

SnapshotHold* holdSnapshot(const std::shared_ptr<const Snapshot>* snapshot) {
    if (!snapshot) return nullptr;  // unit tests without a snapshot
    SnapshotHold*& current = currentHold();
    if (!current || (current->reads > 0 && current->snapshot.get() != snapshot->get()))
        current = new SnapshotHold;  // the one before, if any, is its reads' now
    if (current->reads == 0) current->snapshot = *snapshot;
    ++current->reads;
    return current;
}

void releaseSnapshot(SnapshotHold* hold) {
    if (!hold || --hold->reads > 0) return;
    if (currentHold() == hold) {
        hold->snapshot.reset();
        return;
    }
    delete hold;
}

// The read half of dual_lookup: first's reply, or on a miss the fallback to second.
struct LookupSink;
void release(LookupSink* s);

struct LookupSink final : backend::ReplySink {
    const Strategy* second = nullptr;
    const Strategy* first = nullptr;
    bool warm = false;
    backend::ReplySink* client = nullptr;
    Dispatch* client_dispatch = nullptr;
    std::optional<Context> ctx;     // background context, set per read
    SnapshotHold* hold = nullptr;
    std::string bytes;              // the command, copied: the client's buffer moves on
    const resp::CommandInfo* cmd = nullptr;
    std::string key;                // the read's key, kept only when a warm copy or EXISTS needs it
    bool exists_cmd = false;
    enum class Step { kExists, kFirst, kSecond } step = Step::kFirst;
    bool on_first = true;           // EXISTS said the key is on first (when it was asked)
    LookupSink* next_free = nullptr;  // while recycled

    void complete(std::string_view raw, bool failed) override {
        Context& ctx = *this->ctx;
        switch (step) {
            case Step::kExists: {
                long long n = 0;
                on_first = failed || !resp::integerValue(raw, n) || n > 0;  // unsure: trust first's answer
                step = Step::kFirst;
                return;
            }
            case Step::kFirst: {
                long long n = 0;
                bool miss = !failed && (!on_first || resp::isMiss(raw) || (exists_cmd && resp::integerValue(raw, n) && n == 0));
                if (!miss) {
                    client->complete(raw, failed);
                    release(this);
                    return;
                }
                step = Step::kSecond;
                if (ctx.stats) RouteStats::add(ctx.stats->fallbacks);
                // The arguments again, from the copy of the bytes (the rare path pays the parse).
                resp::RequestParser parser;
                parser.parse(bytes);
                std::vector<std::string_view> argv(parser.args().begin(), parser.args().end());
                std::vector<int> keys;
                resp::keyIndices(*cmd, argv, keys);
                // The fallback runs on the client's own connections, so it stays in order with them.
                Context client_ctx{*client_dispatch, ctx.background, ctx.clock, ctx.health, ctx.sync, nullptr, ctx.stats};
                second->execute(Request{argv, bytes, cmd, keys}, this, client_ctx);
                return;
            }
            case Step::kSecond:
                break;
        }
        client->complete(raw, failed);
        long long n = 0;
        bool found = !failed && !resp::isMiss(raw) && !resp::isError(raw) && !(exists_cmd && resp::integerValue(raw, n) && n == 0);
        if (warm && found && !key.empty()) {
            RouteStats* stats = ctx.stats;
            std::shared_ptr<const Snapshot> snapshot_keep = hold ? hold->snapshot : nullptr;
            copyKey(key, *second, *first, false, ctx, [stats, snapshot_keep](bool ok, std::string_view why) {
                if (!stats) return;
                if (ok) {
                    RouteStats::add(stats->warm_copies);
                } else {
                    RouteStats::add(stats->warm_failures);
                    log()->warn("dual_lookup warm copy of a key failed: {}", why);
                }
            });
        }
        release(this);
    }
};

LookupSink* acquireSink() { return Recycled<LookupSink>::acquire(); }

void release(LookupSink* s) {
    s->ctx.reset();
    releaseSnapshot(std::exchange(s->hold, nullptr));
    s->key.clear();
    s->step = LookupSink::Step::kFirst;
    s->on_first = true;
    s->bytes.clear();
    Recycled<LookupSink>::put(s, s->bytes.capacity() > 4096);
}

// A write that builds on the key's value (INCR, APPEND, RPUSH...) on a key only `second` has:
// the key is first copied into `first` (never over a value first has), then the write runs, so
// INCR of 41 on second answers 42, not 1. The session holds the client's next commands until
// this one is answered (DualLookup::serializes), so none overtakes the copy.
struct WriteThrough final : backend::ReplySink {
    const DualLookup* owner = nullptr;
    const Strategy* first = nullptr;
    const Strategy* second = nullptr;
    backend::ReplySink* client = nullptr;
    Dispatch* client_dispatch = nullptr;
    Context ctx;  // background: for the copy
    std::shared_ptr<const Snapshot> keep;
    std::vector<std::string> argv;
    std::string key;

    explicit WriteThrough(const Context& c) : ctx(backgroundContext(c)) {}

    // The EXISTS on first.
    void complete(std::string_view raw, bool failed) override {
        long long n = 0;
        if (failed || !resp::integerValue(raw, n) || n > 0) {
            run();
            return;
        }
        copyKey(key, *second, *first, false, ctx, [this](bool ok, std::string_view why) {
            if (!ok && ctx.stats) {
                RouteStats::add(ctx.stats->warm_failures);
                log()->warn("dual_lookup copy before a write failed: {}", why);
            }
            run();
        });
    }

    void run() {
        OwnedCommand cmd(argv);
        Context client_ctx{*client_dispatch, ctx.background, ctx.clock, ctx.health, ctx.sync, nullptr, ctx.stats};
        owner->writeNow(cmd.request(), client, client_ctx);
        delete this;
    }
};

}  // namespace

DualLookup::DualLookup(std::unique_ptr<Strategy> first, std::unique_ptr<Strategy> second, Writes writes, bool warm)
    : first_(std::move(first)), second_(std::move(second)), writes_(writes), warm_(warm) {}

bool DualLookup::serializes(const Request& req) const {
    return (req.isWrite() && !req.isDelete() && !req.isPlainOverwrite() && writes_ != Writes::kSecond && req.keys.size() == 1) ||
           Strategy::serializes(req);
}

void DualLookup::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (!req.isWrite()) {
        readNow(req, sink, ctx);
        return;
    }
    if (req.isDelete()) {
        sendToBoth(req, sink, ctx, *first_, *second_, Merge::kMaxInteger, nullptr);
        return;
    }
    if (serializes(req)) {
        auto* w = new WriteThrough(ctx);
        w->owner = this;
        w->first = first_.get();
        w->second = second_.get();
        w->client = sink;
        w->client_dispatch = &ctx.client;
        if (ctx.snapshot) w->keep = *ctx.snapshot;
        w->argv.assign(req.argv.begin(), req.argv.end());
        w->key.assign(req.key());
        OwnedCommand exists({"EXISTS", w->key});
        first_->execute(exists.request(), w, ctx);
        return;
    }
    writeNow(req, sink, ctx);
}

void DualLookup::writeNow(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    {
        switch (writes_) {
            case Writes::kFirst: first_->execute(req, sink, ctx); return;
            case Writes::kSecond: second_->execute(req, sink, ctx); return;
            case Writes::kBoth:
                sendToBoth(req, sink, ctx, *first_, *second_, Merge::kFirst, ctx.stats ? &ctx.stats->secondary_failures : nullptr);
                return;
        }
    }
}

void DualLookup::readNow(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (req.keys.empty()) {  // keyless reads have nothing to fall back on
        first_->execute(req, sink, ctx);
        return;
    }
    LookupSink* s = acquireSink();
    s->ctx.emplace(backgroundContext(ctx));
    s->first = first_.get();
    s->second = second_.get();
    s->warm = warm_ && req.keys.size() == 1;
    s->client = sink;
    s->client_dispatch = &ctx.client;
    s->hold = holdSnapshot(ctx.snapshot);
    s->bytes.append(req.raw);  // empty: a new or released sink
    s->cmd = req.cmd;
    const ReadKind kind = readKind(req.cmd);
    s->exists_cmd = kind == ReadKind::kExists;
    bool counts = kind == ReadKind::kCounts && req.keys.size() == 1;
    if (s->warm || counts) s->key.assign(req.key());
    if (counts) {
        s->step = LookupSink::Step::kExists;
        OwnedCommand exists({"EXISTS", s->key});
        first_->execute(exists.request(), s, ctx);
    }
    first_->execute(req, s, ctx);
}

void DualLookup::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    if (!write) {
        first_->targets(req, ctx, false, out);
        second_->targets(req, ctx, false, out);
        return;
    }
    if (req.isDelete() || writes_ == Writes::kBoth || writes_ == Writes::kFirst) first_->targets(req, ctx, true, out);
    if (req.isDelete() || writes_ == Writes::kBoth || writes_ == Writes::kSecond) second_->targets(req, ctx, true, out);
}

std::string DualLookup::describe() const {
    static const char* kWrites[] = {"first", "second", "both"};
    return "dual_lookup(first=" + first_->describe() + ", second=" + second_->describe() +
           ", writes=" + kWrites[static_cast<int>(writes_)] + ", warm=" + (warm_ ? "true" : "false") + ")";
}

std::unique_ptr<Strategy> makeDualLookup(config::MapReader& r, Builder& b) {
    auto first = b.child(r, "first");
    auto second = b.child(r, "second");
    using Writes = DualLookup::Writes;
    auto writes = r.choice<Writes>("writes", Writes::kFirst, {{"first", Writes::kFirst}, {"second", Writes::kSecond}, {"both", Writes::kBoth}});
    bool warm = r.boolean("warm", false);
    return std::make_unique<DualLookup>(std::move(first), std::move(second), writes, warm);
}

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/queued_write.h"

#include <fmt/format.h>

#include <optional>
#include <spdlog/spdlog.h>

#include "obs/logging.h"
#include "policy/clock.h"
#include "policy/route_stats.h"
#include "policy/sync_engine.h"
#include "queue/record.h"
#include "policy/write_queue.h"
#include "resp/writer.h"

namespace laminar::policy {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("policy");
    return l;
}

void completeWith(backend::ReplySink* sink, std::string_view raw, bool failed) { sink->complete(raw, failed); }

// Why a write could not be queued: the journal cannot write (a full disk, an I/O error), or it
// holds max_bytes not applied yet.
std::string fullError(const std::string& route, const policy::WriteQueue& queue) {
    if (auto why = queue.error(); !why.empty())
        return fmt::format("-ERR laminar: the write queue cannot write to disk ({}), route '{}' refuses writes until it can\r\n", why, route);
    return fmt::format("-ERR laminar: the write queue is full (queue.max_bytes: {} bytes not applied yet), route '{}' refuses writes until it drains\r\n",
                       queue.config().max_bytes, route);
}

// Primary's reply goes to the client once the keys it wrote (or, for a write without keys, the
// command) are journaled for the queued backends.
struct JournalAfterPrimary final : backend::ReplySink {
    backend::ReplySink* client = nullptr;
    policy::WriteQueue* queue = nullptr;
    RouteStats* stats = nullptr;
    std::string from;
    std::vector<std::string> targets;
    std::vector<std::string> keys;
    std::string command;  // a write without keys: journaled as it is

    void complete(std::string_view raw, bool failed) override {
        // Keys are copied even after an error reply (a script may have written before failing,
        // a timeout may hide an applied write): copying a key's state is always safe. A keyless
        // command primary refused is not journaled.
        bool refused = !failed && !raw.empty() && raw[0] == '-';
        if (queue && (!keys.empty() || !refused)) {
            uint64_t seq;
            if (keys.empty()) {
                seq = queue->appendCommand(targets, command);
            } else {
                std::vector<std::string_view> views(keys.begin(), keys.end());
                seq = queue->appendRanKeys(from, targets, views);
            }
            if (stats) RouteStats::add(seq ? stats->queued : stats->secondary_failures);
            if (!seq) {
                log()->error("write queue full or failed: {} key(s) written on '{}' will not reach the queued backends", keys.size(), from);
                // The client is told: the write ran on primary, and the queued backends miss it.
                if (!failed && !refused) {
                    std::string why = queue->error();
                    client->complete(fmt::format("-ERR laminar: the write ran on '{}' but could not be queued for the other backends ({}); "
                                                 "they miss it until its keys are copied\r\n",
                                                 from, why.empty() ? "the write queue is full" : why),
                                     false);
                    delete this;
                    return;
                }
            }
        }
        client->complete(raw, failed);
        delete this;
    }
};

}  // namespace

QueuedWrite::QueuedWrite(int primary, std::string primary_name, std::vector<std::string> queued, bool ack_queued, std::string route)
    : primary_(primary), primary_name_(std::move(primary_name)), queued_(std::move(queued)), ack_queued_(ack_queued), route_(std::move(route)) {
    all_.push_back(primary_name_);
    all_.insert(all_.end(), queued_.begin(), queued_.end());
}

namespace {

int64_t nowMillis(const Clock& clock) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count();
}

}  // namespace

// What a write needs to run later, on its client's thread, after execute() has returned.
struct QueuedWrite::Deferred {
    Dispatch* client;
    SyncHost* host;
    policy::WriteQueue* queue;
    RouteStats* stats;
    const Clock* clock;
    const Health* health;
    std::shared_ptr<const Snapshot> snapshot;

    explicit Deferred(Context& ctx)
        : client(&ctx.client), host(ctx.host), queue(ctx.queue), stats(ctx.stats), clock(&ctx.clock), health(&ctx.health),
          snapshot(ctx.snapshot ? *ctx.snapshot : nullptr) {}
    Context context() { return Context{*client, *client, *clock, *health, nullptr, snapshot ? &snapshot : nullptr, stats, host, queue}; }
    // Runs `fn` on the client's thread: now when already there.
    void run(std::function<void(Context&)> fn) {
        auto go = [self = *this, fn = std::move(fn)]() mutable {
            Context c = self.context();
            fn(c);
        };

        if (host->isCurrentThread()) go();
        else host->post(std::move(go));
    }
};

struct QueuedWrite::Pending {
    std::vector<std::string> argv;  // argv, keys, raw, cmd: only when the write may run through primary
    std::vector<int> keys;
    std::string raw;
    std::string journaled;  // ack: queued: the command as journaled (absolute expiries)
    const resp::CommandInfo* cmd = nullptr;
    backend::ReplySink* sink = nullptr;
    std::chrono::steady_clock::time_point deadline;  // when_full: block gives up then
    std::optional<Deferred> d;                        // queueCommand: the context to answer in
};

void QueuedWrite::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (!req.isWrite()) {
        ctx.client.send(primary_, req.raw, sink);
        return;
    }
    if (!ctx.queue || !ctx.host) {
        completeWith(sink, fmt::format("-ERR laminar: route '{}' needs the write queue, which is not open (see the log)\r\n", route_), false);
        return;
    }
    if (checked_queue_.load(std::memory_order_acquire) != ctx.queue) {
        for (const auto& t : all_)
            if (!ctx.queue->hasTarget(t)) {
                completeWith(sink, fmt::format("-ERR laminar: backend '{}' is not a write queue target yet: restart laminar to add it\r\n", t), false);
                return;
            }
        checked_queue_.store(ctx.queue, std::memory_order_release);
    }
    using WhenFull = config::QueueConfig::WhenFull;
    const auto when_full = ctx.queue->config().when_full;
    auto copyCommand = [&](Pending& w) {
        for (auto a : req.argv) w.argv.emplace_back(a);
        w.keys.assign(req.keys.begin(), req.keys.end());
        w.raw.assign(req.raw);
        w.cmd = req.cmd;
    };
    if (ack_queued_ && !req.keys.empty()) {
        if (auto resp = queue::fixedReplyCommand(req.argv, [&ctx] { return nowMillis(ctx.clock); })) {
            // The hot path: journaled, acknowledged once durable. The command itself is kept only
            // when a full queue may run it through primary instead (when_full: sync).
            auto* w = new Pending;
            w->journaled = std::move(*resp);
            w->sink = sink;
            if (when_full == WhenFull::kSync) copyCommand(*w);
            if (when_full == WhenFull::kBlock) w->deadline = std::chrono::steady_clock::now() + ctx.queue->config().block_timeout;
            queueCommand(w, ctx);
            return;
        }
    }
    auto w = std::make_shared<Pending>();
    copyCommand(*w);
    w->sink = sink;
    w->deadline = std::chrono::steady_clock::now() + ctx.queue->config().block_timeout;
    writeThrough(std::move(w), ctx);
}

// Case 2 (and the synchronous half of 3 and 4): once there is room (when_full), and once primary
// has applied the commands queued before (ack: queued), run on primary and journal its keys.
void QueuedWrite::writeThrough(std::shared_ptr<Pending> w, Context& ctx) const {
    using WhenFull = config::QueueConfig::WhenFull;
    const auto& q = ctx.queue->config();
    if (!ctx.queue->hasRoom() && q.when_full != WhenFull::kSync) {
        if (q.when_full == WhenFull::kBlock && std::chrono::steady_clock::now() < w->deadline) {
            Deferred d(ctx);
            ctx.host->postAfter(std::chrono::milliseconds(10), [this, d, w]() mutable { d.run([this, w](Context& c) { writeThrough(w, c); }); });
            return;
        }
        reject(*w, ctx);
        return;
    }
    auto run = [this, w](Context& c) {
        auto* s = new JournalAfterPrimary;
        s->client = w->sink;
        s->queue = c.queue;
        s->stats = c.stats;
        s->from = primary_name_;
        s->targets = queued_;
        for (int i : w->keys) s->keys.push_back(w->argv[static_cast<size_t>(i)]);
        if (s->keys.empty()) s->command = w->raw;
        c.client.send(primary_, w->journaled.empty() ? w->raw : w->journaled, s);
    };
    if (!ack_queued_) {
        run(ctx);
        return;
    }
    Deferred d(ctx);
    ctx.queue->afterCommandsApplied(primary_name_, [d, run]() mutable { d.run(run); });
}

// Case 3: journaled for every target (batched with the rest of the client's pipeline),
// acknowledged once durable.
void QueuedWrite::queueCommand(Pending* w, Context& ctx) const {
    w->d.emplace(ctx);
    // [this, w]: small enough for std::function to keep without an allocation of its own.
    ctx.queue->appendCommandBatched(all_, w->journaled, [this, w](uint64_t seq) {
        if (seq) {
            acknowledge(seq, w->sink, *w->d);
            delete w;
            return;
        }
        std::shared_ptr<Pending> owned(w);  // full: when_full decides, maybe later
        owned->d->run([this, owned](Context& c) { retryQueueCommand(owned, c); });
    });
}

void QueuedWrite::acknowledge(uint64_t seq, backend::ReplySink* sink, Deferred& d) const {
    if (d.stats) RouteStats::add(d.stats->queued);
    SyncHost* host = d.host;
    d.queue->whenDurable(seq, [host, sink](bool durable) {
        auto reply = [sink, durable] {
            // Not durable: the journal failed (see the log); the write may still be applied.
            sink->complete(durable ? "+OK\r\n" : "-ERR laminar: the write queue failed before the write was on disk (see the log); it may or may not be applied\r\n",
                           !durable);
        };
        // fsync everysec/no: durable at once, still on the client's thread.
        if (host->isCurrentThread()) reply();
        else host->post(reply);
    });
}

// The queue had no room: one record at a time, as when_full says.
void QueuedWrite::retryQueueCommand(std::shared_ptr<Pending> w, Context& ctx) const {
    uint64_t seq = ctx.queue->appendCommand(all_, w->journaled);
    if (seq) {
        Deferred d(ctx);
        return acknowledge(seq, w->sink, d);
    }
    using WhenFull = config::QueueConfig::WhenFull;
    switch (ctx.queue->config().when_full) {
        case WhenFull::kBlock:
            if (std::chrono::steady_clock::now() < w->deadline) {
                Deferred d(ctx);
                ctx.host->postAfter(std::chrono::milliseconds(10),
                                    [this, d, w]() mutable { d.run([this, w](Context& c) { retryQueueCommand(w, c); }); });
                return;
            }
            break;
        case WhenFull::kSync: writeThrough(w, ctx); return;  // the command was kept (execute saw kSync too)
        case WhenFull::kReject: break;
    }
    reject(*w, ctx);
}

void QueuedWrite::reject(Pending& w, Context& ctx) const {
    ctx.queue->countReject();
    if (ctx.stats) RouteStats::add(ctx.stats->queue_rejects);
    w.sink->complete(fullError(route_, *ctx.queue), false);
}

void QueuedWrite::afterPinnedWrite(std::string_view key, Context& ctx) const {
    if (!ctx.queue) return;
    std::string_view k = key;
    if (!ctx.queue->appendRanKeys(primary_name_, queued_, std::span<const std::string_view>(&k, 1)))
        log()->error("write queue full or failed: key written on '{}' inside MULTI will not reach the queued backends", primary_name_);
}

void QueuedWrite::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    (void)req;
    (void)ctx;
    out.push_back(primary_);
    if (write) out.insert(out.end(), queued_index_.begin(), queued_index_.end());
}

std::string QueuedWrite::describe() const {
    std::string q;
    for (const auto& n : queued_) q += (q.empty() ? "" : ", ") + n;
    return fmt::format("queued_write(primary={}, queued=[{}], ack={})", primary_name_, q, ack_queued_ ? "queued" : "primary");
}

std::unique_ptr<Strategy> makeQueuedWrite(config::MapReader& r, Builder& b) {
    int primary = b.backend(r, "primary");
    auto node = r.take("queued");
    std::vector<std::string> queued;
    std::vector<int> indices;
    if (!node.IsDefined() || !node.IsSequence() || node.size() == 0)
        b.fail(node.IsDefined() ? node : r.node(), r.path("queued"), "must be a list of one or more backend names");
    for (size_t i = 0; i < node.size(); ++i) {
        auto path = fmt::format("{}[{}]", r.path("queued"), i);
        int idx = b.backendIndex(node[i], path);
        auto name = b.backendName(idx);
        if (idx == primary) b.fail(node[i], path, fmt::format("'{}' is the primary already", name));
        for (const auto& q : queued)
            if (q == name) b.fail(node[i], path, fmt::format("'{}' is listed twice", name));
        queued.push_back(name);
        indices.push_back(idx);
        b.proxy(idx);
    }
    bool ack_queued = r.choice<bool>("ack", false, {{"primary", false}, {"queued", true}});
    b.proxy(primary);
    auto s = std::make_unique<QueuedWrite>(primary, b.backendName(primary), std::move(queued), ack_queued, b.routeName());
    s->setQueuedIndices(std::move(indices));
    return s;
}

}  // namespace laminar::policy

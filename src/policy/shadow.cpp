// SPDX-License-Identifier: Apache-2.0
#include "policy/shadow.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <limits>
#include <utility>

#include "obs/logging.h"
#include "policy/reply_compare.h"
#include "policy/route_stats.h"

namespace laminar::policy {

constexpr size_t kMaxKeyLogged = 100;

// What a route's comparisons share: the route name and a limiter of one log line per second for
// each kind of event. Held by shared_ptr by every comparison in flight, never through a Shadow.
struct ShadowLog {
    enum Event { kMismatch, kFailure };

    explicit ShadowLog(std::string r) : route(std::move(r)), logger(obs::logger("shadow")) {}

    // True when a line for `e` may be written now; `skipped` is how many were held back since.
    bool allow(Event e, uint64_t& skipped) {
        auto now = std::chrono::steady_clock::now().time_since_epoch().count();
        auto& last = last_[e];
        auto prev = last.load(std::memory_order_relaxed);
        if (now - prev < std::chrono::steady_clock::duration(std::chrono::seconds(1)).count() ||
            !last.compare_exchange_strong(prev, now, std::memory_order_relaxed)) {
            skipped_[e].fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        skipped = skipped_[e].exchange(0, std::memory_order_relaxed);
        return true;
    }

    const std::string route;
    const std::shared_ptr<spdlog::logger> logger;

private:
    using Rep = std::chrono::steady_clock::rep;
    std::atomic<Rep> last_[2] = {std::numeric_limits<Rep>::min() / 2, std::numeric_limits<Rep>::min() / 2};
    std::atomic<uint64_t> skipped_[2] = {0, 0};
};

namespace {

std::string heldBack(uint64_t n) { return n == 0 ? std::string() : fmt::format(" ({} more not logged)", n); }

// An error laminar made itself ("-ERR laminar: backend 'new' unavailable...", "-READONLY laminar:
// route ..."), not one the backend answered.
bool laminarError(std::string_view raw) {
    if (raw.empty() || raw[0] != '-') return false;
    auto space = raw.find(' ');
    return space != std::string_view::npos && raw.substr(space + 1).starts_with("laminar:");
}

// One shadowed command: the primary's and the shadow's replies meet here. Both sides hold it
// (a count of two); the side that completes last compares and frees it. All completions for one
// command happen on the same I/O thread, so the count needs no atomics.
struct Comparison {
    std::shared_ptr<ShadowLog> log;
    RouteStats* stats;             // in the Registry, which outlives every snapshot
    const resp::CommandInfo* cmd;  // the static command table
    std::string key;               // for the log line: its first 100 bytes
    backend::ReplySink* client;

    int pending = 2;
    bool kept_is_primary = false;  // which side `kept` came from
    bool kept_usable = false;      // a real reply (not a failure)
    std::string kept;              // the first reply in, while waiting for the other

    struct PrimarySide final : backend::ReplySink {
        Comparison* c;
        void complete(std::string_view raw, bool failed) override {
            // The client first: the comparison never delays it.
            auto* client = std::exchange(c->client, nullptr);
            client->complete(raw, failed);
            c->arrived(true, raw, failed);
        }
    } primary_side{};

    struct ShadowSide final : backend::ReplySink {
        Comparison* c;
        void complete(std::string_view raw, bool failed) override { c->arrived(false, raw, failed); }
    } shadow_side{};

    Comparison(std::shared_ptr<ShadowLog> l, RouteStats* s, const resp::CommandInfo* command, std::string_view k,
               backend::ReplySink* sink)
        : log(std::move(l)), stats(s), cmd(command), key(k.substr(0, kMaxKeyLogged)), client(sink) {
        primary_side.c = this;
        shadow_side.c = this;
    }

    void arrived(bool is_primary, std::string_view raw, bool failed) {
        bool usable = !failed && !laminarError(raw);
        if (!is_primary && !usable) shadowFailed(raw);
        if (--pending > 0) {
            kept_is_primary = is_primary;
            kept_usable = usable;
            if (usable) kept.assign(raw);
            return;
        }
        if (usable && kept_usable) {
            std::string_view primary = is_primary ? raw : std::string_view(kept);
            std::string_view shadow = is_primary ? std::string_view(kept) : raw;
            compare(primary, shadow);
        }
        delete this;
    }

    void compare(std::string_view primary, std::string_view shadow) {
        Verdict v = compareReplies(*cmd, primary, shadow);
        if (v == Verdict::kNotComparable) return;
        if (stats) RouteStats::add(stats->shadow_compared);
        if (v == Verdict::kEqual) return;
        if (stats) RouteStats::add(stats->shadow_mismatches);
        uint64_t skipped = 0;
        if (!log->allow(ShadowLog::kMismatch, skipped)) return;
        log->logger->warn("route '{}': shadow reply differs from primary's for {} key \"{}\": {} (primary vs shadow){}",
                          log->route, cmd->name, logExcerpt(key, kMaxKeyLogged), describeDifference(*cmd, primary, shadow),
                          heldBack(skipped));
    }

    void shadowFailed(std::string_view raw) {
        if (stats) RouteStats::add(stats->shadow_failures);
        uint64_t skipped = 0;
        if (!log->allow(ShadowLog::kFailure, skipped)) return;
        // The reply is laminar's own error (or a backend's): no client data in it.
        auto line = raw.substr(0, raw.find("\r\n"));
        log->logger->warn("route '{}': shadow failed for {} key \"{}\": {}{}", log->route, cmd->name,
                          logExcerpt(key, kMaxKeyLogged), logExcerpt(line, 200), heldBack(skipped));
    }
};

}  // namespace

Shadow::Shadow(std::unique_ptr<Strategy> primary, std::unique_ptr<Strategy> shadow, double sample, Writes writes,
               const std::string& route)
    : primary_(std::move(primary)),
      shadow_(std::move(shadow)),
      sample_(sample),
      writes_(writes),
      log_(std::make_shared<ShadowLog>(route)) {}

Shadow::~Shadow() = default;

bool Shadow::sampled(std::string_view key) const {
    if (sample_ >= 1.0) return true;
    if (sample_ <= 0.0) return false;
    uint64_t h = XXH64(key.data(), key.size(), 0);
    return static_cast<double>(h >> 11) * 0x1p-53 < sample_;  // the top 53 bits, uniform in [0, 1)
}

bool Shadow::shadows(const Request& req, bool write) const {
    using namespace resp;
    const CommandInfo& cmd = *req.cmd;
    if (req.keys.empty()) return false;
    if (cmd.has(kBlocking) || cmd.has(kPubSub) || cmd.has(kTransaction) || cmd.has(kAdmin) || cmd.has(kNoProxy))
        return false;
    if (write) {
        if (writes_ != Writes::kBoth) return false;
        for (int i : req.keys)
            if (sampled(req.argv[static_cast<size_t>(i)])) return true;
        return false;
    }
    if (!cmd.has(kRead) || cmd.has(kWrite) || !repliesComparable(cmd)) return false;
    for (int i : req.keys)
        if (!sampled(req.argv[static_cast<size_t>(i)])) return false;
    return true;
}

void Shadow::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (!shadows(req, req.isWrite())) {
        primary_->execute(req, sink, ctx);
        return;
    }
    auto* c = new Comparison(log_, ctx.stats, req.cmd, req.key(), sink);
    // The shadow's commands ride on the background connections, so they neither wait behind nor
    // hold up the client's, and survive it disconnecting.
    Context background{ctx.background, ctx.background, ctx.clock, ctx.health, ctx.sync, ctx.snapshot, ctx.stats};
    primary_->execute(req, &c->primary_side, ctx);
    shadow_->execute(req, &c->shadow_side, background);  // may free c: not used after this
}

void Shadow::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    primary_->targets(req, ctx, write, out);
    if (shadows(req, write)) shadow_->targets(req, ctx, write, out);
}

std::string Shadow::describe() const {
    return fmt::format("shadow(primary={}, shadow={}, sample={}{})", primary_->describe(), shadow_->describe(), sample_,
                       writes_ == Writes::kBoth ? ", writes=both" : "");
}

std::unique_ptr<Strategy> makeShadow(config::MapReader& r, Builder& b) {
    YAML::Node primary_node = r.node()["primary"], shadow_node = r.node()["shadow"];
    auto primary = b.child(r, "primary");
    auto shadow = b.child(r, "shadow");
    if (primary_node.IsScalar() && shadow_node.IsScalar() && primary_node.Scalar() == shadow_node.Scalar())
        b.fail(shadow_node, r.path("shadow"),
               fmt::format("must differ from primary ('{}'): a backend compared with itself tells nothing", shadow_node.Scalar()));

    double sample = 1.0;
    if (auto n = r.take("sample"); n.IsDefined() && !n.IsNull()) {
        const std::string s = n.IsScalar() ? n.Scalar() : std::string("?");
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), sample);
        if (!n.IsScalar() || ec != std::errc() || p != s.data() + s.size() || !(sample >= 0.0 && sample <= 1.0))
            b.fail(n, r.path("sample"), fmt::format("must be a number from 0 to 1 (the share of keys shadowed), got '{}'", s));
    }

    using Writes = Shadow::Writes;
    auto writes = r.choice<Writes>("writes", Writes::kPrimary, {{"primary", Writes::kPrimary}, {"both", Writes::kBoth}});

    return std::make_unique<Shadow>(std::move(primary), std::move(shadow), sample, writes, b.routeName());
}

}  // namespace laminar::policy

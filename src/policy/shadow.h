// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>

#include "policy/strategy.h"

namespace laminar::policy {

struct ShadowLog;

// Shadow (docs/design.md, "Shadow"): the new store sees real traffic and is checked against the old one
// before any client depends on it.
//  1. Every command goes to `primary` (a backend or a nested strategy), and the client gets the
//     primary's reply exactly as it came, as soon as it comes: the shadow never delays or changes it.
//  2. A read also goes to `shadow`, in the background (ctx.background, not the client's
//     connections), when its keys are sampled: `sample` (0..1, default 1) is the share of keys
//     shadowed, decided by XXH64 of the key, so a key is always or never shadowed; a read with
//     several keys is shadowed only when all of them are. Not shadowed: keyless commands (they read
//     server state, not data), reads whose replies cannot be compared (random, cursors, DUMP...;
//     see reply_compare.h), blocking, pub/sub, transaction and admin commands.
//  3. When both replies are in (in either order) they are compared by reply_compare's rules. Each
//     comparison counts shadow_compared; one that differs also counts shadow_mismatches and is
//     logged at warn, at most one line per second per route, naming the route, the command, the
//     key (its first 100 bytes) and where the replies differ (at most 64 bytes of any value).
//  4. A shadow that fails (its backend could not answer, or laminar answered for it with an error
//     that says "laminar:") counts shadow_failures and is logged (at most once per second per
//     route); the client never hears of it. When the primary fails, nothing is compared: the
//     client got the primary's error and the backend's counters show it.
//  5. Writes go to `primary` only (`writes: primary`, the default). With `writes: both`, a write
//     with at least one sampled key also goes to `shadow` in the background (so a sampled key's
//     shadow copy gets every write); the reply is still the primary's, and the two replies are
//     compared as in 3, except those of writes whose replies are not comparable (SPOP, XADD...):
//     those only count failures.
//  6. A client in a stateful mode (MULTI, blocking, pub/sub) is pinned to the primary.
// Reverse: drop the route, or make it `proxy {target: <primary>}`: the shadow never served a client.
class Shadow final : public Strategy {
public:
    enum class Writes { kPrimary, kBoth };
    Shadow(std::unique_ptr<Strategy> primary, std::unique_ptr<Strategy> shadow, double sample, Writes writes,
           const std::string& route);
    ~Shadow() override;
    std::string_view type() const override { return "shadow"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return primary_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*primary_);
        fn(*shadow_);
    }

    // Whether `req`, as a write (`write`) or a read, is also sent to the shadow.
    bool shadows(const Request& req, bool write) const;

private:
    bool sampled(std::string_view key) const;

    std::unique_ptr<Strategy> primary_, shadow_;
    double sample_;
    Writes writes_;
    // The route's log limiter; comparisons in flight share it, so it outlives this strategy.
    std::shared_ptr<ShadowLog> log_;
};

// shadow {primary, shadow, sample: 0..1, writes: primary|both}
std::unique_ptr<Strategy> makeShadow(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

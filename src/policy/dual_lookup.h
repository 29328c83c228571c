// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// Dual lookup (docs/design.md, "Dual lookup"): the new store fills up while the old one still
// answers what the new one does not have yet.
//  1. A read goes to `first`; its reply is returned unless it is a miss.
//  2. A miss (a null, an empty collection, TYPE's `none`, TTL's -2, EXISTS's 0, or a 0 from a
//     count or membership read — STRLEN, HLEN, SISMEMBER... — of a key first does not have, told
//     by an EXISTS sent just before it) is retried on `second`, and second's reply is returned.
//     The fallback is counted.
//  3. With `warm: true`, a key the fallback found on second is copied into first with its TTL, of
//     any Redis type (DUMP + PTTL on second, then RESTORE without REPLACE on first), in the
//     background after the client has its reply. A value first got meanwhile is never
//     overwritten (RESTORE answers BUSYKEY and the copy is dropped). Failures are counted.
//  4. Writes go where `writes` says: `first` (default), `second`, or `both` (sent to both at once;
//     the reply is first's). A write that builds on the key's value (INCR, APPEND, RPUSH, HSET...,
//     anything but a plain overwrite) of a key first does not have copies the key in from second
//     first (as in 3, never over a value), so it builds on second's value; the client's next
//     commands wait for it.
//  5. Deletes (DEL, UNLINK) always go to both sides, so a stale copy cannot come back through
//     the fallback; the reply is the larger of the two counts.
// Reverse: swap `first` and `second`.
class DualLookup final : public Strategy {
public:
    enum class Writes { kFirst, kSecond, kBoth };
    DualLookup(std::unique_ptr<Strategy> first, std::unique_ptr<Strategy> second, Writes writes, bool warm);
    std::string_view type() const override { return "dual_lookup"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    bool serializes(const Request& req) const override;
    int pinTarget() const override { return first_->pinTarget(); }
    void writeNow(const Request& req, backend::ReplySink* sink, Context& ctx) const;
    void readNow(const Request& req, backend::ReplySink* sink, Context& ctx) const;
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*first_);
        fn(*second_);
    }

private:
    std::unique_ptr<Strategy> first_, second_;
    Writes writes_;
    bool warm_;
};

std::unique_ptr<Strategy> makeDualLookup(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// Read-only version (docs/design.md, "Read-only version"): the store is frozen while it is
// copied, and nothing is lost because nothing is written.
//  1. Reads go to `target` (a backend or a nested strategy) unchanged.
//  2. Writes are refused with "-READONLY laminar: route 'R' is read-only", naming the route; no
//     backend sees them.
// Reverse: change the route back to `proxy`.
class ReadOnly final : public Strategy {
public:
    ReadOnly(std::unique_ptr<Strategy> target, std::string route);
    std::string_view type() const override { return "read_only"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return target_->pinTarget(); }
    bool refusesWrites() const override { return true; }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override { return "read_only(" + target_->describe() + ")"; }
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override { fn(*target_); }

private:
    std::unique_ptr<Strategy> target_;
    std::string error_;
};

std::unique_ptr<Strategy> makeReadOnly(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

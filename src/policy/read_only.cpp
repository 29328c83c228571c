// SPDX-License-Identifier: Apache-2.0
#include "policy/read_only.h"

namespace laminar::policy {

ReadOnly::ReadOnly(std::unique_ptr<Strategy> target, std::string route)
    : target_(std::move(target)), error_("-READONLY laminar: route '" + route + "' is read-only\r\n") {}

void ReadOnly::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    if (req.isWrite()) {
        sink->complete(error_, false);
        return;
    }
    target_->execute(req, sink, ctx);
}

void ReadOnly::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    if (!write) target_->targets(req, ctx, false, out);
}

std::unique_ptr<Strategy> makeReadOnly(config::MapReader& r, Builder& b) {
    return std::make_unique<ReadOnly>(b.child(r, "target"), b.routeName());
}

}  // namespace laminar::policy

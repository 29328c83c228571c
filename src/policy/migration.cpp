// SPDX-License-Identifier: Apache-2.0
#include "policy/migration.h"

#include "policy/dual_write.h"
#include "policy/sync_engine.h"

namespace laminar::policy {

std::string_view Migration::phaseName(Phase p) {
    switch (p) {
        case Phase::kOldOnly: return "old_only";
        case Phase::kReadOld: return "dual_write_read_old";
        case Phase::kReadNew: return "dual_write_read_new";
        case Phase::kNewOnly: return "new_only";
    }
    return "?";
}

void Migration::noteChanges(const Request& req, SyncEngine& sync) const {
    for (int i : req.keys) sync.noteChange(route_, req.argv[static_cast<size_t>(i)]);
}

void Migration::beforePinnedWrite(std::string_view key, Context& ctx) const {
    if (phase_ == Phase::kNewOnly && ctx.sync) ctx.sync->noteChange(route_, key);
    inner_->beforePinnedWrite(key, ctx);
}

std::unique_ptr<Strategy> buildMigration(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    int from = b.backend(r, "from");
    int to = b.backend(r, "to");
    if (from == to) b.fail(r.take("to"), r.path("to"), "must differ from `from`");
    using Phase = Migration::Phase;
    auto n = r.take("phase");
    const Phase phase = config::chooseOne<Phase>(b.ctx(), n.IsDefined() && !n.IsNull() ? n : node, r.path("phase"),
                                                 {{"old_only", Phase::kOldOnly},
                                                  {"dual_write_read_old", Phase::kReadOld},
                                                  {"dual_write_read_new", Phase::kReadNew},
                                                  {"new_only", Phase::kNewOnly}});
    std::unique_ptr<Strategy> inner;
    switch (phase) {
        case Phase::kOldOnly: inner = b.proxy(from); break;
        case Phase::kNewOnly: inner = b.proxy(to); break;
        case Phase::kReadOld:
        case Phase::kReadNew: {
            bool forward = phase == Phase::kReadOld;
            int primary = forward ? from : to, secondary = forward ? to : from;
            auto dw = std::make_unique<DualWrite>(b.proxy(primary), b.proxy(secondary), DualWrite::Mode::kSync, false, false);
            dw->setPairName(b.backendName(primary) + ">" + b.backendName(secondary));
            inner = std::move(dw);
            break;
        }
    }
    r.finish();
    return std::make_unique<Migration>(phase, b.routeName(), b.backendName(from), b.backendName(to), std::move(inner));
}

}  // namespace laminar::policy

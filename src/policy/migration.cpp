// SPDX-License-Identifier: Apache-2.0
#include "policy/migration.h"

#include "policy/dual_write.h"

namespace laminar::policy {

std::unique_ptr<Strategy> buildMigration(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    int from = b.backend(r, "from");
    int to = b.backend(r, "to");
    if (from == to) b.fail(r.take("to"), r.path("to"), "must differ from `from`");
    auto n = r.take("phase");
    const std::string phase(config::chooseOne<std::string_view>(b.ctx(), n.IsDefined() && !n.IsNull() ? n : node, r.path("phase"),
                                                                {{"old_only", "old_only"},
                                                                 {"dual_write_read_old", "dual_write_read_old"},
                                                                 {"dual_write_read_new", "dual_write_read_new"},
                                                                 {"new_only", "new_only"}}));
    std::unique_ptr<Strategy> inner;
    if (phase == "old_only") {
        inner = b.proxy(from);
    } else if (phase == "dual_write_read_old" || phase == "dual_write_read_new") {
        bool forward = phase == "dual_write_read_old";
        int primary = forward ? from : to, secondary = forward ? to : from;
        auto dw = std::make_unique<DualWrite>(b.proxy(primary), b.proxy(secondary), DualWrite::Mode::kSync, false, false);
        dw->setPairName(b.backendName(primary) + ">" + b.backendName(secondary));
        inner = std::move(dw);
    } else {  // new_only
        inner = b.proxy(to);
    }
    r.finish();
    return std::make_unique<Migration>(phase, std::move(inner));
}

}  // namespace laminar::policy

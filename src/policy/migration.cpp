// SPDX-License-Identifier: Apache-2.0
#include "policy/migration.h"

#include "policy/dual_write.h"

namespace laminar::policy {

std::unique_ptr<Strategy> buildMigration(const YAML::Node& node, const std::string& path, Builder& b) {
    config::MapReader r(b.ctx(), node, path);
    int from = b.backend(r, "from");
    int to = b.backend(r, "to");
    if (from == to) b.fail(r.take("to"), r.path("to"), "must differ from `from`");
    auto phase = r.string("phase", "");
    std::unique_ptr<Strategy> inner;
    if (phase == "old_only") {
        inner = b.proxy(from);
    } else if (phase == "dual_write_read_old" || phase == "dual_write_read_new") {
        bool forward = phase == "dual_write_read_old";
        int primary = forward ? from : to, secondary = forward ? to : from;
        auto dw = std::make_unique<DualWrite>(b.proxy(primary), b.proxy(secondary), DualWrite::Mode::kSync, false, false);
        dw->setPairName(b.backendName(primary) + ">" + b.backendName(secondary));
        inner = std::move(dw);
    } else if (phase == "new_only") {
        inner = b.proxy(to);
    } else {
        b.fail(phase.empty() ? node : r.take("phase"), r.path("phase"),
               "must be old_only, dual_write_read_old, dual_write_read_new or new_only, got '" + phase + "'");
    }
    r.finish();
    return std::make_unique<Migration>(phase, std::move(inner));
}

}  // namespace laminar::policy

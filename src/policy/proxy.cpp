// SPDX-License-Identifier: Apache-2.0
#include "policy/proxy.h"

namespace laminar::policy {

std::string Proxy::describe(const config::Config& cfg) const {
    return "proxy -> " + cfg.backends[static_cast<size_t>(target_)].name;
}

std::unique_ptr<Strategy> makeProxy(const config::StrategyConfig& sc, const config::Config& cfg) {
    int target = cfg.backendIndex(sc.target);
    if (target < 0)
        throw config::ConfigError(cfg.source + ":" + std::to_string(sc.line) + ": " + sc.yaml_path + ": unknown backend '" + sc.target + "'");
    return std::make_unique<Proxy>(target);
}

}  // namespace laminar::policy

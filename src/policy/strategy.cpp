// SPDX-License-Identifier: Apache-2.0
#include "policy/strategy.h"

#include <unordered_map>

#include "policy/proxy.h"

namespace laminar::policy {
namespace {

using MakeStrategy = std::unique_ptr<Strategy> (*)(const config::StrategyConfig&, const config::Config&);

const std::unordered_map<std::string_view, MakeStrategy> kStrategies = {
    {"proxy", &makeProxy},
};

}  // namespace

std::unique_ptr<Strategy> makeStrategy(const config::StrategyConfig& sc, const config::Config& cfg) {
    auto it = kStrategies.find(sc.type);
    if (it == kStrategies.end())
        throw config::ConfigError(cfg.source + ":" + std::to_string(sc.line) + ": " + sc.yaml_path + ".type: unknown strategy type '" + sc.type + "'");
    return it->second(sc, cfg);
}

}  // namespace laminar::policy

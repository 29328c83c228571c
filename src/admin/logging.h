// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "config/config.h"

namespace laminar::admin {

// Sets up the default spdlog logger (stderr) from log.level and log.format. Modules clone it by
// name ("server", "backend", "client"), so every line says where it comes from.
void setupLogging(const config::LogConfig& cfg);

}  // namespace laminar::admin

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "config/config.h"

namespace laminar::obs {

// Sets up the default spdlog logger (stderr) from log.level and log.format. Modules clone it by
// name ("server", "backend", "client"), so every line says where it comes from.
void setupLogging(const config::LogConfig& cfg);

// The module logger `name`: a clone of the default logger, made on first use.
std::shared_ptr<spdlog::logger> logger(const char* name);

}  // namespace laminar::obs

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <memory>

#include "config/config.h"

namespace laminar::obs {

// Sets up the default spdlog logger (stderr) from log.level and log.format. Modules clone it by
// name ("server", "backend", "client"), so every line says where it comes from.
void setupLogging(const config::LogConfig& cfg);

// log.flap_interval, for every backend's flap damper (backend/flap_damper.h): set by
// setupLogging() and by each reload; 10 s until then.
void setFlapInterval(std::chrono::milliseconds interval);
std::chrono::milliseconds flapInterval();

// The module logger `name`: a clone of the default logger, made on first use.
std::shared_ptr<spdlog::logger> logger(const char* name);

}  // namespace laminar::obs

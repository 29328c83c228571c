// SPDX-License-Identifier: Apache-2.0
#include "obs/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace laminar::obs {
namespace {
std::atomic<int64_t> flap_interval_ms{config::LogConfig{}.flap_interval.count()};
}  // namespace

void setFlapInterval(std::chrono::milliseconds interval) { flap_interval_ms.store(interval.count(), std::memory_order_relaxed); }
std::chrono::milliseconds flapInterval() { return std::chrono::milliseconds(flap_interval_ms.load(std::memory_order_relaxed)); }

void setupLogging(const config::LogConfig& cfg) {
    auto logger = spdlog::stderr_logger_mt("laminar");
    if (cfg.format == "json") {
        // One JSON object per line. Messages are laminar's own; the few that quote client data
        // (shadow mismatches: a key and short value excerpts) escape it for JSON.
        logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%v"})");
    } else {
        logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
    }
    logger->set_level(spdlog::level::from_str(cfg.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    setFlapInterval(cfg.flap_interval);
}

std::shared_ptr<spdlog::logger> logger(const char* name) {
    if (auto l = spdlog::get(name)) return l;
    auto l = spdlog::default_logger()->clone(name);
    try {
        spdlog::register_logger(l);
    } catch (const spdlog::spdlog_ex&) {  // another thread registered it meanwhile
        return spdlog::get(name);
    }
    return l;
}

}  // namespace laminar::obs

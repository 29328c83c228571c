// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace laminar::config {

// "512mb", "64kb", "1gb", "1024" (bytes). Units are powers of 1024 and case-insensitive, as in
// redis.conf. nullopt for anything else.
std::optional<uint64_t> parseSize(std::string_view text);

// "500ms", "1s", "5m", "1h", "0s". A bare number is refused: a duration needs a unit.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

std::string formatSize(uint64_t bytes);
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace laminar::config

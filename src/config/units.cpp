// SPDX-License-Identifier: Apache-2.0
#include "config/units.h"

#include <cctype>
#include <charconv>

namespace laminar::config {
namespace {

// Splits "512mb" into 512 and "mb"; false when the number part is missing or overflows.
bool splitNumber(std::string_view text, uint64_t& number, std::string& unit) {
    size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 0) return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, number);
    if (ec != std::errc() || ptr != text.data() + digits) return false;
    unit.clear();
    for (char c : text.substr(digits)) unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return true;
}

bool multiply(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

std::optional<uint64_t> parseSize(std::string_view text) {
    uint64_t n = 0;
    std::string unit;
    if (!splitNumber(text, n, unit)) return std::nullopt;
    uint64_t factor = 0;
    if (unit.empty() || unit == "b") factor = 1;
    else if (unit == "k" || unit == "kb") factor = 1024;
    else if (unit == "m" || unit == "mb") factor = 1024 * 1024;
    else if (unit == "g" || unit == "gb") factor = 1024ull * 1024 * 1024;
    else return std::nullopt;
    uint64_t out = 0;
    if (!multiply(n, factor, out)) return std::nullopt;
    return out;
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
    uint64_t n = 0;
    std::string unit;
    if (!splitNumber(text, n, unit)) return std::nullopt;
    uint64_t factor = 0;
    if (unit == "ms") factor = 1;
    else if (unit == "s") factor = 1000;
    else if (unit == "m") factor = 60'000;
    else if (unit == "h") factor = 3'600'000;
    else return std::nullopt;
    uint64_t out = 0;
    if (!multiply(n, factor, out) || out > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(out));
}

std::string formatSize(uint64_t bytes) {
    if (bytes != 0 && bytes % (1024ull * 1024 * 1024) == 0) return std::to_string(bytes >> 30) + "gb";
    if (bytes != 0 && bytes % (1024 * 1024) == 0) return std::to_string(bytes >> 20) + "mb";
    if (bytes != 0 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "kb";
    return std::to_string(bytes) + "b";
}

std::string formatDuration(std::chrono::milliseconds d) {
    auto ms = d.count();
    if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

}  // namespace laminar::config

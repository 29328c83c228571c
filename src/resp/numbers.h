// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <climits>
#include <cstddef>
#include <string_view>

namespace laminar::resp {

// Redis's string2ll rules (util.c), so laminar accepts exactly the numbers Redis does: optional
// '-', no '+', no leading zeros, no spaces, fewer than 21 characters, overflow is an error. Works
// on unterminated input, unlike strtoll.
inline bool parseLongLong(const char* p, size_t n, long long& out) {
    if (n == 0 || n >= 21) return false;
    if (n == 1 && p[0] == '0') {
        out = 0;
        return true;
    }
    size_t i = 0;
    bool negative = false;
    if (p[0] == '-') {
        negative = true;
        if (++i == n) return false;
    }
    if (p[i] < '1' || p[i] > '9') return false;
    unsigned long long v = static_cast<unsigned long long>(p[i++] - '0');
    for (; i < n; ++i) {
        unsigned d = static_cast<unsigned char>(p[i]) - static_cast<unsigned>('0');
        if (d > 9) return false;
        if (v > (ULLONG_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > static_cast<unsigned long long>(LLONG_MAX) + 1) return false;
        out = static_cast<long long>(0ULL - v);  // modular in C++20, so LLONG_MIN is fine
    } else {
        if (v > static_cast<unsigned long long>(LLONG_MAX)) return false;
        out = static_cast<long long>(v);
    }
    return true;
}

inline bool parseLongLong(std::string_view s, long long& out) { return parseLongLong(s.data(), s.size(), out); }

}  // namespace laminar::resp

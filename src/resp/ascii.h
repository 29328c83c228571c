// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace laminar::resp {

// Redis matches command names and keywords with strcasecmp in the C locale: only the ASCII
// letters fold. So does laminar, whatever locale the process runs in (std::tolower follows it).
constexpr char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (asciiLower(a[i]) != asciiLower(b[i])) return false;
    return true;
}

}  // namespace laminar::resp

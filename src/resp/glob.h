// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace laminar::resp {

// Redis's glob (KEYS, SCAN MATCH): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes. Case-sensitive.
bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace laminar::resp

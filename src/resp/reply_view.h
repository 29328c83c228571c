// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

#include "resp/numbers.h"

namespace laminar::resp {

// Small readers for one complete raw reply (as framed by ReplyScanner), for the few places
// laminar looks inside a reply: strategies deciding on a miss, the sync engine reading DUMP/PTTL.

// A null: $-1, *-1, _ (RESP3).
inline bool isNull(std::string_view raw) {
    if (raw.size() < 2) return false;
    if (raw[0] == '_') return raw[1] == '\r';
    return (raw[0] == '$' || raw[0] == '*') && raw.size() >= 4 && raw[1] == '-' && raw[2] == '1' && raw[3] == '\r';
}
inline bool isError(std::string_view raw) { return !raw.empty() && (raw[0] == '-' || raw[0] == '!'); }

// The body of a bulk string reply ($N\r\nbody\r\n). False for anything else.
inline bool bulkBody(std::string_view raw, std::string_view& body) {
    if (raw.size() < 4 || raw[0] != '$') return false;
    auto eol = raw.find("\r\n");
    long long n = 0;
    if (eol == std::string_view::npos || !parseLongLong(raw.substr(1, eol - 1), n) || n < 0) return false;
    if (eol + 2 + static_cast<size_t>(n) > raw.size()) return false;
    body = raw.substr(eol + 2, static_cast<size_t>(n));
    return true;
}

// An integer reply (:N\r\n).
inline bool integerValue(std::string_view raw, long long& v) {
    if (raw.size() < 4 || raw[0] != ':') return false;
    auto eol = raw.find("\r\n");
    return eol != std::string_view::npos && parseLongLong(raw.substr(1, eol - 1), v);
}

// A reply that means "nothing there" for a read: a null, an empty aggregate (*0, %0, ~0), the
// `none` type, EXISTS's :0 and TTL's :-2. dual_lookup falls back to its second side on these.
// Decided on the first byte, as every read through dual_lookup asks it of its hit.
inline bool isMiss(std::string_view raw) {
    if (raw.size() < 2) return false;
    switch (raw[0]) {
        case '$':
        case '_': return isNull(raw);
        case '*': return isNull(raw) || raw == "*0\r\n";
        case '%':
        case '~': return raw.size() == 4 && raw[1] == '0' && raw[2] == '\r' && raw[3] == '\n';
        case '+': return raw == "+none\r\n";
        case ':': return raw == ":-2\r\n";
        default: return false;
    }
}

}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#include "resp/resp3.h"

#include "resp/numbers.h"

namespace laminar::resp {

void appendVerbatim(std::string& out, std::string_view body) {
    out += '=';
    out += std::to_string(body.size() + 4);
    out += "\r\ntxt:";
    out += body;
    out += "\r\n";
}

std::string bulkToVerbatim(std::string_view raw) {
    auto eol = raw.find("\r\n");
    long long n = 0;
    if (raw.empty() || raw[0] != '$' || eol == std::string_view::npos || !parseLongLong(raw.substr(1, eol - 1), n) || n < 0 ||
        raw.size() != eol + 2 + static_cast<size_t>(n) + 2)
        return std::string(raw);
    std::string out;
    appendVerbatim(out, raw.substr(eol + 2, static_cast<size_t>(n)));
    return out;
}

namespace {

// Copies the element at raw[pos] to out with its nulls rewritten; false when it is not RESP2.
bool rewrite(std::string_view raw, size_t& pos, std::string& out, int depth) {
    if (pos >= raw.size() || depth > 64) return false;
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    const char type = raw[pos];
    std::string_view line = raw.substr(pos, eol + 2 - pos);
    switch (type) {
        case '+':
        case '-':
        case ':':
            out += line;
            pos = eol + 2;
            return true;
        case '$':
        case '*': {
            long long n = 0;
            if (!parseLongLong(raw.substr(pos + 1, eol - pos - 1), n) || n < -1) return false;
            pos = eol + 2;
            if (n == -1) {
                out += "_\r\n";
                return true;
            }
            out += line;
            if (type == '$') {
                if (raw.size() - pos < static_cast<size_t>(n) + 2) return false;
                out += raw.substr(pos, static_cast<size_t>(n) + 2);
                pos += static_cast<size_t>(n) + 2;
                return true;
            }
            for (long long i = 0; i < n; ++i)
                if (!rewrite(raw, pos, out, depth + 1)) return false;
            return true;
        }
        default:
            return false;
    }
}

}  // namespace

std::string nullsToResp3(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    size_t pos = 0;
    if (!rewrite(raw, pos, out, 0) || pos != raw.size()) return std::string(raw);
    return out;
}

std::string withHelloId(std::string_view raw, long long id) {
    // The field is a bulk "id" followed by an integer; no value before it (server, version,
    // proto) can hold those bytes.
    constexpr std::string_view kField = "$2\r\nid\r\n:";
    auto at = raw.find(kField);
    if (at == std::string_view::npos) return std::string(raw);
    auto start = at + kField.size();
    auto end = raw.find("\r\n", start);
    if (end == std::string_view::npos) return std::string(raw);
    std::string out(raw.substr(0, start));
    out += std::to_string(id);
    out.append(raw.substr(end));
    return out;
}

}  // namespace laminar::resp

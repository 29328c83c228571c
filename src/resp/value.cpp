// SPDX-License-Identifier: Apache-2.0
#include "resp/value.h"

#include "resp/numbers.h"

namespace laminar::resp {
namespace {

constexpr int kMaxDepth = 64;  // nested arrays deeper than any reply laminar reads

// False when raw[pos..] is not one whole reply (malformed, cut short, or nested too deep).
bool parseInto(std::string_view raw, size_t& pos, Value& v, int depth) {
    if (pos >= raw.size() || depth > kMaxDepth) return false;
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    char type = raw[pos];
    std::string_view line = raw.substr(pos + 1, eol - pos - 1);
    pos = eol + 2;
    long long n = 0;
    switch (type) {
        case '+': v.kind = Value::Kind::kStatus; v.str.assign(line); return true;
        case '-': v.kind = Value::Kind::kError; v.str.assign(line); return true;
        case ':':
            if (!parseLongLong(line.data(), line.size(), n)) return false;
            v.kind = Value::Kind::kInteger;
            v.integer = n;
            return true;
        case '$':
            if (!parseLongLong(line.data(), line.size(), n)) return false;
            if (n < 0) return true;  // nil
            if (static_cast<unsigned long long>(n) > raw.size() - pos || raw.size() - pos - static_cast<size_t>(n) < 2) return false;
            if (raw.compare(pos + static_cast<size_t>(n), 2, "\r\n") != 0) return false;
            v.kind = Value::Kind::kString;
            v.str.assign(raw.substr(pos, static_cast<size_t>(n)));
            pos += static_cast<size_t>(n) + 2;
            return true;
        case '*':
            if (!parseLongLong(line.data(), line.size(), n)) return false;
            if (n < 0) return true;  // nil
            // Every element takes 3 bytes at least ("+\r\n"): a count the input cannot hold is
            // refused before anything is allocated for it.
            if (static_cast<unsigned long long>(n) > (raw.size() - pos) / 3) return false;
            v.kind = Value::Kind::kArray;
            v.elems.resize(static_cast<size_t>(n));
            for (auto& e : v.elems)
                if (!parseInto(raw, pos, e, depth + 1)) return false;
            return true;
        default: return false;
    }
}

}  // namespace

Value parseValue(std::string_view raw, size_t& pos) {
    Value v;
    if (!parseInto(raw, pos, v, 0)) {
        v = Value{};
        v.kind = Value::Kind::kError;
        v.str = "malformed reply";
        pos = raw.size();
    }
    return v;
}

}  // namespace laminar::resp

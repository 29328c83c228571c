// SPDX-License-Identifier: Apache-2.0
#include "resp/value.h"

#include "resp/numbers.h"

namespace laminar::resp {

Value parseValue(std::string_view raw, size_t& pos) {
    Value v;
    auto bad = [&] {
        v = Value{};
        v.kind = Value::Kind::kError;
        v.str = "malformed reply";
        pos = raw.size();
        return v;
    };
    if (pos >= raw.size()) return bad();
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) return bad();
    char type = raw[pos];
    std::string_view line = raw.substr(pos + 1, eol - pos - 1);
    pos = eol + 2;
    long long n = 0;
    switch (type) {
        case '+': v.kind = Value::Kind::kStatus; v.str.assign(line); return v;
        case '-': v.kind = Value::Kind::kError; v.str.assign(line); return v;
        case ':':
            if (!parseLongLong(line.data(), line.size(), n)) return bad();
            v.kind = Value::Kind::kInteger;
            v.integer = n;
            return v;
        case '$':
            if (!parseLongLong(line.data(), line.size(), n)) return bad();
            if (n < 0) return v;
            if (pos + static_cast<size_t>(n) + 2 > raw.size()) return bad();
            v.kind = Value::Kind::kString;
            v.str.assign(raw.substr(pos, static_cast<size_t>(n)));
            pos += static_cast<size_t>(n) + 2;
            return v;
        case '*':
            if (!parseLongLong(line.data(), line.size(), n)) return bad();
            if (n < 0) return v;
            v.kind = Value::Kind::kArray;
            for (long long i = 0; i < n; ++i) {
                v.elems.push_back(parseValue(raw, pos));
                if (pos > raw.size()) return bad();
            }
            return v;
        default: return bad();
    }
}

}  // namespace laminar::resp

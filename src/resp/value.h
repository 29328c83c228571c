// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace laminar::resp {

// One RESP2 reply, parsed into a tree: for the places that look inside whole replies (the tools,
// a cluster's slot map). The data path frames replies without parsing them (ReplyScanner).
struct Value {
    enum class Kind { kNil, kStatus, kString, kInteger, kError, kArray };
    Kind kind = Kind::kNil;
    std::string str;  // status, string, error text
    long long integer = 0;
    std::vector<Value> elems;

    bool isError() const { return kind == Kind::kError; }
    bool isNil() const { return kind == Kind::kNil; }
};

// Parses one RESP reply starting at raw[pos]; advances pos. A malformed reply parses as an error.
Value parseValue(std::string_view raw, size_t& pos);

}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"  // ParseStatus

namespace laminar::resp {

// Finds where one reply ends in a stream of backend replies, for every RESP2 and RESP3 type:
// simple string '+', error '-', integer ':', bulk '$', array '*', null '_', boolean '#',
// double ',', big number '(', bulk error '!', verbatim '=', map '%', set '~', push '>',
// attribute '|' (an attribute is followed by the reply it annotates; both are one unit here).
// Replies are forwarded as raw bytes, so this only frames them: it never copies or decodes.
//
// Contract:
//  1. scan(data) frames the reply that starts at data[0]. kOk: it is the first consumed() bytes;
//     type() is its first byte ('|' is reported as the type of the reply after the attribute).
//  2. kIncomplete: call again with the same bytes (possibly moved) plus more; progress is kept
//     (nested aggregates included), so a large reply arriving in many reads costs O(size).
//  3. kError: the bytes are not RESP (unknown type byte, bad length); error() says what. The
//     backend connection is then unusable and must be closed.
//  4. After kOk or kError call reset() before the next reply (kOk resets itself on the next scan).
class ReplyScanner {
public:
    ParseStatus scan(std::string_view data);
    void reset();

    size_t consumed() const { return consumed_; }
    char type() const { return type_; }
    const std::string& error() const { return error_; }

private:
    bool in_progress_ = false;
    size_t pos_ = 0;
    size_t scan_ = 0;              // where the search for the current line's CRLF resumes
    long long bulk_len_ = -1;      // body length of the bulk being read, -1 = reading a header
    std::vector<long long> pending_;  // elements still expected at each open aggregate level
    // Depth of the attribute level whose last element is the top-level reply's real value (0 = none):
    // type() must report that value, not '|'.
    size_t real_depth_ = 0;
    char type_ = 0;
    size_t consumed_ = 0;
    std::string error_;

    bool findLine(std::string_view data, size_t& cr);
    bool completeElement();
    ParseStatus fail(std::string message);
};

}  // namespace laminar::resp

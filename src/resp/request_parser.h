// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace laminar::resp {

// Limits a client request must stay within. A request over a limit is a protocol error: the
// client gets the error once and the connection is closed, as Redis does.
struct RequestLimits {
    size_t max_bulk = 512 * 1024 * 1024;  // largest bulk string (client.max_bulk)
    size_t max_args = 1024 * 1024;        // largest multibulk count (Redis: 1024*1024)
    size_t max_inline = 64 * 1024;        // longest inline command line (Redis: PROTO_INLINE_MAX_SIZE)
};

enum class ParseStatus { kOk, kIncomplete, kError };

// Incremental framing parser for client requests, multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and
// inline (`GET k\r\n`, split like Redis's sdssplitargs: quotes and escapes).
//
// Contract:
//  1. parse(data) looks at one request that starts at data[0]. kOk: the request is the first
//     consumed() bytes; args() are its arguments. For a multibulk request the args are views into
//     `data` (zero copy); for an inline one they point into the parser's own storage.
//  2. kIncomplete: more bytes are needed. The parser keeps its progress; call parse again with the
//     same bytes (possibly moved to another address) plus more. It never rescans what it already
//     framed, so a large request arriving in many reads costs O(size). needed() is a lower bound on
//     the total bytes this request takes, once the bulk length being read is known (0 otherwise):
//     callers use it to grow their buffer once.
//  3. kError: error() holds Redis's wording ("Protocol error: invalid multibulk length", ...) or,
//     for a bulk over max_bulk, a message that names client.max_bulk. A bulk over the limit is
//     refused as soon as its length header is read, before its body arrives.
//  4. Empty requests (`*0\r\n`, `*-1\r\n`, an empty inline line) are skipped as Redis does: kOk with
//     args() empty and consumed() > 0; callers ignore them.
//  5. After kOk or kError call reset() before parsing the next request (kOk resets itself on the
//     next parse call too).
class RequestParser {
public:
    explicit RequestParser(RequestLimits limits = {}) : limits_(limits) {}

    ParseStatus parse(std::string_view data);
    void reset();
    // Between requests (nothing framed yet): gives back the argument scratch, so that an idle
    // connection holds none; the next request takes it again.
    void releaseMemory();

    size_t consumed() const { return consumed_; }
    size_t needed() const { return needed_; }
    const std::vector<std::string_view>& args() const { return args_; }
    bool isInline() const { return inline_; }
    const std::string& error() const { return error_; }
    // Whether reset() just gave back the scratch of a request of very many arguments (once).
    bool tookFreedLarge() { return std::exchange(freed_large_, false); }
    const RequestLimits& limits() const { return limits_; }

private:
    RequestLimits limits_;
    // progress of the request being framed; offsets are relative to its first byte
    bool in_progress_ = false;
    bool inline_ = false;
    long long multibulk_len_ = 0;  // args announced by '*'
    long long bulk_len_ = -1;      // length of the bulk being read, -1 = header not read yet
    size_t pos_ = 0;               // where framing resumes
    size_t scan_ = 0;              // where the search for the current line's terminator resumes
    // (offset, length) of each framed arg: into the request for multibulk, into inline_buf_ for inline
    std::vector<std::pair<size_t, size_t>> offsets_;
    std::vector<std::string_view> args_;
    std::string inline_buf_;  // decoded inline args back to back; one buffer so its capacity is reused
    static constexpr size_t kKeepArgs = 64 * 1024;  // argument scratch kept between requests
    bool freed_large_ = false;
    size_t consumed_ = 0;
    size_t needed_ = 0;
    std::string error_;

    ParseStatus parseMultibulk(std::string_view data);
    ParseStatus parseInline(std::string_view data);
    bool splitInline(std::string_view line);
    ParseStatus fail(std::string message);
};

}  // namespace laminar::resp

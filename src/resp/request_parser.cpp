// SPDX-License-Identifier: Apache-2.0
#include "resp/request_parser.h"
#include "resp/numbers.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

namespace laminar::resp {

namespace {

// Redis reads a '*' or '$' count line only while it stays within PROTO_INLINE_MAX_SIZE; the limit
// is fixed (not limits.max_inline) because a valid count line is never longer than 21 bytes.
constexpr size_t kMaxCountLine = 64 * 1024;

// Redis preallocates argv for at most this many args, so a huge announced count that never
// arrives cannot make us reserve memory up front.
constexpr size_t kMaxArgsPrealloc = 1024;


// isspace() in the C locale, which is what sdssplitargs uses to skip blanks between args.
bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool isHexDigit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

// Offset of the first `c` at or after `from`, or npos. memchr keeps the scan fast; the size check
// avoids handing memchr a null pointer for an empty view.
size_t findByte(std::string_view data, size_t from, char c) {
    if (from >= data.size()) return std::string_view::npos;
    const void* hit = std::memchr(data.data() + from, c, data.size() - from);
    return hit == nullptr ? std::string_view::npos : static_cast<const char*>(hit) - data.data();
}

}  // namespace

void RequestParser::releaseMemory() {
    if (in_progress_) return;
    std::vector<std::pair<size_t, size_t>>().swap(offsets_);
    std::vector<std::string_view>().swap(args_);
    std::string().swap(inline_buf_);
    std::string().swap(error_);
}

void RequestParser::reset() {
    in_progress_ = false;
    inline_ = false;
    multibulk_len_ = 0;
    bulk_len_ = -1;
    pos_ = 0;
    scan_ = 0;
    // A request of a million arguments leaves no 32 MB of scratch behind for the connection's life.
    if (offsets_.capacity() > kKeepArgs) {
        std::vector<std::pair<size_t, size_t>>().swap(offsets_);
        std::vector<std::string_view>().swap(args_);
        freed_large_ = true;
    }
    offsets_.clear();
    args_.clear();
    inline_buf_.clear();
    consumed_ = 0;
    needed_ = 0;
    error_.clear();
}

ParseStatus RequestParser::fail(std::string message) {
    error_ = std::move(message);
    in_progress_ = false;
    needed_ = 0;
    args_.clear();
    return ParseStatus::kError;
}

ParseStatus RequestParser::parse(std::string_view data) {
    // A failed parser stays failed: the connection is going away and must not frame garbage.
    if (!error_.empty()) return ParseStatus::kError;
    if (!in_progress_) {
        reset();
        if (data.empty()) return ParseStatus::kIncomplete;
        in_progress_ = true;
        inline_ = data[0] != '*';
    }
    needed_ = 0;
    // The caller broke the "same bytes plus more" contract; waiting is safer than reading past the end.
    if (data.size() < pos_) return ParseStatus::kIncomplete;
    return inline_ ? parseInline(data) : parseMultibulk(data);
}

// Mirrors processMultibulkBuffer, including its leniencies: a count line ends at the first '\r'
// and the byte after it is skipped unchecked, as are the two bytes after a bulk body. Rejecting
// what Redis accepts would break clients that work against Redis itself.
ParseStatus RequestParser::parseMultibulk(std::string_view data) {
    if (pos_ == 0) {
        size_t cr = findByte(data, scan_, '\r');
        if (cr == std::string_view::npos) {
            scan_ = data.size();
            if (data.size() > kMaxCountLine) return fail("Protocol error: too big mbulk count string");
            return ParseStatus::kIncomplete;
        }
        if (cr + 2 > data.size()) {
            scan_ = cr;
            return ParseStatus::kIncomplete;
        }
        long long count = 0;
        if (!parseLongLong(data.data() + 1, cr - 1, count) || count > INT_MAX ||
            (count > 0 && static_cast<unsigned long long>(count) > limits_.max_args)) {
            return fail("Protocol error: invalid multibulk length");
        }
        pos_ = cr + 2;
        scan_ = pos_;
        if (count <= 0) {
            // Redis skips empty and negative multibulks silently.
            in_progress_ = false;
            consumed_ = pos_;
            return ParseStatus::kOk;
        }
        multibulk_len_ = count;
        offsets_.reserve(std::min(static_cast<size_t>(count), kMaxArgsPrealloc));
    }

    while (offsets_.size() < static_cast<size_t>(multibulk_len_)) {
        if (bulk_len_ < 0) {
            size_t cr = findByte(data, std::max(scan_, pos_), '\r');
            if (cr == std::string_view::npos) {
                scan_ = data.size();
                if (data.size() - pos_ > kMaxCountLine) {
                    return fail("Protocol error: too big bulk count string");
                }
                return ParseStatus::kIncomplete;
            }
            if (cr + 2 > data.size()) {
                scan_ = cr;
                return ParseStatus::kIncomplete;
            }
            if (data[pos_] != '$') {
                std::string message = "Protocol error: expected '$', got '";
                message += data[pos_];
                message += '\'';
                return fail(std::move(message));
            }
            long long len = 0;
            if (!parseLongLong(data.data() + pos_ + 1, cr - pos_ - 1, len) || len < 0) {
                return fail("Protocol error: invalid bulk length");
            }
            if (static_cast<unsigned long long>(len) > limits_.max_bulk) {
                // Redis's own words first (clients match on them), then laminar's detail.
                return fail("Protocol error: invalid bulk length (" + std::to_string(len) + " exceeds client.max_bulk, " +
                            std::to_string(limits_.max_bulk) + " bytes)");
            }
            bulk_len_ = len;
            pos_ = cr + 2;
            scan_ = pos_;
        }
        size_t end = pos_ + static_cast<size_t>(bulk_len_) + 2;
        if (data.size() < end) {
            needed_ = end;
            return ParseStatus::kIncomplete;
        }
        offsets_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
        pos_ = end;
        scan_ = end;
        bulk_len_ = -1;
    }

    args_.clear();
    args_.reserve(offsets_.size());
    for (auto [offset, len] : offsets_) args_.emplace_back(data.data() + offset, len);
    consumed_ = pos_;
    in_progress_ = false;
    return ParseStatus::kOk;
}

// Mirrors processInlineBuffer: a line ends at '\n' with one '\r' before it stripped, and the size
// limit applies only while the newline has not arrived.
ParseStatus RequestParser::parseInline(std::string_view data) {
    size_t nl = findByte(data, scan_, '\n');
    if (nl == std::string_view::npos) {
        scan_ = data.size();
        if (data.size() > limits_.max_inline) return fail("Protocol error: too big inline request");
        return ParseStatus::kIncomplete;
    }
    size_t line_end = nl;
    if (line_end > 0 && data[line_end - 1] == '\r') --line_end;
    if (!splitInline(data.substr(0, line_end))) {
        return fail("Protocol error: unbalanced quotes in request");
    }
    // inline_buf_ is complete, so views into it stay valid until the next request.
    args_.clear();
    args_.reserve(offsets_.size());
    for (auto [offset, len] : offsets_) args_.emplace_back(inline_buf_.data() + offset, len);
    consumed_ = nl + 1;
    in_progress_ = false;
    return ParseStatus::kOk;
}

// sdssplitargs (sds.c) on an explicit-length line. The one difference: Redis sees the line as a C
// string, so a NUL byte would end it there; here NUL is an ordinary byte (Redis itself never gets
// that far, strchr stops at the NUL and the request waits for a newline it cannot find).
bool RequestParser::splitInline(std::string_view line) {
    const size_t n = line.size();
    size_t i = 0;
    for (;;) {
        while (i < n && isSpace(line[i])) ++i;
        if (i == n) return true;

        const size_t start = inline_buf_.size();
        bool in_double = false;
        bool in_single = false;
        bool done = false;
        while (!done) {
            if (in_double) {
                if (i == n) return false;
                char c = line[i];
                if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && isHexDigit(line[i + 2]) &&
                    isHexDigit(line[i + 3])) {
                    inline_buf_ += static_cast<char>(hexValue(line[i + 2]) * 16 + hexValue(line[i + 3]));
                    i += 4;
                } else if (c == '\\' && i + 1 < n) {
                    char e = line[i + 1];
                    switch (e) {
                        case 'n': e = '\n'; break;
                        case 'r': e = '\r'; break;
                        case 't': e = '\t'; break;
                        case 'b': e = '\b'; break;
                        case 'a': e = '\a'; break;
                        default: break;
                    }
                    inline_buf_ += e;
                    i += 2;
                } else if (c == '"') {
                    // Redis: a closing quote must be followed by a blank or the end of the line.
                    if (i + 1 < n && !isSpace(line[i + 1])) return false;
                    done = true;
                    ++i;
                } else {
                    inline_buf_ += c;
                    ++i;
                }
            } else if (in_single) {
                if (i == n) return false;
                char c = line[i];
                if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    inline_buf_ += '\'';
                    i += 2;
                } else if (c == '\'') {
                    if (i + 1 < n && !isSpace(line[i + 1])) return false;
                    done = true;
                    ++i;
                } else {
                    inline_buf_ += c;
                    ++i;
                }
            } else if (i == n) {
                done = true;
            } else {
                // Only these end an unquoted word; '\v' and '\f' are skipped between words but
                // kept inside one, as in Redis.
                switch (char c = line[i]) {
                    case ' ':
                    case '\n':
                    case '\r':
                    case '\t': done = true; break;
                    case '"': in_double = true; break;
                    case '\'': in_single = true; break;
                    default: inline_buf_ += c; break;
                }
                ++i;
            }
        }
        offsets_.emplace_back(start, inline_buf_.size() - start);
    }
}

}  // namespace laminar::resp

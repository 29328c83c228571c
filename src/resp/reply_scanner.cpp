// SPDX-License-Identifier: Apache-2.0
#include "resp/reply_scanner.h"
#include "resp/numbers.h"

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

namespace laminar::resp {

namespace {


std::string describeByte(char c) {
    char buf[16];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
        std::snprintf(buf, sizeof buf, "'%c' (0x%02x)", c, u);
    } else {
        std::snprintf(buf, sizeof buf, "0x%02x", u);
    }
    return buf;
}

}  // namespace

void ReplyScanner::reset() {
    in_progress_ = false;
    pos_ = 0;
    scan_ = 0;
    bulk_len_ = -1;
    pending_.clear();
    real_depth_ = 0;
    type_ = 0;
    consumed_ = 0;
    error_.clear();
}

ParseStatus ReplyScanner::fail(std::string message) {
    error_ = std::move(message);
    in_progress_ = false;
    return ParseStatus::kError;
}

// A line ends at the first "\r\n"; a lone '\r' is part of it, as hiredis reads simple strings.
// The search resumes where the previous call stopped, so a long line is scanned once.
bool ReplyScanner::findLine(std::string_view data, size_t& cr) {
    size_t from = scan_ > pos_ ? scan_ : pos_;
    while (from < data.size()) {
        const void* hit = std::memchr(data.data() + from, '\r', data.size() - from);
        if (hit == nullptr) break;
        size_t i = static_cast<const char*>(hit) - data.data();
        if (i + 1 == data.size()) {
            scan_ = i;  // the '\n' may be the next byte to arrive
            return false;
        }
        if (data[i + 1] == '\n') {
            cr = i;
            return true;
        }
        from = i + 1;
    }
    scan_ = data.size();
    return false;
}

// One element finished at the current level; closes every aggregate it completes. True when
// that was the whole reply.
bool ReplyScanner::completeElement() {
    while (!pending_.empty()) {
        if (--pending_.back() != 0) return false;
        pending_.pop_back();
    }
    return true;
}

ParseStatus ReplyScanner::scan(std::string_view data) {
    if (!error_.empty()) return ParseStatus::kError;
    if (!in_progress_) {
        reset();
        in_progress_ = true;
    }
    // The caller broke the "same bytes plus more" contract; waiting is safer than reading past the end.
    if (data.size() < pos_) return ParseStatus::kIncomplete;

    for (;;) {
        bool element_done = false;
        if (bulk_len_ >= 0) {
            size_t end = pos_ + static_cast<size_t>(bulk_len_) + 2;
            if (data.size() < end) return ParseStatus::kIncomplete;
            // Cheap to check and the only way to notice a desynchronised stream inside a bulk.
            if (data[end - 2] != '\r' || data[end - 1] != '\n') {
                return fail("Protocol error: bulk reply not terminated by CRLF");
            }
            pos_ = end;
            scan_ = end;
            bulk_len_ = -1;
            element_done = true;
        } else {
            size_t cr = 0;
            if (!findLine(data, cr)) return ParseStatus::kIncomplete;
            const char t = data[pos_];
            const char* num = data.data() + pos_ + 1;
            const size_t num_len = cr > pos_ ? cr - pos_ - 1 : 0;  // empty line: t is '\r'
            const size_t next = cr + 2;
            const bool streamed = num_len == 1 && num[0] == '?';

            // The top-level reply's own header, or the value an enclosing top-level attribute
            // annotates: type() reports it.
            const bool is_real = pending_.empty() ||
                                 (pending_.size() == real_depth_ && pending_.back() == 1);

            switch (t) {
                case '+':
                case '-':
                case ':':
                case ',':
                case '(':
                case '#':
                case '_':
                    element_done = true;
                    break;
                case '$':
                case '!':
                case '=': {
                    if (streamed) return fail("Protocol error: streamed RESP3 strings are not supported");
                    long long len = 0;
                    if (!parseLongLong(num, num_len, len) || len < -1) {
                        return fail(std::string("Protocol error: invalid bulk length in ") +
                                    describeByte(t) + " reply");
                    }
                    // -1 is the RESP2 null; hiredis accepts it for every bulk type, so do we.
                    if (len == -1) {
                        element_done = true;
                    } else {
                        bulk_len_ = len;
                    }
                    break;
                }
                case '*':
                case '%':
                case '~':
                case '>':
                case '|': {
                    if (streamed) return fail("Protocol error: streamed RESP3 aggregates are not supported");
                    long long n = 0;
                    // The bound keeps 2n+1 (map and attribute entries) from overflowing.
                    if (!parseLongLong(num, num_len, n) || n < -1 || (n == -1 && t == '|') ||
                        n > LLONG_MAX / 2 - 1) {
                        return fail(std::string("Protocol error: invalid aggregate length in ") +
                                    describeByte(t) + " reply");
                    }
                    long long count = (t == '%' || t == '|') ? n * 2 : n;
                    // The annotated value follows the attribute's entries and counts as one more
                    // element of the same level, so attribute and value close together.
                    if (t == '|') ++count;
                    if (count <= 0) {
                        element_done = true;  // null (-1) or empty aggregate
                    } else {
                        pending_.push_back(count);
                        if (t == '|' && is_real) real_depth_ = pending_.size();
                    }
                    break;
                }
                default:
                    return fail("Protocol error: unknown reply type byte " + describeByte(t));
            }
            if (is_real && t != '|') {
                type_ = t;
                real_depth_ = 0;
            }
            pos_ = next;
            scan_ = next;
        }
        if (element_done && completeElement()) {
            consumed_ = pos_;
            in_progress_ = false;
            return ParseStatus::kOk;
        }
    }
}

}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#include "resp/writer.h"

#include <algorithm>
#include <charconv>

namespace laminar::resp {

namespace {

constexpr std::string_view kCrlf = "\r\n";

// Enough for any 64-bit value in decimal with its sign.
constexpr size_t kMaxDigits = 21;

void appendNumberLine(std::string& out, char prefix, long long v) {
    char buf[kMaxDigits + 3];
    buf[0] = prefix;
    char* end = std::to_chars(buf + 1, buf + 1 + kMaxDigits, v).ptr;
    *end++ = '\r';
    *end++ = '\n';
    out.append(buf, static_cast<size_t>(end - buf));
}

void appendLengthLine(std::string& out, char prefix, size_t n) {
    char buf[kMaxDigits + 3];
    buf[0] = prefix;
    char* end = std::to_chars(buf + 1, buf + 1 + kMaxDigits, n).ptr;
    *end++ = '\r';
    *end++ = '\n';
    out.append(buf, static_cast<size_t>(end - buf));
}

// "$<len>\r\n" is at most this long, for sizing a buffer before writing a command.
constexpr size_t kMaxBulkOverhead = 1 + kMaxDigits + 2 + 2;

}  // namespace

void appendSimple(std::string& out, std::string_view s) {
    out += '+';
    out += s;
    out += kCrlf;
}

void appendError(std::string& out, std::string_view msg) {
    out += '-';
    size_t start = out.size();
    out += msg;
    // A CR or LF would end the error line early and desynchronise the client.
    std::replace_if(
        out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
        [](char c) { return c == '\r' || c == '\n'; }, ' ');
    out += kCrlf;
}

void appendInteger(std::string& out, long long v) { appendNumberLine(out, ':', v); }

void appendBulk(std::string& out, std::string_view s) {
    appendLengthLine(out, '$', s.size());
    out += s;
    out += kCrlf;
}

void appendNull(std::string& out) { out += "$-1\r\n"; }

void appendArrayHeader(std::string& out, size_t n) { appendLengthLine(out, '*', n); }

void appendCommand(std::string& out, std::span<const std::string_view> args) {
    size_t total = kMaxBulkOverhead;
    for (std::string_view a : args) total += a.size() + kMaxBulkOverhead;
    // Geometric growth, so appending many commands to one buffer stays amortised O(1).
    size_t need = out.size() + total;
    if (out.capacity() < need) out.reserve(std::max(need, out.capacity() * 2));
    appendArrayHeader(out, args.size());
    for (std::string_view a : args) appendBulk(out, a);
}

void appendCommand(std::string& out, std::initializer_list<std::string_view> args) {
    appendCommand(out, std::span<const std::string_view>(args.begin(), args.size()));
}

}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
// Backend reply framing (resp/reply_scanner.h). The input is a backend's byte stream after one
// control byte. Every reply is framed three ways: by the scanner from the whole stream, by the
// scanner grown a few bytes at a time on fresh copies, and by the small recursive reading of the
// RESP2/RESP3 grammar below. All three must agree on where each reply ends, on its type, and on
// where the stream stops being RESP.
//
// Control byte: bits 0-3 the chunk size - 1.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/numbers.h"
#include "resp/reply_scanner.h"
#include "resp/reply_view.h"

namespace {

using laminar::resp::ParseStatus;
using laminar::resp::ReplyScanner;

struct Frame {
    ParseStatus status;
    size_t consumed;
    char type;
    bool operator==(const Frame&) const = default;
};

void require(bool ok) {
    if (!ok) std::abort();
}

// The grammar, read recursively: one element starting at `pos`; on kOk `pos` is past it and
// `type` its type (an attribute's is the type of the value it annotates).
ParseStatus element(std::string_view d, size_t& pos, char& type) {
    size_t cr = d.find("\r\n", pos);
    if (cr == std::string_view::npos) return ParseStatus::kIncomplete;
    if (cr == pos) return ParseStatus::kError;  // no type byte
    const char t = d[pos];
    std::string_view num = d.substr(pos + 1, cr - pos - 1);
    pos = cr + 2;
    type = t;
    long long n = 0;
    switch (t) {
        case '+': case '-': case ':': case ',': case '(': case '#': case '_':
            return ParseStatus::kOk;
        case '$': case '!': case '=':
            if (num == "?" || !laminar::resp::parseLongLong(num, n) || n < -1) return ParseStatus::kError;
            if (n == -1) return ParseStatus::kOk;
            if (d.size() - pos < static_cast<size_t>(n) + 2) return ParseStatus::kIncomplete;
            if (d.substr(pos + static_cast<size_t>(n), 2) != "\r\n") return ParseStatus::kError;
            pos += static_cast<size_t>(n) + 2;
            return ParseStatus::kOk;
        case '*': case '%': case '~': case '>': case '|': {
            if (num == "?" || !laminar::resp::parseLongLong(num, n) || n < -1 || (n == -1 && t == '|') || n > LLONG_MAX / 2 - 1)
                return ParseStatus::kError;
            long long count = (t == '%' || t == '|') ? n * 2 : n;
            char inner = 0;
            for (long long i = 0; i < count; ++i)
                if (ParseStatus s = element(d, pos, inner); s != ParseStatus::kOk) return s;
            if (t == '|') return element(d, pos, type);  // the annotated value
            return ParseStatus::kOk;
        }
        default:
            return ParseStatus::kError;
    }
}

std::vector<Frame> referenceFrames(std::string_view stream) {
    std::vector<Frame> frames;
    size_t start = 0;
    while (start < stream.size()) {
        size_t pos = start;
        char type = 0;
        ParseStatus s = element(stream, pos, type);
        if (s == ParseStatus::kIncomplete) break;
        if (s == ParseStatus::kError) {
            frames.push_back({s, 0, 0});
            break;
        }
        frames.push_back({s, pos - start, type});
        start = pos;
    }
    return frames;
}

// The scanner over every reply of `stream`, offered `chunk` more bytes at a time (0: all at once).
std::vector<Frame> scannerFrames(std::string_view stream, size_t chunk) {
    ReplyScanner scanner;
    std::vector<Frame> frames;
    size_t start = 0;
    while (start < stream.size()) {
        std::string_view rest = stream.substr(start);
        size_t offered = chunk == 0 ? rest.size() : std::min(chunk, rest.size());
        for (;;) {
            std::string copy(rest.substr(0, offered));
            ParseStatus s = scanner.scan(copy);
            if (s == ParseStatus::kIncomplete) {
                if (offered == rest.size()) return frames;
                offered = chunk == 0 ? rest.size() : std::min(offered + chunk, rest.size());
                continue;
            }
            if (s == ParseStatus::kError) {
                require(!scanner.error().empty());
                frames.push_back({s, 0, 0});
                return frames;
            }
            require(scanner.consumed() > 0 && scanner.consumed() <= copy.size());
            // The readers strategies use on a framed reply must not read past it.
            std::string raw = copy.substr(0, scanner.consumed());
            std::string_view body;
            long long value = 0;
            if (laminar::resp::bulkBody(raw, body)) require(body.data() + body.size() <= raw.data() + raw.size());
            if (raw[0] == '$' && !laminar::resp::isNull(raw)) require(laminar::resp::bulkBody(raw, body));
            (void)laminar::resp::integerValue(raw, value);
            (void)laminar::resp::isMiss(raw);
            (void)laminar::resp::isError(raw);
            frames.push_back({s, scanner.consumed(), scanner.type()});
            start += scanner.consumed();
            break;
        }
    }
    return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t chunk = (data[0] & 15) + 1;
    std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
    auto whole = scannerFrames(stream, 0);
    require(whole == scannerFrames(stream, chunk));
    require(whole == referenceFrames(stream));
    return 0;
}

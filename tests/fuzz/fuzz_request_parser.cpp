// SPDX-License-Identifier: Apache-2.0
// Client request framing (resp/request_parser.h). The input is a client's byte stream after one
// control byte. Every request is framed twice: from the whole stream, and grown a few bytes at a
// time, each call on a fresh copy (as the session's buffer moves when it grows). Both must frame
// the same requests, and every call must keep the parser's contract.
//
// Control byte: bit 0 small limits (max_bulk 16, max_args 4), bits 1-4 the chunk size - 1.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.h"

namespace {

using laminar::resp::ParseStatus;
using laminar::resp::RequestLimits;
using laminar::resp::RequestParser;

struct Frame {
    ParseStatus status;
    size_t consumed;
    bool is_inline;
    std::vector<std::string> args;
    std::string error;
    bool operator==(const Frame&) const = default;
};

void require(bool ok) {
    if (!ok) std::abort();
}

// Frames every request of `stream`, offering each `chunk` more bytes at a time (0: all at once).
std::vector<Frame> frameAll(std::string_view stream, const RequestLimits& limits, size_t chunk) {
    RequestParser parser(limits);
    std::vector<Frame> frames;
    size_t start = 0;
    while (start < stream.size()) {
        std::string_view rest = stream.substr(start);
        size_t offered = chunk == 0 ? rest.size() : std::min(chunk, rest.size());
        size_t needed = 0;
        for (;;) {
            std::string copy(rest.substr(0, offered));
            ParseStatus status = parser.parse(copy);
            if (status == ParseStatus::kIncomplete) {
                require(parser.needed() == 0 || parser.needed() > copy.size());
                needed = std::max(needed, parser.needed());
                if (offered == rest.size()) return frames;  // the stream ends inside a request
                offered = chunk == 0 ? rest.size() : std::min(offered + chunk, rest.size());
                continue;
            }
            Frame f{status, parser.consumed(), parser.isInline(), {}, parser.error()};
            if (status == ParseStatus::kError) {
                require(!f.error.empty() && parser.args().empty());
                require(parser.parse(copy) == ParseStatus::kError);  // a failed parser stays failed
                frames.push_back(std::move(f));
                return frames;
            }
            require(f.consumed > 0 && f.consumed <= copy.size() && f.consumed >= needed && f.error.empty());
            // Reading every arg: ASan catches one that points outside the bytes or the parser.
            for (auto a : parser.args()) f.args.emplace_back(a);
            if (!f.is_inline) {
                for (auto a : parser.args()) require(a.data() >= copy.data() && a.data() + a.size() <= copy.data() + f.consumed);
                require(f.args.size() <= limits.max_args);
            }
            for (const auto& a : f.args) require(f.is_inline || a.size() <= limits.max_bulk);
            start += f.consumed;
            frames.push_back(std::move(f));
            break;
        }
    }
    return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t control = data[0];
    std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
    RequestLimits limits;
    if (control & 1) {
        limits.max_bulk = 16;
        limits.max_args = 4;
    }
    const size_t chunk = ((control >> 1) & 15) + 1;
    // max_inline counts the bytes read so far, so where reads end decides it: the two framings
    // agree only while no line comes near it (fuzz inputs stay far below the 64 KiB default).
    require(frameAll(stream, limits, 0) == frameAll(stream, limits, chunk));
    // A small max_inline, for its error path.
    limits.max_inline = 8;
    frameAll(stream, limits, chunk);
    return 0;
}

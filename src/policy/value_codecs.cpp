// SPDX-License-Identifier: Apache-2.0
#include "policy/value_codecs.h"

#include <fmt/format.h>

#define ZLIB_CONST  // next_in points to const bytes
#include <zlib.h>

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

namespace laminar::policy {
namespace {

struct CodecEntry {
    Codec codec;
    std::string_view name;
    Codec inverse;
};

// In enum order.
constexpr std::array<CodecEntry, 5> kCodecs = {{
    {Codec::kIdentity, "identity", Codec::kIdentity},
    {Codec::kJsonWrap, "json_wrap", Codec::kJsonUnwrap},
    {Codec::kJsonUnwrap, "json_unwrap", Codec::kJsonWrap},
    {Codec::kZlibCompress, "zlib_compress", Codec::kZlibDecompress},
    {Codec::kZlibDecompress, "zlib_decompress", Codec::kZlibCompress},
}};

// One byte for a message: 'c' when printable, else \xNN (never a byte that breaks a RESP line).
std::string showByte(unsigned char c) {
    if (c >= 0x20 && c < 0x7f && c != '\'') return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("\\x{:02x}", c);
}

bool jsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool hex4(std::string_view s, size_t at, uint32_t& v) {
    if (at + 4 > s.size()) return false;
    v = 0;
    for (char c : s.substr(at, 4)) {
        uint32_t d;
        if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
        else return false;
        v = v * 16 + d;
    }
    return true;
}

void appendUtf8(std::string& out, uint32_t cp) {
    auto byte = [&](uint32_t b) { out += static_cast<char>(b); };
    if (cp < 0x80) {
        byte(cp);
    } else if (cp < 0x800) {
        byte(0xC0 | cp >> 6);
        byte(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        byte(0xE0 | cp >> 12);
        byte(0x80 | (cp >> 6 & 0x3F));
        byte(0x80 | (cp & 0x3F));
    } else {
        byte(0xF0 | cp >> 18);
        byte(0x80 | (cp >> 12 & 0x3F));
        byte(0x80 | (cp >> 6 & 0x3F));
        byte(0x80 | (cp & 0x3F));
    }
}

bool isSurrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

}  // namespace

std::optional<Codec> codecByName(std::string_view name) {
    for (const auto& c : kCodecs)
        if (c.name == name) return c.codec;
    return std::nullopt;
}

std::string_view codecName(Codec codec) { return kCodecs[static_cast<size_t>(codec)].name; }

Codec inverseCodec(Codec codec) { return kCodecs[static_cast<size_t>(codec)].inverse; }

std::string codecNames() {
    std::vector<std::string_view> names;
    for (const auto& c : kCodecs) names.push_back(c.name);
    return fmt::format("{}", fmt::join(names, ", "));
}

bool convertValue(Codec codec, std::string_view in, size_t max_out, std::string& out, std::string& why) {
    bool ok = false;
    switch (codec) {
        case Codec::kIdentity:
            out.assign(in);
            ok = true;
            break;
        case Codec::kJsonWrap: ok = jsonWrap(in, out, why); break;
        case Codec::kJsonUnwrap: ok = jsonUnwrap(in, out, why); break;
        case Codec::kZlibCompress: ok = zlibCompress(in, out, why); break;
        case Codec::kZlibDecompress: return zlibDecompress(in, max_out, out, why);
    }
    if (ok && out.size() > max_out) {
        why = fmt::format("the result would be {} bytes, more than the {} allowed", out.size(), max_out);
        return false;
    }
    return ok;
}

size_t invalidUtf8At(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0Fu, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u, min = 0x10000;
        else return i;
        if (i + len > s.size()) return i;
        for (size_t k = 1; k < len; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80) return i;
            cp = cp << 6 | (b & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || isSurrogate(cp)) return i;
        i += len;
    }
    return std::string_view::npos;
}

bool jsonWrap(std::string_view in, std::string& out, std::string& why) {
    if (auto bad = invalidUtf8At(in); bad != std::string_view::npos) {
        why = fmt::format("not valid UTF-8 (byte {} is {}), and a JSON string holds text", bad,
                          showByte(static_cast<unsigned char>(in[bad])));
        return false;
    }
    out.clear();
    out.reserve(in.size() + 2);
    out += '"';
    for (char ch : in) {
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(ch));
                else out += ch;
        }
    }
    out += '"';
    return true;
}

bool jsonUnwrap(std::string_view in, std::string& out, std::string& why) {
    if (auto bad = invalidUtf8At(in); bad != std::string_view::npos) {
        why = fmt::format("not valid UTF-8 (byte {} is {}), so not JSON", bad, showByte(static_cast<unsigned char>(in[bad])));
        return false;
    }
    size_t i = 0;
    while (i < in.size() && jsonSpace(in[i])) ++i;
    if (i == in.size()) {
        why = "empty, not a JSON string";
        return false;
    }
    if (in[i] != '"') {
        why = fmt::format("not a JSON string (starts with {})", showByte(static_cast<unsigned char>(in[i])));
        return false;
    }
    out.clear();
    for (++i;; ++i) {
        if (i >= in.size()) {
            why = "unterminated JSON string";
            return false;
        }
        auto c = static_cast<unsigned char>(in[i]);
        if (c == '"') break;
        if (c < 0x20) {
            why = fmt::format("unescaped control character {} at byte {} of the JSON string", showByte(c), i);
            return false;
        }
        if (c != '\\') {
            out += in[i];
            continue;
        }
        size_t at = i++;
        if (i >= in.size()) {
            why = "unterminated JSON string";
            return false;
        }
        switch (in[i]) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                uint32_t cp = 0, low = 0;
                if (!hex4(in, i + 1, cp)) {
                    why = fmt::format("bad \\u escape at byte {}", at);
                    return false;
                }
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && i + 2 < in.size() && in[i + 1] == '\\' && in[i + 2] == 'u' &&
                    hex4(in, i + 3, low) && low >= 0xDC00 && low <= 0xDFFF) {
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (isSurrogate(cp)) {
                    why = fmt::format("lone surrogate \\u{:04x} at byte {}, which UTF-8 cannot hold", cp, at);
                    return false;
                }
                appendUtf8(out, cp);
                break;
            }
            default:
                why = fmt::format("unknown escape at byte {} ({} after the backslash)", at, showByte(static_cast<unsigned char>(in[i])));
                return false;
        }
    }
    for (++i; i < in.size(); ++i) {
        if (!jsonSpace(in[i])) {
            why = fmt::format("more after the JSON string (byte {} is {})", i, showByte(static_cast<unsigned char>(in[i])));
            return false;
        }
    }
    return true;
}

bool zlibCompress(std::string_view in, std::string& out, std::string& why) {
    uLongf size = compressBound(static_cast<uLong>(in.size()));
    out.resize(size);
    int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(in.data()),
                       static_cast<uLong>(in.size()), Z_DEFAULT_COMPRESSION);
    if (rc != Z_OK) {
        why = fmt::format("zlib could not compress it: {}", zError(rc));
        return false;
    }
    out.resize(size);
    return true;
}

bool zlibDecompress(std::string_view in, size_t max_out, std::string& out, std::string& why) {
    z_stream zs{};
    if (inflateInit(&zs) != Z_OK) {
        why = "zlib could not start: out of memory";
        return false;
    }
    struct End {
        z_stream& zs;
        ~End() { inflateEnd(&zs); }
    } end{zs};
    // avail_in and avail_out are 32-bit: both sides go through in chunks.
    constexpr size_t kChunk = size_t{1} << 30;
    max_out = std::min(max_out, std::numeric_limits<size_t>::max() - 1);
    auto next = reinterpret_cast<const Bytef*>(in.data());
    size_t in_left = in.size();
    // The output grows as it fills, up to one byte past the limit: that byte means "too large".
    out.resize(std::min(max_out + 1, std::max<size_t>(in.size() * 4, 4096)));
    int rc = Z_OK;
    while (true) {
        if (zs.avail_in == 0 && in_left > 0) {
            zs.next_in = next;
            zs.avail_in = static_cast<uInt>(std::min(in_left, kChunk));
            next += zs.avail_in;
            in_left -= zs.avail_in;
        }
        size_t produced = zs.total_out;
        if (produced == out.size()) {
            if (produced > max_out) break;
            out.resize(std::min(max_out + 1, out.size() * 2));
        }
        zs.next_out = reinterpret_cast<Bytef*>(out.data()) + produced;
        zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kChunk));
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) {
            why = "truncated zlib stream";
            return false;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            why = rc == Z_NEED_DICT ? std::string("not a zlib stream: it needs a preset dictionary")
                                    : fmt::format("not a zlib stream: {}", zs.msg ? zs.msg : zError(rc));
            return false;
        }
    }
    if (zs.total_out > max_out) {
        why = fmt::format("decompresses to more than the {} bytes allowed", max_out);
        return false;
    }
    if (zs.avail_in > 0 || in_left > 0) {
        why = fmt::format("{} bytes follow the end of the zlib stream", zs.avail_in + in_left);
        return false;
    }
    out.resize(zs.total_out);
    return true;
}

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/dump_payload.h"

#include <liblzf/lzf.h>

#include <array>

namespace laminar::backend::memcached {
namespace {

constexpr uint16_t kRdbVersion = 10;  // Redis 7.0's; later versions RESTORE it too
constexpr uint8_t kTypeString = 0;

constexpr std::array<uint64_t, 256> makeCrcTable() {
    // 0xad93d23594c935a9, bit-reflected.
    constexpr uint64_t kPoly = 0x95ac9329ac4bc9b5ULL;
    std::array<uint64_t, 256> t{};
    for (uint64_t i = 0; i < 256; ++i) {
        uint64_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kCrcTable = makeCrcTable();

const char* typeName(uint8_t t) {
    switch (t) {
        case 1: case 10: case 14: case 18: return "list";
        case 2: case 11: case 20: return "set";
        case 3: case 5: case 12: case 17: return "zset";
        case 4: case 9: case 13: case 16: return "hash";
        case 15: case 19: case 21: return "stream";
        case 6: case 7: return "module";
        default: return "unknown";
    }
}

void putLength(std::string& out, uint64_t n) {
    if (n < (1u << 6)) {
        out.push_back(static_cast<char>(n));
    } else if (n < (1u << 14)) {
        out.push_back(static_cast<char>(0x40 | (n >> 8)));
        out.push_back(static_cast<char>(n & 0xff));
    } else if (n <= UINT32_MAX) {
        out.push_back(static_cast<char>(0x80));
        for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xff));
    } else {
        out.push_back(static_cast<char>(0x81));
        for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((n >> s) & 0xff));
    }
}

// Reads RDB's length encoding at `p`. `encoded` is set for the special string encodings (0xC0..),
// whose kind is then in `n`.
class Reader {
public:
    explicit Reader(std::string_view s) : s_(s) {}
    bool byte(uint8_t& b) {
        if (pos_ >= s_.size()) return false;
        b = static_cast<uint8_t>(s_[pos_++]);
        return true;
    }
    bool bigEndian(int bytes, uint64_t& v) {
        v = 0;
        for (int i = 0; i < bytes; ++i) {
            uint8_t b;
            if (!byte(b)) return false;
            v = (v << 8) | b;
        }
        return true;
    }
    bool littleEndian(int bytes, uint64_t& v) {
        v = 0;
        for (int i = 0; i < bytes; ++i) {
            uint8_t b;
            if (!byte(b)) return false;
            v |= static_cast<uint64_t>(b) << (8 * i);
        }
        return true;
    }
    bool length(uint64_t& n, bool& encoded) {
        uint8_t b;
        if (!byte(b)) return false;
        encoded = false;
        switch (b >> 6) {
            case 0: n = b & 0x3f; return true;
            case 1: {
                uint8_t lo;
                if (!byte(lo)) return false;
                n = (static_cast<uint64_t>(b & 0x3f) << 8) | lo;
                return true;
            }
            case 2:
                if (b == 0x80) return bigEndian(4, n);
                if (b == 0x81) return bigEndian(8, n);
                return false;
            default: encoded = true; n = b & 0x3f; return true;
        }
    }
    bool take(uint64_t n, std::string_view& out) {
        if (n > s_.size() - pos_) return false;
        out = s_.substr(pos_, n);
        pos_ += n;
        return true;
    }
    bool atEnd() const { return pos_ == s_.size(); }

private:
    std::string_view s_;
    size_t pos_ = 0;
};

bool readString(Reader& r, std::string& value) {
    uint64_t n;
    bool encoded;
    if (!r.length(n, encoded)) return false;
    if (!encoded) {
        std::string_view raw;
        if (!r.take(n, raw)) return false;
        value.assign(raw);
        return true;
    }
    if (n <= 2) {  // 8, 16 or 32-bit integer, little-endian, signed
        int bytes = 1 << n;
        uint64_t u;
        if (!r.littleEndian(bytes, u)) return false;
        long long v = bytes == 1 ? static_cast<int8_t>(u) : bytes == 2 ? static_cast<int16_t>(u) : static_cast<int32_t>(u);
        value = std::to_string(v);
        return true;
    }
    if (n == 3) {  // LZF: compressed length, original length, data
        uint64_t clen, len;
        bool e1, e2;
        std::string_view packed;
        if (!r.length(clen, e1) || !r.length(len, e2) || e1 || e2 || !r.take(clen, packed)) return false;
        if (len > (512ull << 20)) return false;
        value.resize(len);
        if (len == 0) return true;
        return lzf_decompress(packed.data(), static_cast<unsigned>(packed.size()), value.data(), static_cast<unsigned>(len)) == len;
    }
    return false;
}

}  // namespace

uint64_t crc64(uint64_t crc, std::string_view data) {
    for (unsigned char c : data) crc = kCrcTable[(crc ^ c) & 0xff] ^ (crc >> 8);
    return crc;
}

std::string encodeStringDump(std::string_view value) {
    std::string out;
    out.reserve(value.size() + 20);
    out.push_back(static_cast<char>(kTypeString));
    putLength(out, value.size());
    out.append(value);
    out.push_back(static_cast<char>(kRdbVersion & 0xff));
    out.push_back(static_cast<char>(kRdbVersion >> 8));
    uint64_t crc = crc64(0, out);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    return out;
}

bool decodeStringDump(std::string_view payload, std::string& value, std::string& why) {
    if (payload.size() < 10) {
        why = "DUMP payload version or checksum are wrong";
        return false;
    }
    std::string_view body = payload.substr(0, payload.size() - 10);
    Reader tail(payload.substr(payload.size() - 10));
    uint64_t version, crc;
    tail.littleEndian(2, version);
    tail.littleEndian(8, crc);
    if (crc64(0, payload.substr(0, payload.size() - 8)) != crc) {
        why = "DUMP payload version or checksum are wrong";
        return false;
    }
    Reader r(body);
    uint8_t type;
    if (!r.byte(type)) {
        why = "Bad data format";
        return false;
    }
    if (type != kTypeString) {
        why = std::string("memcached stores strings only, this is a ") + typeName(type) + " value";
        return false;
    }
    if (!readString(r, value) || !r.atEnd()) {
        why = "Bad data format";
        return false;
    }
    return true;
}

}  // namespace laminar::backend::memcached

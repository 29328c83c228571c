// SPDX-License-Identifier: Apache-2.0
#include "backend/cluster/slots.h"

#include <algorithm>
#include <charconv>

#include "resp/value.h"

namespace laminar::backend::cluster {
namespace {

constexpr std::array<uint16_t, 256> crcTable() {
    std::array<uint16_t, 256> t{};
    for (int i = 0; i < 256; ++i) {
        uint16_t crc = static_cast<uint16_t>(i << 8);
        for (int b = 0; b < 8; ++b) crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
        t[static_cast<size_t>(i)] = crc;
    }
    return t;
}
constexpr auto kCrcTable = crcTable();

uint16_t crc16(std::string_view s) {
    uint16_t crc = 0;
    for (unsigned char c : s) crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
    return crc;
}

bool parsePort(std::string_view s, uint16_t& port) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
}

}  // namespace

uint16_t keySlot(std::string_view key) {
    if (auto open = key.find('{'); open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
    }
    return crc16(key) & (kSlots - 1);
}

uint32_t slotTag(uint16_t slot) {
    static const std::vector<uint32_t> tags = [] {
        std::vector<uint32_t> t(kSlots, UINT32_MAX);
        int left = kSlots;
        for (uint32_t n = 0; left > 0; ++n) {
            uint32_t& at = t[keySlot(std::to_string(n))];
            if (at == UINT32_MAX) at = n, --left;
        }
        return t;
    }();
    return tags[slot % kSlots];
}

int SlotMap::covered() const {
    return static_cast<int>(std::count_if(owner.begin(), owner.end(), [](uint16_t o) { return o != kNone; }));
}

std::vector<uint16_t> SlotMap::firstSlots() const {
    std::vector<uint16_t> first(masters.size(), kNone);
    for (int s = 0; s < kSlots; ++s) {
        uint16_t o = owner[static_cast<size_t>(s)];
        if (o != kNone && first[o] == kNone) first[o] = static_cast<uint16_t>(s);
    }
    return first;
}

std::optional<uint16_t> commonSlot(std::span<const std::string_view> argv, std::span<const int> keys) {
    uint16_t slot = keySlot(argv[static_cast<size_t>(keys.front())]);
    for (int k : keys)
        if (keySlot(argv[static_cast<size_t>(k)]) != slot) return std::nullopt;
    return slot;
}

config::BackendConfig nodeConfig(const config::BackendConfig& cluster, const config::Endpoint& at) {
    config::BackendConfig nc = cluster;
    nc.type = config::BackendConfig::Type::kRedis;
    nc.name = cluster.name + "@" + at.str();
    nc.address = at;
    nc.servers.clear();
    return nc;
}

uint16_t SlotMap::indexOf(const config::Endpoint& e) {
    for (size_t i = 0; i < masters.size(); ++i)
        if (masters[i] == e) return static_cast<uint16_t>(i);
    masters.push_back(e);
    return static_cast<uint16_t>(masters.size() - 1);
}

bool parseClusterSlots(std::string_view raw, const config::Endpoint& asked, SlotMap& out, std::string& error) {
    size_t pos = 0;
    return parseClusterSlots(resp::parseValue(raw, pos), asked, out, error);
}

bool parseClusterSlots(const resp::Value& v, const config::Endpoint& asked, SlotMap& out, std::string& error) {
    if (v.isError()) {
        error = v.str;
        return false;
    }
    if (v.kind != resp::Value::Kind::kArray) {
        error = "CLUSTER SLOTS did not answer a slot table";
        return false;
    }
    struct Range {
        long long from, to;
        config::Endpoint master;
    };
    std::vector<Range> ranges;
    for (const auto& r : v.elems) {
        if (r.kind != resp::Value::Kind::kArray || r.elems.size() < 3 || r.elems[2].kind != resp::Value::Kind::kArray ||
            r.elems[2].elems.size() < 2) {
            error = "CLUSTER SLOTS: malformed slot range";
            return false;
        }
        const auto& node = r.elems[2].elems;
        config::Endpoint e;
        e.host = node[0].str.empty() || node[0].str == "?" ? asked.host : node[0].str;
        if (node[1].kind != resp::Value::Kind::kInteger || node[1].integer <= 0 || node[1].integer > 65535) {
            error = "CLUSTER SLOTS: bad port";
            return false;
        }
        e.port = static_cast<uint16_t>(node[1].integer);
        long long from = r.elems[0].integer, to = r.elems[1].integer;
        if (from < 0 || to >= kSlots || from > to) {
            error = "CLUSTER SLOTS: slot out of range";
            return false;
        }
        ranges.push_back({from, to, e});
    }
    SlotMap map;
    for (const auto& r : ranges)
        if (std::find(map.masters.begin(), map.masters.end(), r.master) == map.masters.end()) map.masters.push_back(r.master);
    std::sort(map.masters.begin(), map.masters.end(), [](const auto& a, const auto& b) { return std::tie(a.host, a.port) < std::tie(b.host, b.port); });
    for (const auto& r : ranges) {
        auto idx = map.indexOf(r.master);
        for (long long s = r.from; s <= r.to; ++s) map.owner[static_cast<size_t>(s)] = idx;
    }
    out = std::move(map);
    return true;
}

Redirect parseRedirect(std::string_view raw, const config::Endpoint& from) {
    Redirect r;
    if (raw.starts_with("-MOVED ")) {
        r.kind = Redirect::Kind::kMoved;
        raw.remove_prefix(7);
    } else if (raw.starts_with("-ASK ")) {
        r.kind = Redirect::Kind::kAsk;
        raw.remove_prefix(5);
    } else {
        return r;
    }
    if (auto eol = raw.find('\r'); eol != std::string_view::npos) raw = raw.substr(0, eol);
    auto space = raw.find(' ');
    auto colon = raw.rfind(':');
    unsigned slot = 0;
    auto slot_text = raw.substr(0, space);
    auto [p, ec] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
    if (space == std::string_view::npos || colon == std::string_view::npos || colon < space || ec != std::errc() ||
        p != slot_text.data() + slot_text.size() || slot >= kSlots || !parsePort(raw.substr(colon + 1), r.to.port)) {
        r.kind = Redirect::Kind::kNone;
        return r;
    }
    r.slot = static_cast<uint16_t>(slot);
    r.to.host = std::string(raw.substr(space + 1, colon - space - 1));
    if (r.to.host.empty()) r.to.host = from.host;  // "MOVED 3999 :6381": the host asked
    return r;
}

}  // namespace laminar::backend::cluster

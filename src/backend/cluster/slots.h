// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "resp/value.h"

namespace laminar::backend::cluster {

inline constexpr int kSlots = 16384;

// The hash slot of a key, as Redis Cluster computes it: CRC16 (XMODEM) of the key, or of the part
// between the first '{' and the next '}' when that part is not empty (a hash tag), modulo 16384.
uint16_t keySlot(std::string_view key);
// A hash tag (the text between '{' and '}') that puts a key on `slot`: the smallest number whose
// CRC16 lands there, from a table made once.
uint32_t slotTag(uint16_t slot);

// Which master serves each slot: CLUSTER SLOTS, parsed. Replicas are not kept: laminar reads and
// writes on masters only, so a replica never answers with stale data.
struct SlotMap {
    static constexpr uint16_t kNone = 0xffff;
    std::vector<config::Endpoint> masters;  // sorted by address: the order a SCAN walks them
    std::array<uint16_t, kSlots> owner;     // index into masters, or kNone

    SlotMap() { owner.fill(kNone); }
    // The master of `slot`, or nullptr when no master serves it.
    const config::Endpoint* master(uint16_t slot) const { return owner[slot] == kNone ? nullptr : &masters[owner[slot]]; }
    int covered() const;  // slots with a master
    // Index of `e` in masters, adding it if new (a MOVED to a node the map does not know yet).
    uint16_t indexOf(const config::Endpoint& e);
    // The first slot each master serves, by master index (kNone when it serves none): a command
    // meant for "this master" follows the slot, so it reaches the new master after a failover.
    std::vector<uint16_t> firstSlots() const;
};

// Parses a CLUSTER SLOTS reply (raw RESP, or already parsed). A node announced with an empty host
// or "?" is at `asked` (the address the reply came from), as Redis documents. False with `error`
// set when the reply is not a slot table.
bool parseClusterSlots(std::string_view raw, const config::Endpoint& asked, SlotMap& out, std::string& error);
bool parseClusterSlots(const resp::Value& reply, const config::Endpoint& asked, SlotMap& out, std::string& error);

// The slot every key of a command is in; nullopt when the keys are in several slots. `keys` are
// argv indices, at least one.
std::optional<uint16_t> commonSlot(std::span<const std::string_view> argv, std::span<const int> keys);

// SCAN over a cluster walks the masters one after another; the cursor laminar hands out is the
// node's cursor * kScanMasters + the master's index (the daemon and the tools agree on it).
inline constexpr uint64_t kScanMasters = 1024;
// The cursor to hand out after master `master` (of `masters`) answered `node_cursor`: 0 at the end.
inline uint64_t nextScanCursor(uint64_t node_cursor, uint64_t master, uint64_t masters) {
    if (node_cursor != 0) return node_cursor * kScanMasters + master;
    return master + 1 < masters ? master + 1 : 0;
}

// One node's connection settings: the cluster backend's (password, TLS, timeouts) at `at`, named
// "cluster@host:port" so its errors say which node.
config::BackendConfig nodeConfig(const config::BackendConfig& cluster, const config::Endpoint& at);

// Parses "-MOVED 3999 127.0.0.1:6381" and "-ASK 3999 127.0.0.1:6381" error replies.
struct Redirect {
    enum class Kind { kNone, kMoved, kAsk };
    Kind kind = Kind::kNone;
    uint16_t slot = 0;
    config::Endpoint to;
};
Redirect parseRedirect(std::string_view raw_error, const config::Endpoint& from);

}  // namespace laminar::backend::cluster

// SPDX-License-Identifier: Apache-2.0
// What laminar reads from a Redis Cluster: a CLUSTER SLOTS reply (through resp::parseValue, which
// the tools use for every reply too), -MOVED/-ASK redirects, and the hash slot of a key. The input
// is all three at once. Nothing may crash, hang or allocate without bound; a parsed map only
// points at masters it lists; a redirect names a real slot and port; a slot is below 16384 and a
// key's slot is its hash tag's.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backend/cluster/slots.h"
#include "resp/value.h"

using namespace laminar::backend::cluster;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    const laminar::config::Endpoint asked{"127.0.0.1", 7000};

    size_t pos = 0;
    auto v = laminar::resp::parseValue(in, pos);
    if (pos > in.size()) std::abort();
    // A malformed input consumes everything; a real "-malformed reply" error line does not.
    if (v.isError() && v.str == "malformed reply" && pos != in.size() && !in.starts_with("-malformed reply\r\n")) std::abort();

    SlotMap map;
    std::string error;
    if (parseClusterSlots(in, asked, map, error)) {
        for (uint16_t o : map.owner)
            if (o != SlotMap::kNone && o >= map.masters.size()) std::abort();
        for (const auto& m : map.masters)
            if (m.port == 0 || m.host.empty()) std::abort();
    }

    auto r = parseRedirect(in, asked);
    if (r.kind != Redirect::Kind::kNone && (r.slot >= kSlots || r.to.port == 0 || r.to.host.empty())) std::abort();

    uint16_t slot = keySlot(in);
    if (slot >= kSlots) std::abort();
    auto open = in.find('{');
    if (open != std::string_view::npos) {
        auto close = in.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1 && keySlot(in.substr(open + 1, close - open - 1)) != slot) std::abort();
    }
    return 0;
}

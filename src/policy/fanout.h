// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>

#include "policy/strategy.h"

namespace laminar::policy {

// How sendToBoth answers the client:
//   kFirst           the first's reply, as soon as it arrives (the second's is awaited, not used);
//   kFirstAfterBoth  once both replied: the first's, unless the second failed (ack: both);
//   kMaxInteger      once both replied: the larger of two integer replies (DEL, UNLINK).
enum class Merge { kFirst, kFirstAfterBoth, kMaxInteger };

// Sends `req` to both strategies at once and answers `sink` by `merge` (used by dual_lookup's
// deletes and `writes: both`, and dual_write's plain overwrites). When `second_failures` is given,
// a failed second side is counted there and logged; without it, the caller's own reply handling
// is all there is.
void sendToBoth(const Request& req, backend::ReplySink* sink, Context& ctx, const Strategy& first, const Strategy& second,
                Merge merge, std::atomic<uint64_t>* second_failures);

}  // namespace laminar::policy

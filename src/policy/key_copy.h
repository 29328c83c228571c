// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "policy/strategy.h"

namespace laminar::policy {

// Copies one key from `from` to `to` in the background: DUMP + PTTL, then RESTORE (with REPLACE
// when `replace`), or DEL when the key is gone and `replace`. `done(ok, why)` is called once, on
// the same thread; BUSYKEY counts as ok when not replacing. Used by dual_lookup's warm copies, the
// sync engine and the write queue's key records.
void copyKey(const std::string& key, const Strategy& from, const Strategy& to, bool replace, Context& ctx,
             std::function<void(bool ok, std::string_view why)> done);

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/proxy.h"

namespace laminar::policy {

std::unique_ptr<Strategy> makeProxy(config::MapReader& r, Builder& b) {
    return b.proxy(b.backend(r, "target"));
}

}  // namespace laminar::policy

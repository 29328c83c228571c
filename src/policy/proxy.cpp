// SPDX-License-Identifier: Apache-2.0
#include "policy/proxy.h"

namespace laminar::policy {

std::unique_ptr<Strategy> makeProxy(config::MapReader& r, Builder& b) {
    int target = b.backend(r, "target");
    return std::make_unique<Proxy>(target, b.backendName(target));
}

}  // namespace laminar::policy

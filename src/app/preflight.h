// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "config/config.h"

namespace laminar::app {

// A reload's check of a backend address the running configuration does not have yet: connect
// within connect_timeout and see that what answers speaks the backend's protocol within timeout
// (redis, redis_cluster: an inline PING answered with a RESP reply, +PONG or an error such as
// NOAUTH; memcached: `version` answered with VERSION). With TLS only the connect is checked.
// Blocking, on the main thread. Returns why the address is not usable, or empty.
std::string preflight(const config::BackendConfig& backend);

// The backends of `next` whose addresses `running` has under no backend: the ones a reload
// should check before it sends traffic there.
std::vector<const config::BackendConfig*> newAddresses(const config::Config& running, const config::Config& next);

}  // namespace laminar::app

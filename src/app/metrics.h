// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace laminar::app {

class Server;

// What the admin endpoint reports about a running server. On the main thread (the server's
// configuration is that thread's); the I/O threads' counters are read as they are, and summed.

// The /metrics body: every laminar_* metric (docs/operations.md, "Monitoring", lists them).
std::string metricsText(const app::Server& server);

// Why /readyz is not ready, empty when it is: ready means serving, not shutting down, and every
// backend the catch-all route can send to is up. (A configuration is always loaded: the daemon
// does not start without one, and a failed reload keeps the running one.)
std::string unreadiness(const app::Server& server);
// What is wrong while ready all the same (the write queue lost records to damage at open, or
// cannot write); empty when nothing is.
std::string degradation(const app::Server& server);

}  // namespace laminar::app

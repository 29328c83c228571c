// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "backend/health_board.h"
#include "policy/phase_guard.h"
#include "policy/route_stats.h"

namespace laminar::policy {

// What outlives every configuration: each backend's health and each route's counters, kept by
// name so a reload keeps them. The daemon makes one (with its first Snapshot) and passes it to
// every later Snapshot, to the backends and to the canaries; a test or --check-config gets a
// fresh one with its Snapshot. Nothing else is keyed by name across reloads.
struct Registry {
    backend::HealthBoard health;
    StatsBoard stats;
    MigrationBoard migrations;  // each migration route's phase, since when, and which side lags
};

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace laminar::policy {

// Backend health as `condition` routes see it ("bad weather"). Backends are a snapshot's indices.
class Health {
public:
    enum class State { kUp, kDegraded, kDown };
    virtual ~Health() = default;
    virtual State state(int backend) const = 0;
    // The recent p99 of reply latency, in milliseconds (0 when nothing was measured yet).
    virtual double p99Millis(int backend) const = 0;
};

}  // namespace laminar::policy

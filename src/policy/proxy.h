// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// Proxied access (the talk's "Broker: proxied access").
//  1. Every command, read or write, goes to `target` unchanged; its reply goes back unchanged.
//  2. When `target` cannot answer, the client gets the error that names it.
// Reverse: point `target` at the other backend.
class Proxy final : public Strategy {
public:
    explicit Proxy(int target) : target_(target) {}
    std::string_view type() const override { return "proxy"; }
    void execute(const Request& req, backend::ReplySink* sink, Dispatch& dispatch) const override {
        dispatch.send(target_, req.raw, sink);
    }
    int pinTarget() const override { return target_; }
    std::string describe(const config::Config& cfg) const override;

private:
    int target_;
};

std::unique_ptr<Strategy> makeProxy(const config::StrategyConfig& sc, const config::Config& cfg);

}  // namespace laminar::policy

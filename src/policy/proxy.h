// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/strategy.h"

namespace laminar::policy {

// Proxied access (docs/design.md, "Proxied access").
//  1. Every command, read or write, goes to `target` unchanged; its reply goes back unchanged.
//  2. When `target` cannot answer, the client gets the error that names it.
// Reverse: point `target` at the other backend.
class Proxy final : public Strategy {
public:
    Proxy(int target, std::string name) : target_(target), name_(std::move(name)) {}
    std::string_view type() const override { return "proxy"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override {
        ctx.client.send(target_, req.raw, sink);
    }
    int pinTarget() const override { return target_; }
    // A leaf: the hooks' walk over children (strategy.h) has nothing to visit, and this one runs
    // for every command.
    bool serializes(const Request&) const override { return false; }
    void targets(const Request&, const Context&, bool, std::vector<int>& out) const override { out.push_back(target_); }
    std::string describe() const override { return name_; }
    int target() const { return target_; }

private:
    int target_;
    std::string name_;
};

// proxy {target}
std::unique_ptr<Strategy> makeProxy(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "policy/strategy.h"
#include "resp/command_table.h"
#include "resp/writer.h"

namespace laminar::policy {

// A command laminar makes itself (a key copy, one key of a split MGET), with the storage its
// Request points into.
struct OwnedCommand {
    explicit OwnedCommand(std::vector<std::string> args) : words(std::move(args)) {
        for (const auto& w : words) views.push_back(w);
        resp::appendCommand(raw, std::span<const std::string_view>(views));
        cmd = resp::lookupCommand(views);
        if (cmd) resp::keyIndices(*cmd, views, keys);
    }
    OwnedCommand(const OwnedCommand&) = delete;
    OwnedCommand& operator=(const OwnedCommand&) = delete;
    Request request() const { return Request{views, raw, cmd, keys}; }

    std::vector<std::string> words;
    std::vector<std::string_view> views;
    std::string raw;
    const resp::CommandInfo* cmd = nullptr;
    std::vector<int> keys;
};

}  // namespace laminar::policy

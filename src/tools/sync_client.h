// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "resp/value.h"

namespace laminar::tools {

// One reply, parsed (the command-line tools look inside replies; the daemon rarely does).
using Value = resp::Value;

// The backend could not be reached or stopped answering: the tools stop (exit 3).
class Unreachable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A synchronous connection to one configured backend, for `laminar copy` and `laminar verify`:
// Redis through hiredis, memcached through the same translation the daemon uses, so both answer
// the same commands (SCAN, TYPE, GET, DUMP, PTTL, RESTORE...).
class SyncClient {
public:
    // Throws Unreachable when it cannot connect.
    static std::unique_ptr<SyncClient> open(const config::BackendConfig& cfg);
    virtual ~SyncClient() = default;
    // Throws Unreachable on a connection failure; Redis errors come back as kError values.
    virtual Value call(const std::vector<std::string>& argv) = 0;
    // Several commands, pipelined where the backend allows it; one reply each, in order.
    virtual std::vector<Value> callMany(const std::vector<std::vector<std::string>>& commands);
    const std::string& name() const { return name_; }

protected:
    std::string name_;
};

inline Value parseReply(std::string_view raw, size_t& pos) { return resp::parseValue(raw, pos); }

}  // namespace laminar::tools

// SPDX-License-Identifier: Apache-2.0
// Helpers on top of harness.h for the stateful, limits, shutdown and load integration tests:
// raw RESP reading (RESP3 included, which hiredis 0.14 cannot parse), INFO fields, process
// memory, and small conveniences to wait for a state seen on redis-server itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/harness.h"

namespace laminar::test {

// Length of the first complete RESP2/RESP3 value in `data`, 0 when it is not complete yet,
// std::string::npos when the bytes are not RESP.
size_t respFrameLength(std::string_view data);

// Reads from the client's socket (bypassing hiredis) until `done(bytes so far)` holds, the peer
// closes, or `timeout` passes. Never blocks longer than `timeout`.
std::string readRawUntil(Client& c, const std::function<bool(const std::string&)>& done,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Reads exactly `n` complete RESP values (raw bytes), or what arrived before `timeout`.
std::string readRawFrames(Client& c, size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// True when the peer has closed the connection (EOF or reset is pending on the socket), after
// discarding whatever data is still buffered. Waits at most `timeout` for that to happen.
bool peerClosed(Client& c, std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

// "field:value" lines of an INFO text; "" when absent.
std::string infoField(const std::string& info, const std::string& field);
// INFO <section> over a fresh connection to `port`, then the field; -1 when not a number.
long long infoNumber(int port, const std::string& section, const std::string& field);

// The "VmRSS" / "VmHWM" line of /proc/<pid>/status, in kB; -1 when unreadable.
long long procStatusKb(pid_t pid, const std::string& key);

// A reply tree as text, for comparing two replies in one EXPECT_EQ: type tag, then value.
std::string show(const Reply& r);
// The same with the elements of the top-level array sorted, for unordered replies (SMEMBERS...).
std::string showSorted(const Reply& r);

// A client to redis-server directly: the number of clients blocked in a blocking command there.
long long blockedClients(int redis_port);

std::string repeatChar(char c, size_t n);

// Sends a command through hiredis without waiting for its reply (read it later with read()).
bool sendOnly(Client& c, const std::vector<std::string>& argv);

// Concatenates anything streamable. (GCC 12 warns falsely, -Werror=restrict, on
// "literal" + std::to_string(...) in optimised builds; this avoids that form.)
template <class... A>
std::string cat(const A&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

// The RESP2 request bytes of a command (for Client::sendRaw).
std::string respCommand(const std::vector<std::string>& argv);

}  // namespace laminar::test

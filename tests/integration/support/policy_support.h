// SPDX-License-Identifier: Apache-2.0
// Helpers for the policy-engine integration tests (strategies, reload, reversal, examples): a
// laminar config with two redis backends `old` and `new`, a key's state read from a backend
// independently of DUMP's encoding, key-by-key comparison of two backends, LAMINAR ROUTE as a
// map, and waiting for a reload to be seen by a client's I/O thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"

namespace laminar::test {

// A laminar config with backends `old` and `new` (both redis on 127.0.0.1), `threads` I/O
// threads, the given routes (YAML list items, each starting "  - name: ..."), then the catch-all
// `default` proxy to old. `{port}` is left for Laminar to fill in.
std::string twoBackendConfig(int old_port, int new_port, const std::string& routes, int threads = 2,
                             const std::string& extra = "");

// One route as YAML list items: `  - name: NAME\n    match: {keys: ["GLOB"]}\n    BODY\n`, where
// BODY is e.g. `strategy: {type: proxy, target: old}` or `migration: {from: old, to: new, phase: P}`.
std::string route(const std::string& name, const std::string& glob, const std::string& body);
std::string migrationRoute(const std::string& name, const std::string& glob, const std::string& phase);
// The same with `force: true`: reloads take it past the phase guardrails (tests of other things
// that flip phases without a backfill).
std::string forcedMigrationRoute(const std::string& name, const std::string& glob, const std::string& phase);

// A key's type and value as text, read with type-specific commands (not DUMP): "none",
// "string:VALUE", "hash:{f=v, ...}" (fields sorted), "list:[a, b]" (in order), "set:{a, b}"
// (sorted), "zset:[m=score, ...]" (in order). Anything else: "TYPE:?".
std::string keyState(Client& c, const std::string& key);
// PTTL of a key (-2 missing, -1 no expiry).
long long pttl(Client& c, const std::string& key);
// Every key of a redis-server (SCAN), sorted.
std::vector<std::string> allKeys(int port, const std::string& pattern = "*");

// Key-by-key comparison of two redis-servers: type and value (keyState), and TTL within
// `ttl_slack` (a key with no expiry must have none on the other side either). One line per
// difference, naming the key and both sides; empty when identical.
std::vector<std::string> diffKeys(int a_port, int b_port, const std::vector<std::string>& keys,
                                  std::chrono::milliseconds ttl_slack = std::chrono::seconds(2));
// diffKeys over the union of both sides' keys matching `pattern`.
std::vector<std::string> diffAll(int a_port, int b_port, const std::string& pattern = "*",
                                 std::chrono::milliseconds ttl_slack = std::chrono::seconds(2));
// Polls `diff` until it is empty or `timeout` passes; returns the last result.
std::vector<std::string> waitNoDiff(const std::function<std::vector<std::string>()>& diff,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
// The first `n` lines of a diff, for failure messages.
std::string firstLines(const std::vector<std::string>& lines, size_t n = 10);

// LAMINAR ROUTE <argv...>: the reply's field -> value pairs (route, strategy, class, reads,
// writes); {"error": text} when laminar answered with an error.
std::map<std::string, std::string> laminarRoute(Client& c, const std::vector<std::string>& argv);
// LAMINAR STATUS text ("" when not a bulk string).
std::string laminarStatus(Client& c);
// A counter of one route in LAMINAR STATUS (absent: 0); -1 when the route is not there.
long long routeCounter(Client& c, const std::string& route_name, const std::string& counter);
// A field of INFO laminar as seen by this client's I/O thread; "" when absent.
std::string laminarInfo(Client& c, const std::string& field);
long long laminarInfoNumber(Client& c, const std::string& field);
// Waits until this client's I/O thread routes with `generation`.
bool waitGeneration(Client& c, long long generation, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Sends SIGHUP to laminar and waits until the reload ran (reloads_ok + reloads_failed grew, read
// through `admin`). False when it did not within `timeout`.
bool sighupAndWait(Laminar& l, Client& admin, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Sends every command pipelined, then reads every reply, in order.
std::vector<Reply> pipeline(Client& c, const std::vector<std::vector<std::string>>& commands);

// Copies keys from one redis-server to another with DUMP + PTTL + RESTORE REPLACE (what an
// operator's `laminar copy` does), for tests that need data moved outside laminar.
void copyKeys(int from_port, int to_port, const std::vector<std::string>& keys);

}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// The memcached backend end to end: a real memcached (and redis-server) on free loopback ports
// behind the laminar binary.
//
//   * Differential: the same seeded random sequences of Redis string commands go to a
//     redis-server directly and to laminar -> memcached; every reply must be identical (TTL/PTTL
//     within memcached's whole-second resolution), except the documented refusals.
//   * Refusals: non-string commands, MULTI/SELECT, keys memcached cannot hold (and key_hash),
//     values over max_value. SCAN (lru_crawler metadump) against what exists.
//   * A dead or stopped memcached: fast errors naming the backend, other routes unaffected,
//     recovery once it is back.
//   * Pipelining and concurrent clients.
//   * Strategies with a memcached side (dual_lookup, dual_write both ways, timed_rollover,
//     migration), each side checked directly: memcached over its own text protocol, redis-server
//     with redis commands.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/memcached/commands.h"
#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

// ================================================================== helpers

std::string mcBackend(const std::vector<int>& ports, bool key_hash = false, bool binary = false) {
    std::string servers;
    for (int p : ports) servers += cat(servers.empty() ? "" : ", ", "127.0.0.1:", p);
    return cat("  mc: {type: memcached, servers: [", servers, "], timeout: 500ms, key_hash: ", key_hash ? "true" : "false",
               ", max_value: 1mb, pool: 4, binary_protocol: ", binary ? "true" : "false", "}\n");
}
std::string mcBackend(int mc_port) { return mcBackend(std::vector<int>{mc_port}); }

// laminar with one memcached backend `mc` behind the catch-all; admin commands (FLUSHALL) allowed.
std::string memcachedOnlyConfig(const std::vector<int>& ports, bool key_hash = false, bool binary = false) {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nclient: {allow_admin: true}\nbackends:\n",
               mcBackend(ports, key_hash, binary), "routes:\n  - name: default\n    strategy: {type: proxy, target: mc}\n");
}
std::string memcachedOnlyConfig(int mc_port, bool key_hash = false) { return memcachedOnlyConfig(std::vector<int>{mc_port}, key_hash); }

// laminar with `mc` (memcached) and `redis` (redis-server), the given routes, then the catch-all
// proxy to redis.
std::string mixedConfig(int mc_port, int redis_port, const std::string& routes) {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nclient: {allow_admin: true}\nbackends:\n", mcBackend(mc_port),
               "  redis: {type: redis, address: 127.0.0.1:", redis_port, "}\nroutes:\n", routes,
               "  - name: default\n    strategy: {type: proxy, target: redis}\n");
}

// Bytes made printable for failure messages.
std::string esc(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
        else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}
// Long values shortened: the first bytes, then the length.
std::string brief(const std::string& s) {
    if (s.size() <= 80) return esc(s);
    return cat(esc(s.substr(0, 40)), "...(", s.size(), " bytes)");
}
std::string showE(const Reply& r) { return brief(show(r)); }
std::string argvText(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += '"' + brief(a) + '"';
    }
    return out;
}

long long nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A key on memcached (read directly) against the same key on redis-server: value, and time to
// live within `slack` (memcached keeps whole seconds; beyond 30 days, where memcached counts a
// unix time on its own clock of whole seconds, within 2 s at least, see sameReply).
// One line per difference.
std::vector<std::string> diffSides(int mc_port, int redis_port, const std::vector<std::string>& keys,
                                   std::chrono::milliseconds slack = 2s) {
    MemcachedClient m(mc_port);
    Client r(redis_port);
    std::vector<std::string> out;
    for (const auto& k : keys) {
        auto mv = m.get(k);
        auto rv = r.cmd({"GET", k});
        std::string ms = mv ? "$" + *mv : "(nil)";
        std::string rs = show(rv);
        if (ms != rs) {
            out.push_back(cat(k, ": memcached has ", brief(ms), " / redis has ", brief(rs)));
            continue;
        }
        if (!mv) continue;
        long long mt = m.ttl(k), rt = pttl(r, k);
        long long allowed = rt > (30LL * 24 * 3600 - 60) * 1000 ? std::max<long long>(slack.count(), 2000) : slack.count();
        bool ok = (mt < 0 || rt < 0) ? mt == rt : std::llabs(mt * 1000 - rt) <= allowed;
        if (!ok) out.push_back(cat(k, ": ttl ", mt, " s on memcached / pttl ", rt, " ms on redis"));
    }
    return out;
}

// Every key a full SCAN walk returns (cursor 0 to 0), sorted; "error: ..." as the only entry when
// a step fails.
std::vector<std::string> scanAll(Client& c, const std::vector<std::string>& options = {}) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    for (int steps = 0; steps < 10000; ++steps) {
        std::vector<std::string> argv = {"SCAN", cursor};
        argv.insert(argv.end(), options.begin(), options.end());
        auto r = c.cmd(argv);
        if (r.type != REDIS_REPLY_ARRAY || r.elements.size() != 2) return {"error: " + show(r)};
        for (const auto& k : r.elements[1].elements) keys.push_back(k.str);
        cursor = r.elements[0].str;
        if (cursor == "0") break;
    }
    std::sort(keys.begin(), keys.end());
    return keys;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + esc(s);
    return out;
}

// ================================================================== differential

// Random Redis string commands over a small key space, with the arguments where Redis and a
// translation to memcached are most likely to part: numbers at the edges of int64, leading zeros
// and spaces, empty and binary values, every SET/GETEX/EXPIRE option combination (valid or not),
// relative and absolute expiry on both sides of memcached's 30-day rule, in the past, near the
// int64 limits, and not numbers at all. TTLs are at least 100 s so nothing expires mid-run.
class CommandGen {
public:
    explicit CommandGen(uint64_t seed) : rng_(seed) {}

    std::vector<std::string> next() {
        auto argv = make();
        if (chance(2)) {  // wrong arity now and then: redis-server's error text is expected
            if (argv.size() > 1 && chance(70)) argv.pop_back();
            else argv.resize(1);
        }
        return argv;
    }

private:
    size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
    bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
    long long range(long long lo, long long hi) { return std::uniform_int_distribution<long long>(lo, hi)(rng_); }
    template <class T>
    const T& oneOf(const std::vector<T>& v) {
        return v[pick(v.size())];
    }
    // Options in random letter case: Redis takes them case-insensitively.
    std::string word(std::string w) {
        if (chance(20))
            for (auto& c : w) c = static_cast<char>(chance(50) ? std::tolower(static_cast<unsigned char>(c)) : c);
        return w;
    }
    std::string key() { return cat("k", pick(8)); }

    std::string value() {
        static const std::vector<std::string> fixed = {
            "0", "1", "-1", "2", "10", "99", "100", "-10", "-100", "41", "007", " 1", "1 ", "-0", "+1", "", "00",
            "9223372036854775807", "9223372036854775806", "-9223372036854775808", "-9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "18446744073709551615", "123456789012345678901", "4294967295", "4294967296", "3.5", "1e3",
            "0x10", "abc", "hello world", std::string("\0\x01\xff\r\n", 6), "\r\n", "END\r\n", "value with spaces"};
        switch (pick(10)) {
            case 0: case 1: case 2: case 3: return oneOf(fixed);
            case 4: case 5: return std::to_string(range(-1000, 1000));
            case 6: return std::to_string(range(LLONG_MIN, LLONG_MAX));
            case 7: {  // random bytes, NUL and CR LF included
                std::string s(pick(40), '\0');
                for (auto& c : s) c = static_cast<char>(pick(256));
                return s;
            }
            case 8: return std::string(pick(3000), static_cast<char>('a' + pick(26)));
            default: return cat("v", pick(1000));
        }
    }

    // An INCRBY/DECRBY argument.
    std::string delta() {
        static const std::vector<std::string> edges = {"0", "1", "-1", "9223372036854775807", "-9223372036854775808",
                                                       "9223372036854775806", "-9223372036854775807", "9223372036854775808",
                                                       "abc", "1.5", "", " 1", "007", "+1", "-0"};
        if (chance(30)) return oneOf(edges);
        if (chance(20)) return std::to_string(range(LLONG_MIN, LLONG_MAX));
        return std::to_string(range(-1000, 1000));
    }

    // Relative seconds for EX / EXPIRE (ms = false) or milliseconds for PX / PEXPIRE (ms = true).
    std::string relative(bool ms) {
        auto scaled = [&](long long s) { return ms ? s * 1000 + range(0, 999) : s; };
        switch (pick(20)) {
            case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: return std::to_string(scaled(range(100, 2'000'000)));
            case 8: case 9: return std::to_string(scaled(2'592'000 + range(-3, 3)));  // memcached's 30-day rule
            case 10: case 11: case 12: return std::to_string(scaled(range(2'600'000, 300'000'000)));  // still before 2038
            case 13: return oneOf(std::vector<std::string>{"0", "-1", std::to_string(-range(1, 1'000'000'000))});
            case 14:
                return oneOf(std::vector<std::string>{std::to_string(LLONG_MAX), std::to_string(LLONG_MAX / 1000),
                                                      std::to_string(LLONG_MAX / 1000 + 1), std::to_string(LLONG_MIN),
                                                      std::to_string(LLONG_MIN / 1000), std::to_string(LLONG_MIN / 1000 - 1),
                                                      std::to_string(LLONG_MAX - 1000), "9223372036854775808"});
            case 15: return std::to_string(scaled(range(1'000'000'000, 10'000'000'000)));  // after 2038: refused by laminar
            case 16: return oneOf(std::vector<std::string>{"abc", "1.5", "", " 100", "100 ", "0x10", "+100", "0100"});
            default: return std::to_string(scaled(range(100, 100'000)));
        }
    }
    // Unix seconds for EXAT / EXPIREAT, or unix milliseconds for PXAT / PEXPIREAT.
    std::string absolute(bool ms) {
        long long now = nowMs();
        long long base = ms ? now : now / 1000;
        long long unit = ms ? 1000 : 1;
        switch (pick(10)) {
            case 0: return oneOf(std::vector<std::string>{"1", "0", "-1", std::to_string(base - unit * range(1, 1'000'000))});  // the past
            case 1: {  // numbers at the edges
                return oneOf(std::vector<std::string>{std::to_string(LLONG_MAX), std::to_string(LLONG_MAX / 1000),
                                                      std::to_string(LLONG_MAX / 1000 + 1), std::to_string(LLONG_MIN),
                                                      std::to_string(2147483647LL * unit), std::to_string(2147483648LL * unit),
                                                      "abc", ""});
            }
            default: {
                // A relative time made absolute; anything else (not a number, "0100", the past, the
                // int64 edges) is sent as it is, never as a deadline a moment away.
                std::string rel = relative(ms);
                long long v;
                auto [p, ec] = std::from_chars(rel.data(), rel.data() + rel.size(), v);
                if (ec != std::errc() || p != rel.data() + rel.size() || std::to_string(v) != rel || v < 100 * unit || v > LLONG_MAX / 2)
                    return rel;
                return std::to_string(base + v);
            }
        }
    }
    std::string expireArg(const std::string& unit) {
        if (unit == "EX") return relative(false);
        if (unit == "PX") return relative(true);
        if (unit == "EXAT") return absolute(false);
        return absolute(true);
    }

    std::vector<std::string> setOptions() {
        std::vector<std::vector<std::string>> opts;
        if (chance(65)) {  // a valid combination in random order
            int cond = static_cast<int>(pick(3));
            if (cond == 1) opts.push_back({word("NX")});
            if (cond == 2) opts.push_back({word("XX")});
            if (chance(30)) opts.push_back({word("GET")});
            switch (pick(6)) {
                case 0: opts.push_back({word("KEEPTTL")}); break;
                case 1: case 2: case 3: case 4: {
                    std::string unit = oneOf(std::vector<std::string>{"EX", "PX", "EXAT", "PXAT"});
                    opts.push_back({word(unit), expireArg(unit)});
                    break;
                }
                default: break;
            }
            std::shuffle(opts.begin(), opts.end(), rng_);
        } else {  // anything, valid or not
            for (size_t n = 1 + pick(3); n > 0; --n) {
                switch (pick(10)) {
                    case 0: opts.push_back({word("NX")}); break;
                    case 1: opts.push_back({word("XX")}); break;
                    case 2: opts.push_back({word("GET")}); break;
                    case 3: opts.push_back({word("KEEPTTL")}); break;
                    case 4: opts.push_back({word("PERSIST")}); break;
                    case 5: opts.push_back({word("BOGUS")}); break;
                    case 6: opts.push_back({word("EX")}); break;  // no value, unless something follows
                    default: {
                        std::string unit = oneOf(std::vector<std::string>{"EX", "PX", "EXAT", "PXAT"});
                        opts.push_back({word(unit), expireArg(unit)});
                    }
                }
            }
        }
        std::vector<std::string> out;
        for (auto& o : opts) out.insert(out.end(), o.begin(), o.end());
        return out;
    }

    std::vector<std::string> getexOptions() {
        std::vector<std::string> out;
        switch (pick(10)) {
            case 0: case 1: break;
            case 2: out = {word("PERSIST")}; break;
            case 3: case 4: case 5: case 6: {
                std::string unit = oneOf(std::vector<std::string>{"EX", "PX", "EXAT", "PXAT"});
                out = {word(unit), expireArg(unit)};
                break;
            }
            case 7: out = {word("PERSIST"), word("EX"), relative(false)}; break;
            case 8: out = {word("EX"), relative(false), word("PX"), relative(true)}; break;
            default: out = {oneOf(std::vector<std::string>{"NX", "KEEPTTL", "GET", "BOGUS", "EX"})};
        }
        return out;
    }

    std::vector<std::string> expireFlags() {
        std::vector<std::string> out;
        if (chance(50)) return out;
        for (size_t n = chance(80) ? 1 : 2; n > 0; --n) out.push_back(word(oneOf(std::vector<std::string>{"NX", "XX", "GT", "LT", "GT", "LT", "XY"})));
        return out;
    }

    std::vector<std::string> keys(size_t max) {
        std::vector<std::string> out;
        for (size_t n = 1 + pick(max); n > 0; --n) out.push_back(key());
        return out;
    }

    std::vector<std::string> make() {
        static const std::vector<std::string> names = {
            "GET",    "GET",      "SET",    "SET",    "SET",     "SET",     "SETEX",  "PSETEX",   "SETNX",   "GETSET", "GETDEL",
            "GETEX",  "GETEX",    "MGET",   "MSET",   "MSETNX",  "DEL",     "UNLINK", "EXISTS",   "TOUCH",   "INCR",   "INCR",
            "INCRBY", "INCRBY",   "DECR",   "DECRBY", "APPEND",  "APPEND",  "STRLEN", "GETRANGE", "SUBSTR",  "EXPIRE", "PEXPIRE",
            "EXPIREAT", "PEXPIREAT", "EXPIRE", "PERSIST", "TYPE", "TTL",    "TTL",    "PTTL",     "PTTL"};
        const std::string& name = oneOf(names);
        std::vector<std::string> a = {chance(10) ? cat(static_cast<char>(std::tolower(name[0])), name.substr(1)) : name};
        auto add = [&](std::vector<std::string> more) { a.insert(a.end(), more.begin(), more.end()); };
        if (name == "GET" || name == "GETDEL" || name == "INCR" || name == "DECR" || name == "STRLEN" || name == "PERSIST" ||
            name == "TYPE" || name == "TTL" || name == "PTTL")
            add({key()});
        else if (name == "SET") {
            add({key(), value()});
            add(setOptions());
        } else if (name == "SETEX") add({key(), relative(false), value()});
        else if (name == "PSETEX") add({key(), relative(true), value()});
        else if (name == "SETNX" || name == "GETSET" || name == "APPEND") add({key(), value()});
        else if (name == "GETEX") {
            add({key()});
            add(getexOptions());
        } else if (name == "MGET" || name == "DEL" || name == "UNLINK" || name == "EXISTS" || name == "TOUCH") add(keys(4));
        else if (name == "MSET" || name == "MSETNX") {
            for (size_t n = 1 + pick(3); n > 0; --n) add({key(), value()});
        } else if (name == "INCRBY" || name == "DECRBY") add({key(), delta()});
        else if (name == "GETRANGE" || name == "SUBSTR") {
            auto index = [&] {
                if (chance(10)) return oneOf(std::vector<std::string>{std::to_string(LLONG_MAX), std::to_string(LLONG_MIN), "x", ""});
                return std::to_string(range(-40, 40));
            };
            add({key(), index(), index()});
        } else if (name == "EXPIRE") {
            add({key(), relative(false)});
            add(expireFlags());
        } else if (name == "PEXPIRE") {
            add({key(), relative(true)});
            add(expireFlags());
        } else if (name == "EXPIREAT") {
            add({key(), absolute(false)});
            add(expireFlags());
        } else if (name == "PEXPIREAT") {
            add({key(), absolute(true)});
            add(expireFlags());
        }
        return a;
    }

    std::mt19937_64 rng_;
};

// The refusal of an expiry memcached cannot represent (a 32-bit unix time): documented in the
// error text itself. laminar refuses before touching memcached, so redis-server's side is reset.
const std::string kAfter2038 = "ERR laminar: memcached backend 'mc' cannot store an expiry after 2038-01-19";

bool sameReply(const std::string& name, const Reply& redis, const Reply& mc) {
    std::string n = name;
    for (auto& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if ((n == "TTL" || n == "PTTL") && redis.type == REDIS_REPLY_INTEGER && mc.type == REDIS_REPLY_INTEGER) {
        // No expiry (-1) and no key (-2): exactly.
        if (redis.integer < 0 || mc.integer < 0) return redis.integer == mc.integer;
        // memcached keeps expiry in whole seconds: TTL within 1 s, PTTL within 1000 ms.
        const long long unit = n == "TTL" ? 1 : 1000;
        // PTTL: plus the milliseconds between the command reaching redis-server and reaching
        // memcached through laminar (a loaded machine measured 1002 ms once).
        long long slack = n == "TTL" ? unit : unit + 250;
        // Beyond 30 days memcached takes a unix time on its own clock of whole seconds, which
        // ticks at a phase of its own; laminar learns that phase from the server's `stats` to
        // within a second at first, narrower with each reading. Measured over 30 seeds (250
        // comparisons): 0..+1001 ms. These TTLs get 2 s, and a drift that grows with each
        // rewrite of the key still fails.
        // (A TTL set just over 30 days ago shows as 30 days by now: a minute's margin.)
        if (redis.integer > (30LL * 24 * 3600 - 60) * unit) slack = 2 * unit;
        return std::llabs(redis.integer - mc.integer) <= slack;
    }
    return show(redis) == show(mc);
}

// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with GT or LT whose new deadline is within 3 s of the key's
// current one (as redis-server has it, read just before): whether it is greater or less depends on
// milliseconds memcached does not keep (whole seconds, read up to a second high beyond 30 days,
// see sameReply), so a different answer there is expiry resolution, not a translation error. The
// random deadlines collide like this now and then (memcached's 30-day boundary values, mostly).
bool expiryTooCloseToCompare(Client& redis, const std::vector<std::string>& argv) {
    if (argv.size() < 4) return false;
    std::string name = argv[0];
    for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (name != "EXPIRE" && name != "PEXPIRE" && name != "EXPIREAT" && name != "PEXPIREAT") return false;
    bool gtlt = false;
    for (size_t j = 3; j < argv.size(); ++j) {
        std::string o = argv[j];
        for (auto& ch : o) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        gtlt = gtlt || o == "GT" || o == "LT";
    }
    long long v;
    auto [p, ec] = std::from_chars(argv[2].data(), argv[2].data() + argv[2].size(), v);
    if (!gtlt || ec != std::errc() || p != argv[2].data() + argv[2].size() || v > LLONG_MAX / 4000 || v < -(LLONG_MAX / 4000)) return false;
    long long now = nowMs();
    long long current = pttl(redis, argv[1]);
    if (current < 0) return false;
    long long when = name == "EXPIRE" ? now + v * 1000 : name == "PEXPIRE" ? now + v : name == "EXPIREAT" ? v * 1000 : v;
    return std::llabs(when - (now + current)) < 3000;
}

class MemcachedDifferential : public ::testing::Test {
protected:
    RedisServer redis_;
    MemcachedServer mc_;
};

// Runs `commands` random commands per seed against redis-server (r) and laminar (m); every
// mismatch is a failure that prints the command, both replies and the earlier commands on its keys.
// LAMINAR_MC_SEED=n (and LAMINAR_MC_COMMANDS=n) replay one seed.
void differential(Client& r, Client& m, std::vector<uint64_t> seeds, size_t commands) {
    ASSERT_TRUE(r.connected() && m.connected());
    if (const char* s = std::getenv("LAMINAR_MC_SEED")) seeds = {std::strtoull(s, nullptr, 10)};
    if (const char* n = std::getenv("LAMINAR_MC_COMMANDS")) commands = std::strtoull(n, nullptr, 10);

    for (uint64_t seed : seeds) {
        SCOPED_TRACE(cat("seed ", seed, " (replay with LAMINAR_MC_SEED=", seed, ")"));
        ASSERT_EQ(show(r.cmd({"FLUSHALL"})), "+OK");
        ASSERT_EQ(show(m.cmd({"FLUSHALL"})), "+OK");
        CommandGen gen(seed);
        struct Step {
            size_t index;
            std::vector<std::string> argv;
            std::string redis, mc;
        };
        std::deque<Step> history;  // every command since the start of this seed
        int mismatches = 0, refusals = 0, too_close = 0;
        for (size_t i = 0; i < commands; ++i) {
            auto argv = gen.next();
            const bool close = expiryTooCloseToCompare(r, argv);
            Reply rr = r.cmd(argv);
            Reply mr = m.cmd(argv);
            ASSERT_GE(rr.type, 0) << "redis-server connection: " << rr.str;
            ASSERT_GE(mr.type, 0) << "laminar connection: " << mr.str << " after " << argvText(argv);
            history.push_back({i, argv, showE(rr), showE(mr)});
            if (mr.isError() && mr.str.starts_with(kAfter2038) && !rr.isError()) {
                ++refusals;
                r.cmd({"DEL", argv[1]});
                m.cmd({"DEL", argv[1]});
                history.push_back({i, {"DEL", argv[1]}, "(reset after the refusal)", ""});
                continue;
            }
            if (sameReply(argv[0], rr, mr)) continue;
            if (close) {  // see expiryTooCloseToCompare: start the key over on both sides
                ++too_close;
                r.cmd({"DEL", argv[1]});
                m.cmd({"DEL", argv[1]});
                history.push_back({i, {"DEL", argv[1]}, "(reset: GT/LT within memcached's expiry resolution)", ""});
                continue;
            }
            ++mismatches;
            // The commands on the keys of this one since the start, so the sequence can be replayed.
            std::vector<std::string> keys(argv.begin() + (argv.size() > 1 ? 1 : 0), argv.end());
            std::vector<std::string> lines;
            for (const auto& h : history) {
                bool touches = false;
                for (size_t j = 1; j < h.argv.size() && !touches; ++j)
                    touches = std::find(keys.begin(), keys.end(), h.argv[j]) != keys.end();
                if (touches) lines.push_back(cat("  #", h.index, " ", argvText(h.argv), "\n      redis: ", h.redis, "\n      laminar->memcached: ", h.mc, "\n"));
            }
            std::string seq;
            for (size_t j = lines.size() > 30 ? lines.size() - 30 : 0; j < lines.size(); ++j) seq += lines[j];
            ADD_FAILURE() << "command #" << i << " " << argvText(argv) << "\n  redis-server:        " << showE(rr)
                          << "\n  laminar->memcached:  " << showE(mr) << "\nEarlier commands on these keys:\n"
                          << seq;
            // Start the keys over on both sides, to find more than the first mismatch.
            for (size_t j = 1; j < argv.size(); ++j) {
                r.cmd({"DEL", argv[j]});
                m.cmd({"DEL", argv[j]});
            }
            if (mismatches >= 15) break;
        }
        // Final state of every key on both sides. (SCAN has tests of its own below.)
        for (int k = 0; k < 8; ++k) {
            std::string key = cat("k", k);
            EXPECT_EQ(showE(m.cmd({"GET", key})), showE(r.cmd({"GET", key}))) << key;
            auto rt = r.cmd({"TTL", key}), mt = m.cmd({"TTL", key});
            EXPECT_TRUE(sameReply("TTL", rt, mt)) << key << " ttl redis " << showE(rt) << " / memcached " << showE(mt);
        }
        std::printf("[ seed %llu ] %zu commands, %d after-2038 refusals, %d GT/LT too close to compare, %d mismatches\n",
                    static_cast<unsigned long long>(seed), commands, refusals, too_close, mismatches);
    }
}

TEST_F(MemcachedDifferential, RandomStringCommandsAnswerAsRedisServerDoes) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client r(redis_.port()), m(lam.port());
    differential(r, m, {1, 2, 3, 20261126}, 2000);
}

// The same through memcached's binary protocol (libmemcached's other code path: cas, add, touch
// and their "not stored" answers differ there).
TEST_F(MemcachedDifferential, RandomStringCommandsOverTheBinaryProtocol) {
    Laminar lam(memcachedOnlyConfig({mc_.port()}, false, true));
    Client r(redis_.port()), m(lam.port());
    differential(r, m, {41}, 1500);
}

// Keys spread over two memcached servers (consistent hashing): MGET/MSET/DEL/EXISTS span both, and
// TTL asks the meta protocol on the server that holds the key.
TEST_F(MemcachedDifferential, RandomStringCommandsOverTwoServers) {
    MemcachedServer second;
    Laminar lam(memcachedOnlyConfig({mc_.port(), second.port()}));
    Client r(redis_.port()), m(lam.port());
    differential(r, m, {42}, 1500);
    // Both servers got keys.
    MemcachedClient a(mc_.port()), b(second.port());
    int on_a = 0, on_b = 0;
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(show(m.cmd({"SET", cat("spread:", i), "x"})), "+OK");
        on_a += a.get(cat("spread:", i)).has_value();
        on_b += b.get(cat("spread:", i)).has_value();
    }
    EXPECT_EQ(on_a + on_b, 20);
    EXPECT_GT(on_a, 0);
    EXPECT_GT(on_b, 0);
}

// Found by the random sequences above, kept as fixed ones: a key whose time to live is over 30
// days (memcached then takes an absolute unix time) must keep it, and its value, through the
// commands that rewrite the item with the time it has left: SET ... KEEPTTL, and INCR/DECR where
// memcached's own unsigned counter cannot be used (negative values, a decrement losing a digit).
// Beyond 30 days each rewrite re-sends the expiry as a unix time on memcached's clock, read in the
// same round trip as the time left, so forty rewrites leave it where the first write put it.
TEST_F(MemcachedDifferential, ATtlOver30DaysSurvivesKeepTtlAndSignedCounters) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client r(redis_.port()), m(lam.port());
    std::vector<std::vector<std::vector<std::string>>> sequences = {
        {{"SET", "a", "-1", "EX", "3000000"}, {"INCR", "a"}, {"GET", "a"}, {"TTL", "a"}},
        {{"SET", "b", "5", "EX", "3000000"}, {"DECRBY", "b", "10"}, {"GET", "b"}, {"TTL", "b"}},
        {{"SET", "c", "10", "EX", "3000000"}, {"DECR", "c"}, {"GET", "c"}, {"TTL", "c"}},
        {{"SET", "d", "v", "EX", "3000000"}, {"SET", "d", "w", "KEEPTTL"}, {"GET", "d"}, {"TTL", "d"}},
        {{"SET", "e", "v", "EXAT", std::to_string(nowMs() / 1000 + 100LL * 24 * 3600)}, {"SET", "e", "w", "KEEPTTL", "GET"}, {"GET", "e"}, {"TTL", "e"}},
        // The latest expiry memcached can hold (2038-01-19T03:14:07Z) survives a rewrite too.
        {{"SET", "i", "-5", "EXAT", "2147483647"}, {"DECR", "i"}, {"GET", "i"}, {"TTL", "i"}},
        {{"SET", "j", "v", "PXAT", "2147483647000"}, {"SET", "j", "w", "KEEPTTL"}, {"GET", "j"}, {"TTL", "j"}},
        // Just under 30 days: memcached's relative seconds. The same commands work.
        {{"SET", "f", "-1", "EX", "2000000"}, {"INCR", "f"}, {"SET", "f", "x", "KEEPTTL"}, {"GET", "f"}, {"TTL", "f"}},
    };
    // Many rewrites of a key with a TTL over 30 days must not move its expiry either (each one
    // re-sends the remaining time as a unix time).
    std::vector<std::vector<std::string>> many = {{"SET", "g", "-1", "EX", "3000000"}};
    for (int i = 0; i < 40; ++i) many.push_back({"DECR", "g"});
    for (int i = 0; i < 10; ++i) many.push_back({"SET", "h", cat("v", i), "KEEPTTL"});
    many.insert(many.begin() + 1, {"SET", "h", "v", "EXAT", std::to_string(nowMs() / 1000 + 200LL * 24 * 3600)});
    many.push_back({"GET", "g"});
    many.push_back({"TTL", "g"});
    many.push_back({"GET", "h"});
    many.push_back({"TTL", "h"});
    sequences.push_back(many);
    for (const auto& seq : sequences) {
        std::string trace;
        bool same = true;
        for (const auto& argv : seq) {
            auto rr = r.cmd(argv), mr = m.cmd(argv);
            bool ok = sameReply(argv[0], rr, mr);
            same = same && ok;
            if (seq.size() <= 10 || !ok || &argv == &seq.front() || &argv == &seq[1])  // long ones: what differs
                trace += cat("\n  ", argvText(argv), "\n    redis-server:       ", showE(rr), "\n    laminar->memcached: ", showE(mr),
                             ok ? "" : "   <-- differs");
        }
        EXPECT_TRUE(same) << "sequence:" << trace;
    }
    // Rewrites spread over a few seconds of memcached's clock must not push the expiry later
    // either: the remaining time memcached reports (whole seconds, read up to a second high beyond 30
    // days) must not be carried into the next unix time as if it were exact.
    ASSERT_EQ(show(r.cmd({"SET", "drift", "-1", "EX", "3000000"})), "+OK");
    ASSERT_EQ(show(m.cmd({"SET", "drift", "-1", "EX", "3000000"})), "+OK");
    for (int i = 0; i < 12; ++i) {
        EXPECT_EQ(show(m.cmd({"DECR", "drift"})), show(r.cmd({"DECR", "drift"})));
        std::this_thread::sleep_for(350ms);  // pacing, so the rewrites span several memcached clock ticks
    }
    auto rt = r.cmd({"TTL", "drift"}), mt = m.cmd({"TTL", "drift"});
    EXPECT_TRUE(sameReply("TTL", rt, mt)) << "after 12 DECRs over 4 s: redis-server " << show(rt) << " / laminar->memcached " << show(mt);
}

// DUMP and RESTORE carry keys between a redis side and a memcached side (dual_lookup warm,
// dual_write sync): a payload from either side restores on the other to the same value and TTL.
TEST_F(MemcachedDifferential, DumpAndRestoreInteroperateWithRedisServer) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client r(redis_.port()), m(lam.port());
    const std::vector<std::string> values = {"", "0", "-1", "123", "007", "12345678901", "9223372036854775807", "-9223372036854775808",
                                             "9223372036854775808", " 1", std::string(5000, 'a'), std::string("\0\xff\r\nbin", 7),
                                             std::string(100, 'x') + "tail"};
    for (size_t i = 0; i < values.size(); ++i) {
        SCOPED_TRACE(cat("value #", i, " ", brief(values[i])));
        const std::string key = cat("d", i);
        // The payloads' bytes are not compared: a DUMP payload is opaque, and redis-server encodes
        // small integers ("123") as RDB integers and compresses long strings with LZF where
        // laminar writes the plain string; each side restores the other's.
        ASSERT_EQ(show(r.cmd({"SET", key, values[i]})), "+OK");
        ASSERT_EQ(show(m.cmd({"SET", key, values[i]})), "+OK");
        auto rd = r.cmd({"DUMP", key}), md = m.cmd({"DUMP", key});
        ASSERT_EQ(rd.type, REDIS_REPLY_STRING);
        ASSERT_EQ(md.type, REDIS_REPLY_STRING) << showE(md);
        // redis -> memcached
        ASSERT_EQ(show(m.cmd({"DEL", key})), ":1");
        EXPECT_EQ(show(m.cmd({"RESTORE", key, "300000", rd.str})), "+OK");
        EXPECT_TRUE(show(m.cmd({"GET", key})) == "$" + values[i]);
        auto t = m.cmd({"TTL", key});
        EXPECT_TRUE(t.integer >= 299 && t.integer <= 300) << show(t);
        EXPECT_EQ(show(m.cmd({"RESTORE", key, "0", rd.str})), "-BUSYKEY Target key name already exists.");
        // memcached -> redis
        ASSERT_EQ(show(r.cmd({"DEL", key})), ":1");
        EXPECT_EQ(show(r.cmd({"RESTORE", key, "0", md.str})), "+OK");
        EXPECT_TRUE(show(r.cmd({"GET", key})) == "$" + values[i]);
    }
    EXPECT_EQ(show(m.cmd({"DUMP", "none"})), "(nil)");
    EXPECT_EQ(show(m.cmd({"RESTORE", "x", "0", "garbage"})), show(r.cmd({"RESTORE", "x", "0", "garbage"})));
    r.cmd({"HSET", "h", "f", "v"});
    auto hash = m.cmd({"RESTORE", "h", "0", r.cmd({"DUMP", "h"}).str});
    EXPECT_TRUE(hash.isError() && hash.str.find("memcached stores strings only, this is a hash value") != std::string::npos) << showE(hash);
}

// ================================================================== refusals

class MemcachedRefusals : public ::testing::Test {
protected:
    MemcachedServer mc_;
};

using MemcachedScan = MemcachedRefusals;

TEST_F(MemcachedRefusals, CommandsMemcachedCannotAnswerNameTheCommandAndTheBackend) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "s", "v"})), "+OK");
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"HSET", "h", "f", "v"}, {"LPUSH", "l", "a"}, {"KEYS", "*"}, {"SADD", "s2", "m"}, {"ZADD", "z", "1", "a"}, {"RENAME", "s", "t"}}) {
        auto r = c.cmd(argv);
        std::string lower = argv[0];
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        EXPECT_TRUE(r.isError()) << argvText(argv) << " " << showE(r);
        EXPECT_NE(r.str.find("'" + lower + "'"), std::string::npos) << r.str;
        EXPECT_NE(r.str.find("memcached backend 'mc'"), std::string::npos) << r.str;
    }
    EXPECT_EQ(show(c.cmd({"HSET", "h", "f", "v"})),
              "-ERR laminar: 'hset' is not supported by memcached backend 'mc' (memcached stores plain strings; see the memcached "
              "command table in docs/backends.md)");

    // Transactions and databases need a connection of their own, which memcached has not.
    auto multi = c.cmd({"MULTI"});
    EXPECT_TRUE(multi.isError()) << showE(multi);
    EXPECT_NE(multi.str.find("'multi'"), std::string::npos) << multi.str;
    EXPECT_NE(multi.str.find("memcached backend 'mc'"), std::string::npos) << multi.str;
    EXPECT_EQ(show(c.cmd({"SET", "after-multi", "x"})), "+OK") << "the refused MULTI left no transaction open";
    EXPECT_EQ(show(c.cmd({"GET", "after-multi"})), "$x");
    auto select = c.cmd({"SELECT", "1"});
    EXPECT_TRUE(select.isError()) << showE(select);
    EXPECT_NE(select.str.find("'select'"), std::string::npos) << select.str;
    EXPECT_NE(select.str.find("memcached backend 'mc'"), std::string::npos) << select.str;
    EXPECT_EQ(show(c.cmd({"SELECT", "0"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "s"})), "$v");
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
}

TEST_F(MemcachedRefusals, KeysMemcachedCannotHoldAreRefusedWithTheKeyHashHint) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client c(lam.port());
    const std::string long_key(251, 'k'), ok_key(250, 'k');
    for (const auto& key : {long_key, std::string("has space"), std::string("new\nline"), std::string("tab\tkey"), std::string("")}) {
        for (const auto& argv : std::vector<std::vector<std::string>>{{"SET", key, "v"}, {"GET", key}, {"INCR", key}, {"MGET", "fine", key}}) {
            auto r = c.cmd(argv);
            EXPECT_TRUE(r.isError()) << argvText(argv) << " " << showE(r);
            EXPECT_NE(r.str.find("memcached backend 'mc' cannot store this key"), std::string::npos) << r.str;
            EXPECT_NE(r.str.find("key_hash: true"), std::string::npos) << r.str;
        }
    }
    EXPECT_NE(c.cmd({"SET", long_key, "v"}).str.find("longer than 250 bytes"), std::string::npos);
    EXPECT_NE(c.cmd({"SET", "has space", "v"}).str.find("space or control character"), std::string::npos);
    EXPECT_EQ(show(c.cmd({"EXISTS", "fine"})), ":0") << "a refused MGET/SET wrote nothing";
    // 250 bytes is memcached's limit, and fine.
    EXPECT_EQ(show(c.cmd({"SET", ok_key, "v250"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", ok_key})), "$v250");
    EXPECT_EQ(MemcachedClient(mc_.port()).get(ok_key).value_or("(miss)"), "v250");
}

TEST_F(MemcachedRefusals, WithKeyHashSuchKeysAreStoredUnderADigestAndReadBack) {
    Laminar lam(memcachedOnlyConfig(mc_.port(), true));
    Client c(lam.port());
    MemcachedClient direct(mc_.port());
    const std::string long_key = std::string(300, 'x') + ":tail", spaced = "has space", binary("bin\0\r\nkey", 9);
    for (const auto& key : {long_key, spaced, binary, std::string("")}) {
        SCOPED_TRACE(esc(key));
        EXPECT_EQ(show(c.cmd({"SET", key, "value of " + key})), "+OK");
        EXPECT_TRUE(show(c.cmd({"GET", key})) == "$value of " + key);
        EXPECT_EQ(show(c.cmd({"INCR", key})), "-ERR value is not an integer or out of range");
        EXPECT_EQ(show(c.cmd({"EXISTS", key})), ":1");
        EXPECT_EQ(show(c.cmd({"EXPIRE", key, "300"})), ":1");
        auto ttl = c.cmd({"TTL", key});
        EXPECT_TRUE(ttl.integer >= 298 && ttl.integer <= 300) << showE(ttl);
        // Stored under laminar's digest, which memcached accepts.
        auto digest = backend::memcached::Translator::storageKey(key, true);
        EXPECT_TRUE(digest.starts_with("laminar:")) << digest;
        EXPECT_TRUE(direct.get(digest).value_or("(miss)") == "value of " + key) << digest;
    }
    // Distinct long keys get distinct digests.
    const std::string other = std::string(300, 'x') + ":liat";
    EXPECT_EQ(show(c.cmd({"SET", other, "other"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MGET", long_key, other, "plain"})), cat("[$value of ", long_key, ", $other, (nil)]"));
    // Keys memcached can hold are stored as themselves.
    EXPECT_EQ(show(c.cmd({"SET", "plain", "p"})), "+OK");
    EXPECT_EQ(direct.get("plain").value_or("(miss)"), "p");
    EXPECT_EQ(show(c.cmd({"DEL", spaced, long_key, "plain", "none"})), ":3");
    EXPECT_EQ(show(c.cmd({"GET", spaced})), "(nil)");
}

// SCAN walks every key of every server once, by its Redis name (memcached's metadump escapes
// ':' '#' '%' ...), and leaves out the keys key_hash stored under a digest.
TEST_F(MemcachedScan, ListsEveryKeyOnceOnEveryServerByItsRedisName) {
    MemcachedServer second;
    Laminar lam(memcachedOnlyConfig({mc_.port(), second.port()}, true));
    Client c(lam.port());
    std::vector<std::string> expected;
    for (int i = 0; i < 60; ++i) {
        std::string key = cat("user:", i, i % 3 == 0 ? "#2026-11-26" : "", i % 5 == 0 ? "%41+x" : "");
        EXPECT_EQ(show(c.cmd({"SET", key, "v"})), "+OK");
        expected.push_back(key);
    }
    EXPECT_EQ(show(c.cmd({"SET", "with space", "digest"})), "+OK");  // key_hash: not listed
    EXPECT_EQ(show(c.cmd({"SET", "gone", "g", "EX", "100"})), "+OK");
    EXPECT_EQ(show(c.cmd({"DEL", "gone"})), ":1");
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(joined(scanAll(c, {"COUNT", "7"})), joined(expected));
    std::vector<std::string> hashes;
    for (const auto& k : expected)
        if (k.find('#') != std::string::npos) hashes.push_back(k);
    EXPECT_EQ(joined(scanAll(c, {"MATCH", "*#*"})), joined(hashes));
    EXPECT_EQ(joined(scanAll(c, {"TYPE", "hash"})), "");
    EXPECT_EQ(show(c.cmd({"SCAN", "12345678"})), "-ERR invalid cursor");
}

// Redis's SCAN guarantee: a key that exists from the start to the end of a full walk is returned.
// Rounds of reads, writes, deletes and expiry changes (which move items between memcached's LRUs),
// then a full SCAN against what EXISTS says of each key.
TEST_F(MemcachedScan, ReturnsEveryKeyThatExistsThroughoutTheWalk) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client c(lam.port());
    std::mt19937_64 rng(5);
    auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
    int bad = 0;
    for (int round = 0; round < 30 && bad < 3; ++round) {
        std::vector<std::vector<std::string>> cmds;
        for (int i = 0; i < 150; ++i) {
            std::string key = cat("s", pick(12));
            switch (pick(5)) {
                case 0: cmds.push_back({"SET", key, cat("v", i), "EX", "1000"}); break;
                case 1: cmds.push_back({"GET", key}); break;
                case 2: cmds.push_back({"DEL", key}); break;
                case 3: cmds.push_back({"EXPIRE", key, "2000"}); break;
                default: cmds.push_back({"INCR", cat(key, ":n")});
            }
        }
        pipeline(c, cmds);
        std::vector<std::string> present;
        for (int k = 0; k < 12; ++k)
            for (const auto& key : {cat("s", k), cat("s", k, ":n")})
                if (show(c.cmd({"EXISTS", key})) == ":1") present.push_back(key);
        std::sort(present.begin(), present.end());
        auto listed = scanAll(c, {"COUNT", "3"});
        if (joined(listed) != joined(present)) {
            ++bad;
            ADD_FAILURE() << "round " << round << ": SCAN listed [" << joined(listed) << "]\n  but these keys exist: [" << joined(present) << "]";
        }
    }
}

TEST_F(MemcachedRefusals, AValueOverMaxValueGetsAClearErrorAndTheConnectionKeepsWorking) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client c(lam.port());
    const std::string over(1024 * 1024 + 1, 'v');
    auto r = c.cmd({"SET", "big", over});
    EXPECT_TRUE(r.isError()) << showE(r).substr(0, 200);
    EXPECT_NE(r.str.find("1048577 bytes"), std::string::npos) << r.str;
    EXPECT_NE(r.str.find("memcached backend 'mc'"), std::string::npos) << r.str;
    EXPECT_NE(r.str.find("item size limit"), std::string::npos) << r.str;
    EXPECT_EQ(show(c.cmd({"GET", "big"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
    for (const auto& argv : std::vector<std::vector<std::string>>{{"SETEX", "big", "100", over}, {"MSET", "a", "1", "big", over},
                                                                  {"GETSET", "big", over}, {"SETNX", "big", over}}) {
        auto e = c.cmd(argv);
        EXPECT_TRUE(e.isError()) << argv[0];
        EXPECT_NE(e.str.find("item size limit"), std::string::npos) << argv[0] << ": " << e.str;
    }
    EXPECT_EQ(show(c.cmd({"EXISTS", "a", "big"})), ":0") << "a refused MSET wrote nothing";

    // Exactly max_value: memcached's own limit (-I 1m) counts its item header too, so memcached
    // itself refuses; the client still gets a clear error, not a dropped connection.
    const std::string at_limit(1024 * 1024, 'v');
    auto at = c.cmd({"SET", "big", at_limit});
    EXPECT_TRUE(at.type == REDIS_REPLY_STATUS || (at.isError() && at.str.find("item size limit") != std::string::npos)) << showE(at).substr(0, 200);
    // Comfortably under the limit: stored and read back whole.
    const std::string under(1000 * 1000, 'u');
    EXPECT_EQ(show(c.cmd({"SET", "big", under})), "+OK");
    auto back = c.cmd({"GET", "big"});
    EXPECT_EQ(back.str.size(), under.size());
    EXPECT_TRUE(back.str == under);
    // APPEND past the limit is refused and leaves the value as it was.
    auto app = c.cmd({"APPEND", "big", std::string(100 * 1000, 'a')});
    EXPECT_TRUE(app.isError()) << showE(app);
    EXPECT_NE(app.str.find("item size limit"), std::string::npos) << app.str;
    EXPECT_EQ(show(c.cmd({"STRLEN", "big"})), ":1000000");
    EXPECT_EQ(show(c.cmd({"SET", "small", "s"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "small"})), "$s");
}

// ================================================================== a dead backend

// With several servers the canary writes through each, so a server that is gone fails it, and the
// reason names that server, whichever server holds the backend's base key.
TEST(MemcachedCanary, WritesThroughEveryServerAndNamesTheOneThatFails) {
    MemcachedServer a, b;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\ncanary: {every: 300ms, ttl: 5s}\nbackends:\n",
                    mcBackend({a.port(), b.port()}), "routes:\n  - name: default\n    strategy: {type: proxy, target: mc}\n"));
    Client c(lam.port());
    auto status = [&] { return show(c.cmd({"LAMINAR", "STATUS"})); };
    for (MemcachedServer* gone : {&a, &b}) {
        ASSERT_TRUE(waitFor([&] { return status().find("canary ok") != std::string::npos; }, 10s)) << status();
        gone->kill();
        EXPECT_TRUE(waitFor([&] { return status().find(cat("canary failing: server 127.0.0.1:", gone->port(), ": SET: ")) != std::string::npos; }, 10s))
            << status();
        gone->restart();
    }
    EXPECT_TRUE(waitFor([&] { return status().find("canary ok") != std::string::npos; }, 10s)) << status();
}

class MemcachedDown : public ::testing::Test {
protected:
    MemcachedServer mc_;
    RedisServer redis_;
};

TEST_F(MemcachedDown, AKilledMemcachedFailsFastOnlyItsRouteAndTrafficResumesAfterRestart) {
    Laminar lam(mixedConfig(mc_.port(), redis_.port(), route("cache", "mc:*", "strategy: {type: proxy, target: mc}")));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "mc:1", "a"})), "+OK");
    EXPECT_EQ(MemcachedClient(mc_.port()).get("mc:1").value_or("(miss)"), "a");

    mc_.kill();
    for (const auto& argv : std::vector<std::vector<std::string>>{{"GET", "mc:1"}, {"SET", "mc:2", "b"}, {"INCR", "mc:n"}, {"TTL", "mc:1"},
                                                                  {"MGET", "mc:1", "mc:2"}}) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.cmd(argv);
        auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_TRUE(r.str.starts_with("ERR laminar: backend 'mc' unavailable: ")) << argvText(argv) << ": " << showE(r);
        EXPECT_LT(took, 2s) << argvText(argv) << " took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
    }
    // Other routes keep working.
    EXPECT_EQ(show(c.cmd({"SET", "other", "o"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "other"})), "$o");
    EXPECT_EQ(show(Client(redis_.port()).cmd({"GET", "other"})), "$o");
    // Fresh clients too.
    Client c2(lam.port());
    EXPECT_TRUE(c2.cmd({"GET", "mc:1"}).str.starts_with("ERR laminar: backend 'mc' unavailable: "));

    mc_.restart();  // same port, empty
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"SET", "mc:2", "b"})) == "+OK"; }, 10s)) << show(c.cmd({"SET", "mc:2", "b"}));
    EXPECT_EQ(show(c.cmd({"GET", "mc:2"})), "$b");
    EXPECT_EQ(show(c.cmd({"GET", "mc:1"})), "(nil)") << "the restarted memcached is empty";
    EXPECT_EQ(show(c.cmd({"INCR", "mc:n"})), ":1");
    EXPECT_EQ(show(c.cmd({"TTL", "mc:2"})), ":-1") << "the meta-protocol connection (TTL) reconnects too";
    EXPECT_TRUE(waitFor([&] { return show(c2.cmd({"GET", "mc:2"})) == "$b"; }, 10s));
    EXPECT_EQ(MemcachedClient(mc_.port()).get("mc:2").value_or("(miss)"), "b");
}

TEST_F(MemcachedDown, AStoppedMemcachedTimesOutWithoutHangingAndRecoversOnResume) {
    Laminar lam(mixedConfig(mc_.port(), redis_.port(), route("cache", "mc:*", "strategy: {type: proxy, target: mc}")));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "mc:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"TTL", "mc:1"})), ":-1");
    mc_.pause();
    for (const auto& argv : std::vector<std::vector<std::string>>{{"GET", "mc:1"}, {"TTL", "mc:1"}}) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.cmd(argv);
        auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_TRUE(r.str.starts_with("ERR laminar: backend 'mc' unavailable: ")) << argvText(argv) << ": " << showE(r);
        EXPECT_LT(took, 3s) << argvText(argv) << " took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                            << " ms with timeout: 500ms";
    }
    EXPECT_EQ(show(c.cmd({"SET", "other", "o"})), "+OK");
    mc_.resume();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"GET", "mc:1"})) == "$a"; }, 10s)) << show(c.cmd({"GET", "mc:1"}));
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"TTL", "mc:1"})) == ":-1"; }, 10s)) << show(c.cmd({"TTL", "mc:1"}));
    EXPECT_EQ(show(c.cmd({"SET", "mc:2", "b"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "mc:2"})), "$b");
}

// memcached restarted while laminar sent it nothing: the connections laminar holds (libmemcached's
// and the meta-protocol one) are dead without laminar having seen it. As with a redis backend, the
// first commands may fail; then everything works again, counters and TTLs included.
TEST_F(MemcachedDown, AMemcachedRestartedWhileIdleServesAgain) {
    Laminar lam(mixedConfig(mc_.port(), redis_.port(), route("cache", "mc:*", "strategy: {type: proxy, target: mc}")));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "mc:1", "a"})), "+OK");
    EXPECT_EQ(show(c.cmd({"TTL", "mc:1"})), ":-1");  // opens the meta-protocol connection too
    mc_.restart();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"SET", "mc:1", "b"})) == "+OK"; }, 10s));
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"TTL", "mc:1"})) == ":-1"; }, 10s));
    EXPECT_EQ(show(c.cmd({"GET", "mc:1"})), "$b");
    EXPECT_EQ(show(c.cmd({"INCRBY", "mc:n", "-5"})), ":-5");
    EXPECT_EQ(show(c.cmd({"DECR", "mc:n"})), ":-6");
    EXPECT_EQ(show(c.cmd({"EXPIRE", "mc:n", "300"})), ":1");
    auto ttl = c.cmd({"TTL", "mc:n"});
    EXPECT_TRUE(ttl.integer >= 299 && ttl.integer <= 300) << show(ttl);
}

// ================================================================== pipelining and concurrency

class MemcachedLoad : public ::testing::Test {
protected:
    RedisServer redis_;
    MemcachedServer mc_;
};

// One client, 1000 commands written at once: laminar hands them to memcached in batches (runs of
// GETs in one mget, runs of plain SETs in one write), and every reply must still be what
// redis-server answers to the same pipeline, in order. Three rounds on fresh keys, as a batch's
// boundaries fall where the timing puts them.
TEST_F(MemcachedLoad, APipelineOf1000MixedCommandsAnswersInOrderAsRedisServerDoes) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    Client r(redis_.port()), m(lam.port());
    for (uint64_t seed : {7, 8, 9}) {
        SCOPED_TRACE(cat("round ", seed));
        std::mt19937_64 rng(seed);
        auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
        std::vector<std::vector<std::string>> cmds;
        for (int i = 0; i < 1000; ++i) {
            std::string key = cat("p", seed, ":", pick(4));
            switch (pick(6)) {
                case 0: cmds.push_back({"SET", key, pick(4) == 0 ? cat("text", i) : std::to_string(static_cast<long long>(pick(2000)) - 1000)}); break;
                case 1: case 2: cmds.push_back({"INCR", key}); break;
                case 3: cmds.push_back({"INCRBY", key, std::to_string(static_cast<long long>(pick(200)) - 100)}); break;
                default: cmds.push_back({"GET", key});
            }
        }
        auto expected = pipeline(r, cmds);
        auto got = pipeline(m, cmds);
        ASSERT_EQ(got.size(), expected.size());
        int diffs = 0;
        for (size_t i = 0; i < cmds.size() && diffs < 5; ++i)
            if (show(got[i]) != show(expected[i])) {
                ++diffs;
                std::string before;  // the commands on this key just before
                for (size_t j = i > 12 ? i - 12 : 0; j < i; ++j)
                    if (cmds[j][1] == cmds[i][1]) before += cat("\n    #", j, " ", argvText(cmds[j]), " -> redis ", showE(expected[j]), " / laminar->memcached ", showE(got[j]));
                ADD_FAILURE() << "#" << i << " " << argvText(cmds[i]) << ": redis " << showE(expected[i]) << " / laminar->memcached "
                              << showE(got[i]) << "\n  earlier on this key:" << before;
            }
        for (int k = 0; k < 4; ++k)
            EXPECT_EQ(show(m.cmd({"GET", cat("p", seed, ":", k)})), show(r.cmd({"GET", cat("p", seed, ":", k)})));
    }
    // Runs of plain SETs read back at once: each GET must see the SET just before it.
    std::vector<std::vector<std::string>> cmds;
    for (int i = 0; i < 200; ++i) {
        cmds.push_back({"SET", "q:a", cat("a", i)});
        cmds.push_back({"SET", "q:b", cat("b", i)});
        cmds.push_back({"GET", "q:a"});
        cmds.push_back({"GET", "q:b"});
        cmds.push_back({"INCR", "q:n"});
    }
    auto expected = pipeline(r, cmds);
    auto got = pipeline(m, cmds);
    ASSERT_EQ(got.size(), expected.size());
    int diffs = 0;
    for (size_t i = 0; i < cmds.size() && diffs < 5; ++i)
        if (show(got[i]) != show(expected[i])) {
            ++diffs;
            ADD_FAILURE() << "#" << i << " " << argvText(cmds[i]) << " (after " << argvText(cmds[i - 2]) << ", " << argvText(cmds[i - 1])
                          << "): redis " << showE(expected[i]) << " / laminar->memcached " << showE(got[i]);
        }
}

TEST_F(MemcachedLoad, TwentyConcurrentClientsOnTheirOwnKeysGetCorrectResults) {
    Laminar lam(memcachedOnlyConfig(mc_.port()));
    constexpr int kClients = 20, kRounds = 100;
    std::atomic<int> wrong{0};
    std::mutex mu;
    std::vector<std::string> first_wrong;
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
        threads.emplace_back([&, t] {
            Client c(lam.port());
            auto note = [&](const std::string& what) {
                ++wrong;
                std::lock_guard lock(mu);
                if (first_wrong.size() < 5) first_wrong.push_back(what);
            };
            for (int i = 0; i < kRounds; i += 10) {
                std::vector<std::vector<std::string>> cmds;
                for (int j = i; j < i + 10; ++j) {
                    cmds.push_back({"INCR", cat("c", t, ":n")});
                    cmds.push_back({"APPEND", cat("c", t, ":s"), "xy"});
                    cmds.push_back({"SET", cat("c", t, ":v"), cat(t, "-", j)});
                    cmds.push_back({"SET", cat("c", t, ":w"), cat("w", j)});  // a run of plain SETs...
                    cmds.push_back({"GET", cat("c", t, ":v")});               // ...read back at once
                    cmds.push_back({"GET", cat("c", t, ":w")});
                    cmds.push_back({"DECRBY", cat("c", t, ":d"), "3"});
                }
                auto replies = pipeline(c, cmds);
                constexpr size_t kPer = 7;
                for (int j = i; j < i + 10; ++j) {
                    size_t b = static_cast<size_t>(j - i) * kPer;
                    if (replies.size() < b + kPer) {
                        note(cat("client ", t, ": missing replies"));
                        return;
                    }
                    if (show(replies[b]) != cat(":", j + 1)) note(cat("client ", t, " INCR #", j, ": ", show(replies[b])));
                    if (show(replies[b + 1]) != cat(":", 2 * (j + 1))) note(cat("client ", t, " APPEND #", j, ": ", show(replies[b + 1])));
                    if (show(replies[b + 2]) != "+OK") note(cat("client ", t, " SET #", j, ": ", show(replies[b + 2])));
                    if (show(replies[b + 3]) != "+OK") note(cat("client ", t, " SET #", j, ": ", show(replies[b + 3])));
                    if (show(replies[b + 4]) != cat("$", t, "-", j)) note(cat("client ", t, " GET #", j, ": ", show(replies[b + 4]), " after SET ", t, "-", j));
                    if (show(replies[b + 5]) != cat("$w", j)) note(cat("client ", t, " GET #", j, ": ", show(replies[b + 5]), " after SET w", j));
                    if (show(replies[b + 6]) != cat(":", -3 * (j + 1))) note(cat("client ", t, " DECRBY #", j, ": ", show(replies[b + 6])));
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    std::string examples;
    for (const auto& w : first_wrong) examples += "\n  " + w;
    EXPECT_EQ(wrong.load(), 0) << examples;
    MemcachedClient direct(mc_.port());
    for (int t = 0; t < kClients; ++t) {
        EXPECT_EQ(direct.get(cat("c", t, ":n")).value_or("(miss)"), std::to_string(kRounds)) << t;
        std::string appended;
        for (int i = 0; i < kRounds; ++i) appended += "xy";
        EXPECT_EQ(direct.get(cat("c", t, ":s")).value_or("(miss)"), appended) << t;
        EXPECT_EQ(direct.get(cat("c", t, ":d")).value_or("(miss)"), std::to_string(-3 * kRounds)) << t;
        EXPECT_EQ(direct.get(cat("c", t, ":v")).value_or("(miss)"), cat(t, "-", kRounds - 1)) << t;
        EXPECT_EQ(direct.get(cat("c", t, ":w")).value_or("(miss)"), cat("w", kRounds - 1)) << t;
    }
}

// ================================================================== strategies with a memcached side

class MemcachedStrategies : public ::testing::Test {
protected:
    void start(const std::string& routes) { lam_ = std::make_unique<Laminar>(mixedConfig(mc_.port(), redis_.port(), routes)); }
    int port() const { return lam_->port(); }

    MemcachedServer mc_;
    RedisServer redis_;
    std::unique_ptr<Laminar> lam_;
};

// Memcached -> Redis, the lazy way: redis first, memcached second, writes to redis, and every key
// found only on memcached warmed into redis with its time to live.
TEST_F(MemcachedStrategies, DualLookupReadsThroughFromMemcachedAndWarmsRedisWithTheTtl) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: redis, second: mc, writes: first, warm: true}"));
    MemcachedClient direct(mc_.port());
    Client c(port()), rd(redis_.port());
    const long long far = nowMs() / 1000 + 60LL * 24 * 3600;  // memcached: a unix time (over 30 days)
    const std::string binary("b\0\r\n\xff", 5);
    ASSERT_TRUE(direct.set("profile:plain", "from-mc"));
    ASSERT_TRUE(direct.set("profile:ttl", "with-ttl", 500));
    ASSERT_TRUE(direct.set("profile:far", "far", far));
    ASSERT_TRUE(direct.set("profile:bin", binary, 800));
    ASSERT_TRUE(direct.set("profile:num", "41"));
    ASSERT_TRUE(direct.set("profile:long", std::string(5000, 'z') + "end"));
    ASSERT_TRUE(direct.set("profile:both", "stale-on-mc"));
    rd.cmd({"SET", "profile:both", "fresh-on-redis"});
    {
        // And keys written into memcached through laminar itself (a proxy to memcached), with
        // Redis-style expiry.
        Laminar seed(memcachedOnlyConfig(mc_.port()));
        Client s(seed.port());
        EXPECT_EQ(show(s.cmd({"SET", "profile:via-ex", "ex", "EX", "300"})), "+OK");
        EXPECT_EQ(show(s.cmd({"SET", "profile:via-pxat", "pxat", "PXAT", std::to_string(nowMs() + 40LL * 24 * 3600 * 1000)})), "+OK");
        EXPECT_EQ(show(s.cmd({"SET", "profile:via-none", "none"})), "+OK");
    }
    std::vector<std::string> seeded = {"profile:plain", "profile:ttl", "profile:far", "profile:bin", "profile:long",
                                       "profile:via-ex", "profile:via-pxat", "profile:via-none"};

    EXPECT_EQ(show(c.cmd({"GET", "profile:plain"})), "$from-mc");
    EXPECT_EQ(show(c.cmd({"GET", "profile:ttl"})), "$with-ttl");
    EXPECT_EQ(show(c.cmd({"GET", "profile:far"})), "$far");
    EXPECT_EQ(showE(c.cmd({"GET", "profile:bin"})), "$" + esc(binary));
    EXPECT_EQ(show(c.cmd({"STRLEN", "profile:long"})), ":5003");
    EXPECT_EQ(show(c.cmd({"MGET", "profile:via-ex", "profile:via-pxat", "profile:via-none", "profile:missing"})), "[$ex, $pxat, $none, (nil)]");
    EXPECT_EQ(show(c.cmd({"GET", "profile:both"})), "$fresh-on-redis") << "first wins when it has the key";
    EXPECT_EQ(show(c.cmd({"GET", "profile:missing"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"TYPE", "profile:plain"})), "+string");

    // Warmed into redis: value and TTL (memcached's whole seconds, within 2 s).
    auto d = waitNoDiff([&] { return diffSides(mc_.port(), redis_.port(), seeded); }, 5s);
    EXPECT_TRUE(d.empty()) << "warm copies:\n" << firstLines(d);
    EXPECT_EQ(pttl(rd, "profile:plain"), -1);
    EXPECT_GT(pttl(rd, "profile:ttl"), 497'000);
    EXPECT_LE(pttl(rd, "profile:ttl"), 500'000);
    EXPECT_GT(pttl(rd, "profile:far"), 60LL * 24 * 3600 * 1000 - 5000);
    EXPECT_GT(pttl(rd, "profile:via-ex"), 297'000);
    EXPECT_EQ(show(rd.cmd({"GET", "profile:both"})), "$fresh-on-redis") << "warm never overwrites first";
    EXPECT_EQ(direct.get("profile:both").value_or("(miss)"), "stale-on-mc");

    // Writes go to redis only; one that builds on a value only memcached has starts from it.
    EXPECT_EQ(show(c.cmd({"INCR", "profile:num"})), ":42");
    EXPECT_EQ(show(rd.cmd({"GET", "profile:num"})), "$42");
    EXPECT_EQ(direct.get("profile:num").value_or("(miss)"), "41");
    EXPECT_EQ(show(c.cmd({"SET", "profile:new", "n"})), "+OK");
    EXPECT_EQ(show(rd.cmd({"GET", "profile:new"})), "$n");
    EXPECT_FALSE(direct.get("profile:new").has_value());
    // Now served by redis even when memcached changes.
    ASSERT_TRUE(direct.set("profile:plain", "changed-on-mc"));
    EXPECT_EQ(show(c.cmd({"GET", "profile:plain"})), "$from-mc");
    // DEL removes both copies, so nothing comes back through the fallback.
    EXPECT_EQ(show(c.cmd({"DEL", "profile:plain", "profile:ttl"})), ":2");
    EXPECT_TRUE(waitFor([&] { return !direct.get("profile:plain") && !direct.get("profile:ttl"); }, 2s));
    EXPECT_EQ(show(c.cmd({"GET", "profile:plain"})), "(nil)");
    EXPECT_EQ(show(rd.cmd({"EXISTS", "profile:plain", "profile:ttl"})), ":0");
}

// Redis -> Memcached, the lazy way: memcached first, redis second, warm into memcached.
TEST_F(MemcachedStrategies, DualLookupWarmsMemcachedFromRedis) {
    start(route("profiles", "profile:*", "strategy: {type: dual_lookup, first: mc, second: redis, writes: first, warm: true}"));
    MemcachedClient direct(mc_.port());
    Client c(port()), rd(redis_.port());
    rd.cmd({"SET", "profile:s", "string-value", "EX", "400"});
    rd.cmd({"SET", "profile:n", "12345"});  // DUMP: an integer encoding
    rd.cmd({"SET", "profile:z", std::string(3000, 'a')});  // DUMP: LZF-compressed
    rd.cmd({"HSET", "profile:h", "f", "v"});  // memcached cannot hold it
    EXPECT_EQ(show(c.cmd({"GET", "profile:s"})), "$string-value");
    EXPECT_EQ(show(c.cmd({"GET", "profile:n"})), "$12345");
    EXPECT_EQ(c.cmd({"GET", "profile:z"}).str, std::string(3000, 'a'));
    auto d = waitNoDiff([&] { return diffSides(mc_.port(), redis_.port(), {"profile:s", "profile:n", "profile:z"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(c.cmd({"INCR", "profile:n"})), ":12346");
    EXPECT_EQ(direct.get("profile:n").value_or("(miss)"), "12346");
    EXPECT_EQ(show(rd.cmd({"GET", "profile:n"})), "$12345");
    // A hash (which memcached cannot hold) is not read through: first's refusal is an error, not a
    // miss, and reaches the client naming the command and the memcached backend.
    auto h = c.cmd({"HGET", "profile:h", "f"});
    EXPECT_TRUE(h.isError()) << showE(h);
    EXPECT_TRUE(h.str.starts_with("ERR laminar: 'hget' is not supported by memcached backend 'mc'")) << h.str;
}

// Memcached -> Redis with dual_write (primary memcached), and Redis -> Memcached (primary redis):
// whatever the writes, both sides end equal, TTLs included.
TEST_F(MemcachedStrategies, DualWriteBothDirectionsLeavesBothSidesEqual) {
    start(route("orders", "order:*", "strategy: {type: dual_write, primary: mc, secondary: redis}") +
          route("cache", "cache:*", "strategy: {type: dual_write, primary: mc, secondary: redis, mode: command, ack: both}") +
          route("rorders", "rorder:*", "strategy: {type: dual_write, primary: redis, secondary: mc}"));
    MemcachedClient direct(mc_.port());
    Client c(port()), rd(redis_.port());
    for (const std::string p : {"order:", "cache:", "rorder:"}) {
        SCOPED_TRACE(p);
        rd.cmd({"SET", p + "stale", "only-on-redis"});
        direct.set(p + "stale", "only-on-mc");
        ASSERT_TRUE(direct.set(p + "views", "41"));  // what a migration starts from: old has data
        rd.cmd({"SET", p + "views", "41"});
        EXPECT_EQ(show(c.cmd({"SET", p + "1", "a"})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", p + "ttl", "t", "EX", "500"})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", p + "far", "f", "EXAT", std::to_string(nowMs() / 1000 + 90LL * 24 * 3600)})), "+OK");
        EXPECT_EQ(show(c.cmd({"SETEX", p + "setex", "700", "s"})), "+OK");
        EXPECT_EQ(show(c.cmd({"INCR", p + "views"})), ":42");
        EXPECT_EQ(show(c.cmd({"INCRBY", p + "n", "-5"})), ":-5");
        EXPECT_EQ(show(c.cmd({"DECR", p + "n"})), ":-6");
        EXPECT_EQ(show(c.cmd({"APPEND", p + "s", "hello"})), ":5");
        EXPECT_EQ(show(c.cmd({"APPEND", p + "s", " world"})), ":11");
        EXPECT_EQ(show(c.cmd({"MSET", p + "m1", "1", p + "m2", std::string("\0bin\r\n", 6)})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", p + "big", std::string(4000, 'q')})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", p + "gone", "g"})), "+OK");
        EXPECT_EQ(show(c.cmd({"DEL", p + "gone"})), ":1");
        EXPECT_EQ(show(c.cmd({"GETDEL", p + "m1"})), "$1");
        EXPECT_EQ(show(c.cmd({"EXPIRE", p + "1", "1000"})), ":1");
        EXPECT_EQ(show(c.cmd({"PERSIST", p + "setex"})), ":1");
        EXPECT_EQ(show(c.cmd({"GETEX", p + "s", "PX", "900000"})), "$hello world");
        // A delete of a key the primary does not have still removes the secondary's copy.
        c.cmd({"DEL", p + "stale"});
    }
    // Reads come from the primary.
    EXPECT_EQ(show(c.cmd({"GET", "order:1"})), "$a");
    std::vector<std::string> keys;
    for (const std::string p : {"order:", "cache:", "rorder:"})
        for (const char* k : {"1", "ttl", "far", "setex", "views", "n", "s", "m1", "m2", "big", "gone", "stale"}) keys.push_back(p + k);
    auto d = waitNoDiff([&] { return diffSides(mc_.port(), redis_.port(), keys); }, 10s);
    EXPECT_TRUE(d.empty()) << firstLines(d, 20);
    EXPECT_EQ(direct.get("rorder:views").value_or("(miss)"), "42");
    EXPECT_EQ(show(rd.cmd({"GET", "order:views"})), "$42");
    EXPECT_GT(pttl(rd, "order:ttl"), 495'000);
    EXPECT_EQ(pttl(rd, "order:setex"), -1);
    EXPECT_GT(direct.ttl("rorder:ttl"), 495);
    EXPECT_EQ(direct.ttl("rorder:setex"), -1);
    auto r = laminarRoute(c, {"SET", "order:1", "x"});
    EXPECT_EQ(r["writes"], "mc,redis");
    EXPECT_EQ(laminarRoute(c, {"GET", "rorder:1"})["reads"], "redis");
}

// Redis -> Memcached with a value memcached cannot hold: the client gets redis's reply; the copy
// to memcached fails and is counted, never seen by the client.
TEST_F(MemcachedStrategies, DualWriteToMemcachedOfANonStringCountsASyncFailure) {
    start(route("rorders", "rorder:*", "strategy: {type: dual_write, primary: redis, secondary: mc}"));
    Client c(port());
    EXPECT_EQ(show(c.cmd({"HSET", "rorder:h", "f", "v"})), ":1");
    EXPECT_EQ(show(c.cmd({"HGET", "rorder:h", "f"})), "$v");
    EXPECT_TRUE(waitFor([&] { return laminarStatus(c).find("sync_failures=") != std::string::npos; }, 20s)) << laminarStatus(c);
    EXPECT_FALSE(MemcachedClient(mc_.port()).get("rorder:h").has_value());
    EXPECT_EQ(show(c.cmd({"SET", "rorder:s", "fine"})), "+OK");
    EXPECT_TRUE(waitFor([&] { return MemcachedClient(mc_.port()).get("rorder:s").value_or("") == "fine"; }, 5s));
}

TEST_F(MemcachedStrategies, TimedRolloverFromMemcachedToRedis) {
    const std::string key_date = R"y('#(\d{4}-\d{2}-\d{2})$')y";
    start(route("stats", "stats:*", cat("strategy: {type: timed_rollover, cutoff: 2000-01-01, key_date: ", key_date, ", before: mc, after: redis}")) +
          route("fstats", "fstats:*", cat("strategy: {type: timed_rollover, cutoff: 2999-01-01, key_date: ", key_date, ", before: mc, after: redis}")));
    MemcachedClient direct(mc_.port());
    Client c(port()), rd(redis_.port());
    // Decoys on the other side: the reply says which side was read.
    ASSERT_TRUE(direct.set("stats:a#1999-12-31", "a-on-mc"));
    rd.cmd({"SET", "stats:a#1999-12-31", "a-decoy-on-redis"});
    rd.cmd({"SET", "stats:b#2000-01-02", "b-on-redis"});
    ASSERT_TRUE(direct.set("stats:b#2000-01-02", "b-decoy-on-mc"));
    EXPECT_EQ(show(c.cmd({"GET", "stats:a#1999-12-31"})), "$a-on-mc");
    EXPECT_EQ(show(c.cmd({"GET", "stats:b#2000-01-02"})), "$b-on-redis");
    EXPECT_EQ(show(c.cmd({"MGET", "stats:a#1999-12-31", "stats:b#2000-01-02"})), "[$a-on-mc, $b-on-redis]");
    EXPECT_EQ(laminarRoute(c, {"GET", "stats:a#1999-12-31"})["reads"], "mc");
    // Past the cutoff every write goes to redis.
    EXPECT_EQ(show(c.cmd({"INCR", "stats:hits#2000-01-05"})), ":1");
    EXPECT_EQ(show(rd.cmd({"GET", "stats:hits#2000-01-05"})), "$1");
    EXPECT_FALSE(direct.get("stats:hits#2000-01-05").has_value());
    // DEL goes to both sides.
    EXPECT_EQ(show(c.cmd({"DEL", "stats:a#1999-12-31"})), ":1");
    EXPECT_FALSE(direct.get("stats:a#1999-12-31").has_value());
    EXPECT_TRUE(waitFor([&] { return show(rd.cmd({"EXISTS", "stats:a#1999-12-31"})) == ":0"; }, 2s));

    // Before the cutoff (far future): writes go to memcached, and read back from there.
    EXPECT_EQ(show(c.cmd({"SET", "fstats:x#2020-01-01", "x", "EX", "600"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCRBY", "fstats:hits#2020-01-01", "5"})), ":5");
    EXPECT_EQ(direct.get("fstats:x#2020-01-01").value_or("(miss)"), "x");
    EXPECT_GT(direct.ttl("fstats:x#2020-01-01"), 595);
    EXPECT_EQ(direct.get("fstats:hits#2020-01-01").value_or("(miss)"), "5");
    EXPECT_EQ(show(rd.cmd({"EXISTS", "fstats:x#2020-01-01", "fstats:hits#2020-01-01"})), ":0");
    EXPECT_EQ(show(c.cmd({"GET", "fstats:x#2020-01-01"})), "$x");
    auto ttl = c.cmd({"TTL", "fstats:x#2020-01-01"});
    EXPECT_TRUE(ttl.integer > 595 && ttl.integer <= 600) << show(ttl);
}

TEST_F(MemcachedStrategies, MigrationPhasesFromMemcachedToRedis) {
    auto mig = [](const std::string& name, const std::string& glob, const std::string& phase) {
        return route(name, glob, cat("migration: {from: mc, to: redis, phase: ", phase, "}"));
    };
    start(mig("p1", "p1:*", "old_only") + mig("p2", "p2:*", "dual_write_read_old") + mig("p3", "p3:*", "dual_write_read_new") +
          mig("p4", "p4:*", "new_only"));
    MemcachedClient direct(mc_.port());
    Client c(port()), rd(redis_.port());
    for (int p = 1; p <= 4; ++p) {
        std::string k = cat("p", p, ":");
        EXPECT_EQ(show(c.cmd({"SET", k + "s", "v", "EX", "300"})), "+OK") << p;
        EXPECT_EQ(show(c.cmd({"INCR", k + "n"})), ":1") << p;
        EXPECT_EQ(show(c.cmd({"APPEND", k + "a", "xyz"})), ":3") << p;
    }
    // old_only: memcached only.
    EXPECT_EQ(direct.get("p1:s").value_or("(miss)"), "v");
    EXPECT_EQ(show(rd.cmd({"EXISTS", "p1:s", "p1:n", "p1:a"})), ":0");
    // dual_write_read_old / dual_write_read_new: both sides, equal.
    std::vector<std::string> both = {"p2:s", "p2:n", "p2:a", "p3:s", "p3:n", "p3:a"};
    auto d = waitNoDiff([&] { return diffSides(mc_.port(), redis_.port(), both); }, 10s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(rd.cmd({"GET", "p2:n"})), "$1");
    EXPECT_EQ(direct.get("p3:a").value_or("(miss)"), "xyz");
    // new_only: redis only.
    EXPECT_EQ(show(rd.cmd({"GET", "p4:s"})), "$v");
    EXPECT_FALSE(direct.get("p4:s").has_value());
    // Where each phase reads from: a value only on one side.
    ASSERT_TRUE(direct.set("p2:only", "mc"));
    rd.cmd({"SET", "p3:only", "redis"});
    EXPECT_EQ(show(c.cmd({"GET", "p2:only"})), "$mc");
    EXPECT_EQ(show(c.cmd({"GET", "p3:only"})), "$redis");
    EXPECT_EQ(laminarRoute(c, {"SET", "p2:x", "1"})["writes"], "mc,redis");
    EXPECT_EQ(laminarRoute(c, {"GET", "p3:x"})["reads"], "redis");

    // A step forward with a reload: p2 goes from reading memcached to reading redis (forced: no
    // backfill ran, and p2:only is on memcached alone).
    lam_->rewriteConfig(mixedConfig(mc_.port(), redis_.port(),
                                    mig("p1", "p1:*", "old_only") + mig("p2", "p2:*", "dual_write_read_new") + "    force: true\n" +
                                        mig("p3", "p3:*", "dual_write_read_new") + mig("p4", "p4:*", "new_only")));
    ASSERT_TRUE(sighupAndWait(*lam_, c));
    EXPECT_TRUE(waitFor([&] { return laminarRoute(c, {"GET", "p2:x"})["reads"] == "redis"; }, 5s));
    EXPECT_EQ(show(c.cmd({"INCR", "p2:n"})), ":2");
    EXPECT_TRUE(waitFor([&] { return direct.get("p2:n").value_or("") == "2"; }, 5s)) << "copied back to memcached";
}

}  // namespace
}  // namespace laminar::test

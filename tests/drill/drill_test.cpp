// SPDX-License-Identifier: Apache-2.0
// The migration drill: a live migration rehearsed end to end, with real servers and a writer
// that never stops while the route moves.
//
//   old holds keys of every type (some with TTLs) -> route old_only -> dual_write_read_old +
//   LAMINAR BACKFILL RECONCILE -> dual_write_read_new -> writer stops -> old and new compared key by key
//   (type, value, TTL within 2 s) -> route walks back to old_only -> everything the writer
//   did reads back exactly through laminar.
//
// It prints `diverged: N, lost: M` and fails unless both are 0. The same drill runs for
// Memcached -> Redis with string keys. Runnable by hand: tests/drill/run.sh (DRILL_SECONDS sets
// how long the writer runs in each phase; default 1).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

std::chrono::milliseconds phaseTime() {
    const char* s = std::getenv("DRILL_SECONDS");
    double secs = s ? std::atof(s) : 1.0;
    return std::chrono::milliseconds(static_cast<long long>(std::clamp(secs, 0.2, 600.0) * 1000));
}

// What the writer did, so it can be read back exactly: counters' values, lists' lengths, sets'
// members, hashes' field counts, strings' last values, deleted keys.
struct Ledger {
    std::mutex mu;
    std::map<std::string, long long> counters;
    std::map<std::string, long long> list_lengths;
    std::map<std::string, std::set<std::string>> sets;
    std::map<std::string, long long> hash_counts;
    std::map<std::string, std::string> strings;  // "" = deleted
    uint64_t ops = 0, errors = 0;
};

// The writer: increments, appends to lists, adds to sets and hashes, overwrites, expires and
// deletes, through laminar, on a small key space so keys are hit again and again.
class Writer {
public:
    Writer(int port, bool strings_only) : port_(port), strings_only_(strings_only) {}
    void start() {
        thread_ = std::thread([this] { run(); });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    Ledger& ledger() { return ledger_; }

private:
    void run() {
        Client c(port_);
        std::mt19937_64 rng(42);
        auto pick = [&](int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
        while (!stop_) {
            int kind = strings_only_ ? pick(4) : pick(8);
            std::string n = std::to_string(pick(50));
            Reply r;
            std::lock_guard lock(ledger_.mu);
            ++ledger_.ops;
            switch (kind) {
                case 0: {
                    r = c.cmd({"INCR", "w:counter:" + n});
                    if (r.type == REDIS_REPLY_INTEGER) ledger_.counters["w:counter:" + n] = r.integer;
                    else ++ledger_.errors;
                    break;
                }
                case 1: {
                    std::string v = "v" + std::to_string(ledger_.ops);
                    r = c.cmd({"SET", "w:str:" + n, v});
                    if (show(r) == "+OK") ledger_.strings["w:str:" + n] = v;
                    else ++ledger_.errors;
                    break;
                }
                case 2: {
                    r = c.cmd({"DEL", "w:str:" + n});
                    if (r.type == REDIS_REPLY_INTEGER) ledger_.strings["w:str:" + n] = "";
                    else ++ledger_.errors;
                    break;
                }
                case 3: {
                    // Expiry far enough not to end during the drill: the TTL travels with the key.
                    r = c.cmd({"EXPIRE", "w:str:" + n, "600"});
                    if (r.type != REDIS_REPLY_INTEGER) ++ledger_.errors;
                    break;
                }
                case 4: {
                    r = c.cmd({"RPUSH", "w:list:" + n, "x"});
                    if (r.type == REDIS_REPLY_INTEGER) ledger_.list_lengths["w:list:" + n] = r.integer;
                    else ++ledger_.errors;
                    break;
                }
                case 5: {
                    std::string m = "m" + std::to_string(pick(20));
                    r = c.cmd({"SADD", "w:set:" + n, m});
                    if (r.type == REDIS_REPLY_INTEGER) ledger_.sets["w:set:" + n].insert(m);
                    else ++ledger_.errors;
                    break;
                }
                default: {
                    r = c.cmd({"HINCRBY", "w:hash:" + n, "f", "1"});
                    if (r.type == REDIS_REPLY_INTEGER) ledger_.hash_counts["w:hash:" + n] = r.integer;
                    else ++ledger_.errors;
                    break;
                }
            }
        }
    }

    int port_;
    bool strings_only_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    Ledger ledger_;
};

// Everything the writer did, read back through laminar; one line per thing that is not there.
std::vector<std::string> lost(Client& c, Ledger& l) {
    std::vector<std::string> out;
    std::lock_guard lock(l.mu);
    for (const auto& [k, v] : l.counters)
        if (auto got = show(c.cmd({"GET", k})); got != cat("$", v)) out.push_back(cat(k, ": counter ", v, ", reads ", got));
    for (const auto& [k, v] : l.strings) {
        auto got = show(c.cmd({"GET", k}));
        if (got != (v.empty() ? "(nil)" : "$" + v)) out.push_back(cat(k, ": last written ", v.empty() ? "(deleted)" : v, ", reads ", got));
    }
    for (const auto& [k, n] : l.list_lengths)
        if (auto got = show(c.cmd({"LLEN", k})); got != cat(":", n)) out.push_back(cat(k, ": list of ", n, ", reads ", got));
    for (const auto& [k, members] : l.sets)
        if (auto got = show(c.cmd({"SCARD", k})); got != cat(":", members.size())) out.push_back(cat(k, ": set of ", members.size(), ", reads ", got));
    for (const auto& [k, n] : l.hash_counts)
        if (auto got = show(c.cmd({"HGET", k, "f"})); got != cat("$", n)) out.push_back(cat(k, ": hash field ", n, ", reads ", got));
    return out;
}

std::string migrationConfig(const std::string& old_backend, int new_port, const std::string& phase) {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nbackends:\n", old_backend, "  new: {type: redis, address: 127.0.0.1:",
               new_port, "}\nroutes:\n  - name: app\n    match: {keys: ['w:*', 'pre:*']}\n    migration: {from: old, to: new, phase: ", phase,
               "}\n  - name: default\n    strategy: new\n");
}

class Drill : public ::testing::Test {
protected:
    // Walks the route forward with the writer running, compares, walks back, reads back.
    void walk(const std::string& old_backend, int new_port, bool strings_only,
              const std::function<std::vector<std::string>()>& compare) {
        auto phase = phaseTime();
        Laminar lam(migrationConfig(old_backend, new_port, "old_only"));
        Client admin(lam.port());
        Writer writer(lam.port(), strings_only);
        writer.start();
        auto flip = [&](const std::string& p) {
            lam.rewriteConfig(migrationConfig(old_backend, new_port, p));
            ASSERT_EQ(show(admin.cmd({"LAMINAR", "RELOAD"})), "+OK") << p;
        };
        std::this_thread::sleep_for(phase);
        flip("dual_write_read_old");
        ASSERT_EQ(show(admin.cmd({"LAMINAR", "BACKFILL", "START", "app", "RATE", "20000", "RECONCILE"})), "+OK");
        // Done while the writer keeps writing: the backfill tracks its own keys, not the pair's queue.
        EXPECT_TRUE(waitFor([&] { return show(admin.cmd({"LAMINAR", "BACKFILL", "STATUS", "app"})).find("done:") != std::string::npos; }, 120s))
            << show(admin.cmd({"LAMINAR", "BACKFILL", "STATUS", "app"}));
        std::this_thread::sleep_for(phase);
        flip("dual_write_read_new");
        std::this_thread::sleep_for(phase);
        writer.stop();
        // The sync engine finishes the keys still queued, then both sides must be equal.
        EXPECT_TRUE(waitFor([&] { return laminarStatus(admin).find("sync: 0 keys pending") != std::string::npos; }, 30s));
        auto diverged = waitNoDiff(compare, 10s);
        flip("dual_write_read_old");
        flip("old_only");
        auto missing = lost(admin, writer.ledger());
        std::cout << "drill: " << writer.ledger().ops << " writes (" << writer.ledger().errors << " errors) across the phases; diverged: "
                  << diverged.size() << ", lost: " << missing.size() << "\n";
        EXPECT_TRUE(diverged.empty()) << firstLines(diverged, 20);
        EXPECT_TRUE(missing.empty()) << firstLines(missing, 20);
        EXPECT_EQ(writer.ledger().errors, 0u);
        EXPECT_GT(writer.ledger().ops, 100u);
    }
};

TEST_F(Drill, RedisToRedisEveryTypeDivergesNothingAndLosesNothing) {
    RedisServer old_redis, new_redis;
    {
        Client old(old_redis.port());
        for (int i = 0; i < 2000; ++i) {
            auto k = std::to_string(i);
            old.append({"SET", "pre:str:" + k, "v" + k});
            old.append({"HSET", "pre:hash:" + k, "f", k});
            old.append({"RPUSH", "pre:list:" + k, "a", k});
            old.append({"SADD", "pre:set:" + k, k});
            old.append({"ZADD", "pre:zset:" + k, "1", k});
            old.append({"EXPIRE", "pre:str:" + k, i % 3 == 0 ? "900" : "-1"});
        }
        for (int i = 0; i < 6 * 2000; ++i) old.read();
        old.cmd({"PERSIST", "pre:str:1"});
    }
    walk(cat("  old: {type: redis, address: 127.0.0.1:", old_redis.port(), "}\n"), new_redis.port(), false,
         [&] { return diffAll(old_redis.port(), new_redis.port()); });
}

TEST_F(Drill, MemcachedToRedisStringsDivergeNothingAndLoseNothing) {
    MemcachedServer old_mc;
    RedisServer new_redis;
    {
        MemcachedClient mc(old_mc.port());
        for (int i = 0; i < 2000; ++i) ASSERT_TRUE(mc.set("pre:str:" + std::to_string(i), "v" + std::to_string(i), i % 3 == 0 ? 900 : 0));
    }
    std::string old_backend = cat("  old: {type: memcached, servers: [127.0.0.1:", old_mc.port(), "]}\n");
    // Compared with `laminar verify`, which reads memcached through the same translation.
    std::string cfg_path = cat(::testing::TempDir(), "drill-verify-", ::getpid(), ".yaml");
    {
        std::ofstream(cfg_path) << "backends:\n" << old_backend << cat("  new: {type: redis, address: 127.0.0.1:", new_redis.port(), "}\n")
                                << "routes:\n  - name: default\n    strategy: new\n";
    }
    walk(old_backend, new_redis.port(), true, [&] {
        int status = -1;
        auto out = run(cat("'", LAMINAR_BINARY, "' verify -c '", cfg_path, "' --a old --b new --examples 20 2>&1"), &status);
        std::vector<std::string> diffs;
        if (status != 0) diffs.push_back(out);
        return diffs;
    });
}

}  // namespace
}  // namespace laminar::test

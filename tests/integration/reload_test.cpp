// SPDX-License-Identifier: Apache-2.0
// Reloading the configuration (SIGHUP and LAMINAR RELOAD) with two real backends: a changed route
// takes effect, a bad file is refused and the running configuration stays, restart-only settings
// are reported and ignored, and a pipelining client sees no error and loses nothing while a
// migration route flips its phases 200 times under it.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

class ReloadTest : public ::testing::Test {
protected:
    std::string config(const std::string& target) {
        return twoBackendConfig(old_.port(), new_.port(), route("carts", "cart:*", "strategy: {type: proxy, target: " + target + "}"));
    }
    void SetUp() override {
        lam_ = std::make_unique<Laminar>(config("old"));
        Client o(old_.port()), n(new_.port());
        o.cmd({"SET", "cart:1", "old-value"});
        n.cmd({"SET", "cart:1", "new-value"});
    }
    // 1-based line of the first line of `text` containing `needle`.
    static int lineOf(const std::string& text, const std::string& needle) {
        std::istringstream in(text);
        std::string line;
        for (int n = 1; std::getline(in, line); ++n)
            if (line.find(needle) != std::string::npos) return n;
        return -1;
    }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(ReloadTest, SighupSwitchesATargetAndIncrementsTheGeneration) {
    Client c(lam_->port()), admin(lam_->port());
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$old-value");
    EXPECT_EQ(laminarInfoNumber(c, "config_generation"), 1);
    auto hash1 = laminarInfo(c, "config_hash");

    lam_->rewriteConfig(config("new"));
    ASSERT_TRUE(sighupAndWait(*lam_, admin));
    ASSERT_TRUE(waitGeneration(c, 2)) << lam_->log();
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$new-value");
    EXPECT_EQ(show(c.cmd({"SET", "cart:2", "written-after-reload"})), "+OK");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "cart:2"})), "$written-after-reload");
    EXPECT_EQ(laminarInfoNumber(c, "reloads_ok"), 1);
    EXPECT_EQ(laminarInfoNumber(c, "reloads_failed"), 0);
    EXPECT_NE(laminarInfo(c, "config_hash"), hash1);
    EXPECT_NE(laminarInfo(c, "route_carts"), "") << "INFO laminar lists the routes";
    EXPECT_EQ(laminarInfo(c, "route_carts"), "new");
    EXPECT_NE(lam_->log().find("generation 2"), std::string::npos) << lam_->log();

    lam_->rewriteConfig(config("old"));
    ASSERT_TRUE(sighupAndWait(*lam_, admin));
    ASSERT_TRUE(waitGeneration(c, 3));
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$old-value");
    EXPECT_EQ(laminarInfo(c, "config_hash"), hash1) << "the same file has the same hash";
}

// dual_lookup reads in flight hold the snapshot they started on (a thread-local count, not a
// shared_ptr per read): pipelined misses fall back to second across 40 reloads, each installing a
// new snapshot, and every one answers second's value. Under ASan a snapshot freed too early shows.
TEST(ReloadDualLookup, ReadsFallingBackWhileReloadsReplaceTheSnapshotAllAnswer) {
    RedisServer old_r, new_r;
    constexpr int kKeys = 64;
    {
        Client n(new_r.port());
        for (int i = 0; i < kKeys; ++i) n.cmd({"SET", "dl:" + std::to_string(i), "v" + std::to_string(i)});
    }
    auto config = [&](int generation) {
        // The route's name changes with every file, so every reload builds a new snapshot.
        return twoBackendConfig(old_r.port(), new_r.port(),
                                route("dl" + std::to_string(generation % 2), "dl:*", "strategy: {type: dual_lookup, first: old, second: new}"));
    };
    Laminar lam(config(0));
    std::atomic<bool> stop{false};
    std::atomic<long long> reads{0};
    std::vector<std::string> problems;
    std::thread reader([&] {
        Client c(lam.port(), 10s);
        std::vector<std::vector<std::string>> batch;
        for (int i = 0; i < kKeys; ++i) batch.push_back({"GET", "dl:" + std::to_string(i)});
        while (!stop && problems.size() < 5) {
            auto replies = pipeline(c, batch);
            for (int i = 0; i < kKeys; ++i)
                if (show(replies[static_cast<size_t>(i)]) != "$v" + std::to_string(i))
                    problems.push_back("dl:" + std::to_string(i) + " read " + show(replies[static_cast<size_t>(i)]));
            reads += kKeys;
        }
    });
    Client admin(lam.port(), 10s);
    int done = 0;
    for (int i = 1; i <= 40; ++i) {
        lam.rewriteConfig(config(i));
        if (!sighupAndWait(lam, admin)) break;
        ++done;
        std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(100ms);
    stop = true;
    reader.join();
    EXPECT_EQ(done, 40);
    std::string all;
    for (const auto& p : problems) all += "  " + p + "\n";
    EXPECT_TRUE(problems.empty()) << all;
    EXPECT_GT(reads.load(), 40 * kKeys) << "too little traffic to mean anything";
    EXPECT_GT(laminarInfoNumber(admin, "reloads_ok"), 39);
    EXPECT_TRUE(lam.process().running()) << lam.log();
}

TEST_F(ReloadTest, LaminarReloadSwitchesATargetAndAnswersOk) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$old-value");
    lam_->rewriteConfig(config("new"));
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD"})), "+OK");
    // The answer comes after this client's I/O thread has the new configuration.
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$new-value");
    EXPECT_EQ(laminarInfoNumber(c, "config_generation"), 2);
    EXPECT_EQ(laminarInfoNumber(c, "reloads_ok"), 1);
    // Every other client sees it too.
    Client other(lam_->port());
    ASSERT_TRUE(waitGeneration(other, 2));
    EXPECT_EQ(show(other.cmd({"GET", "cart:1"})), "$new-value");
}

TEST_F(ReloadTest, ABadFileIsRefusedAndTheRunningConfigurationStays) {
    Client c(lam_->port()), admin(lam_->port());
    const std::string good = config("old");
    struct Bad {
        std::string name, text, needle, message;
    };
    std::string unknown_backend = config("nope");
    std::string syntax = good + "  - name: [broken\n";
    std::string unknown_type = twoBackendConfig(old_.port(), new_.port(), route("carts", "cart:*", "strategy: {type: teleport, target: new}"));
    std::string bad_phase = twoBackendConfig(old_.port(), new_.port(), migrationRoute("carts", "cart:*", "sideways"));
    std::vector<Bad> bads = {
        {"unknown backend", unknown_backend, "nope", "routes[0].strategy.target: unknown backend 'nope'"},
        {"YAML syntax error", syntax, "", ""},
        {"unknown strategy type", unknown_type, "teleport", "routes[0].strategy.type: unknown strategy type 'teleport'"},
        {"unknown migration phase", bad_phase, "sideways", "routes[0].migration.phase: must be old_only"},
    };
    long long failed = 0;
    for (const auto& bad : bads) {
        SCOPED_TRACE(bad.name);
        lam_->rewriteConfig(bad.text);
        auto r = c.cmd({"LAMINAR", "RELOAD"});
        ASSERT_TRUE(r.isError()) << show(r);
        EXPECT_EQ(r.str.rfind("ERR laminar: reload failed, the running configuration stays: ", 0), 0u) << r.str;
        if (!bad.needle.empty()) {
            auto where = cat(lam_->configPath(), ":", lineOf(bad.text, bad.needle), ": ");
            EXPECT_NE(r.str.find(where + bad.message), std::string::npos) << "expected '" << where << bad.message << "' in\n" << r.str;
        } else {
            // file:line: message, the line being somewhere in the file.
            auto pos = r.str.find(lam_->configPath() + ":");
            ASSERT_NE(pos, std::string::npos) << r.str;
            auto rest = r.str.substr(pos + lam_->configPath().size() + 1);
            int line = std::atoi(rest.c_str());
            EXPECT_GE(line, lineOf(bad.text, "[broken")) << r.str;
            EXPECT_NE(rest.find(": "), std::string::npos) << r.str;
        }
        ++failed;
        EXPECT_EQ(laminarInfoNumber(c, "reloads_failed"), failed);
        EXPECT_EQ(laminarInfoNumber(c, "config_generation"), 1);
        EXPECT_EQ(laminarInfoNumber(c, "reloads_ok"), 0);
        // The running configuration keeps working.
        EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$old-value");
        EXPECT_EQ(show(c.cmd({"SET", "cart:x", "1"})), "+OK");
        EXPECT_NE(laminarStatus(c).find("last reload: failed: "), std::string::npos) << laminarStatus(c);

        // The same through SIGHUP: logged and counted.
        ASSERT_TRUE(sighupAndWait(*lam_, admin));
        ++failed;
        EXPECT_EQ(laminarInfoNumber(c, "reloads_failed"), failed);
        EXPECT_EQ(laminarInfoNumber(c, "config_generation"), 1);
        EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$old-value");
    }
    EXPECT_NE(lam_->log().find("reload failed, generation 1 hash"), std::string::npos) << lam_->log();
    EXPECT_EQ(show(Client(old_.port()).cmd({"GET", "cart:x"})), "$1");

    // A good file afterwards is taken.
    lam_->rewriteConfig(config("new"));
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD"})), "+OK");
    EXPECT_EQ(laminarInfoNumber(c, "config_generation"), 2);
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$new-value");
    EXPECT_NE(laminarStatus(c).find("last reload: ok"), std::string::npos) << laminarStatus(c);
}

TEST_F(ReloadTest, AChangedListenIsReportedInTheLogAndIgnored) {
    Client c(lam_->port()), admin(lam_->port());
    int other = freePort();
    auto text = config("new");
    auto pos = text.find("listen: 127.0.0.1:{port}");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, std::string("listen: 127.0.0.1:{port}").size(), cat("listen: 127.0.0.1:", other));
    lam_->rewriteConfig(text);
    ASSERT_TRUE(sighupAndWait(*lam_, admin));
    ASSERT_TRUE(waitGeneration(c, 2)) << "the rest of the file is applied";
    EXPECT_EQ(show(c.cmd({"GET", "cart:1"})), "$new-value");
    EXPECT_TRUE(waitFor([&] { return lam_->log().find("restart-only") != std::string::npos; }, 2s)) << lam_->log();
    EXPECT_FALSE(portOpen(other)) << "listen changed without a restart";
    Client again(lam_->port());
    ASSERT_TRUE(again.connected());
    EXPECT_EQ(show(again.cmd({"PING"})), "+PONG");
    EXPECT_EQ(laminarInfoNumber(c, "reloads_failed"), 0);
}

// ------------------------------------------------------------------ the flip barrier, step by step

// One I/O thread, a `flip` migration route. The copy of a key to `new` is held up by taking
// RESTORE away from new's default user (the sync engine retries with backoff), so "the key is
// still being copied the old way" lasts exactly as long as the test wants.
class ReloadFlipBarrier : public ::testing::Test {
protected:
    std::string config(const std::string& phase) {
        return twoBackendConfig(old_.port(), new_.port(), forcedMigrationRoute("flip", "flip:*", phase), 1);
    }
    void holdCopies() { EXPECT_EQ(show(Client(new_.port()).cmd({"ACL", "SETUSER", "default", "-restore"})), "+OK"); }
    void releaseCopies() { EXPECT_EQ(show(Client(new_.port()).cmd({"ACL", "SETUSER", "default", "+restore"})), "+OK"); }

    RedisServer old_, new_;
    Laminar lam_{config("dual_write_read_old")};
};

// The flip from dual_write_read_old to dual_write_read_new must hold the route's reads until
// the keys written under read_old are on new. A plain GET does wait (the control); the GETs an
// MGET is split into must wait too.
TEST_F(ReloadFlipBarrier, MgetAfterAFlipWaitsForTheKeysStillBeingCopied) {
    Client c(lam_.port());
    holdCopies();
    EXPECT_EQ(show(c.cmd({"SET", "flip:a", "va"})), "+OK");  // on old; its copy to new is held
    EXPECT_EQ(show(c.cmd({"SET", "flip:b", "vb"})), "+OK");
    lam_.rewriteConfig(config("dual_write_read_new"));
    ASSERT_EQ(show(c.cmd({"LAMINAR", "RELOAD"})), "+OK");
    ASSERT_TRUE(sendOnly(c, {"MGET", "flip:a", "flip:none"}));
    ASSERT_TRUE(sendOnly(c, {"GET", "flip:b"}));
    std::this_thread::sleep_for(50ms);
    releaseCopies();  // the copies' next retry (100 ms after the first try) gets through
    EXPECT_EQ(show(c.read()), "[$va, (nil)]") << "MGET read new before flip:a was copied there";
    EXPECT_EQ(show(c.read()), "$vb");
    EXPECT_EQ(show(c.cmd({"MGET", "flip:a", "flip:b"})), "[$va, $vb]");
}

// The barrier counts the keys already queued for copying. A write routed under the previous
// configuration whose reply has not come back yet is not queued yet: another client's command
// must not open the barrier for good meanwhile.
TEST_F(ReloadFlipBarrier, AWriteStillInFlightUnderTheOldPhaseKeepsTheBarrierClosed) {
    Client writer(lam_.port()), other(lam_.port());
    holdCopies();
    old_.pause();  // the write below stays in flight on old
    ASSERT_TRUE(sendOnly(writer, {"SET", "flip:k", "written-under-read-old"}));
    std::this_thread::sleep_for(50ms);
    lam_.rewriteConfig(config("dual_write_read_new"));
    ASSERT_EQ(show(other.cmd({"LAMINAR", "RELOAD"})), "+OK");
    ASSERT_TRUE(sendOnly(other, {"GET", "flip:other"}));  // the first command on the route after the flip
    std::this_thread::sleep_for(100ms);
    old_.resume();
    EXPECT_EQ(show(writer.read()), "+OK");
    ASSERT_TRUE(sendOnly(writer, {"GET", "flip:k"}));
    std::this_thread::sleep_for(50ms);
    releaseCopies();
    EXPECT_EQ(show(writer.read()), "$written-under-read-old") << "the client's own write, read back after the flip, is missing";
    EXPECT_EQ(show(other.read()), "(nil)");
    // In the end both sides agree.
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), {"flip:k"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

// ------------------------------------------------------------------ reload under load

// What one pipelining client wrote and what it saw.
struct LoadWriter {
    int id = 0;
    bool mget_prev = false;  // read the previous pipeline's keys back with one MGET (else GETs)
    std::map<std::string, std::string> last;  // every key it wrote -> the last value
    std::vector<std::string> flip_keys, step_keys;
    long long pipelines = 0, commands = 0, errors = 0, mismatches = 0;
    std::vector<std::string> problems;  // the first few
    void problem(const std::string& what) {
        if (problems.size() < 12) problems.push_back(what);
    }
};

std::string flipConfig(int old_port, int new_port, const std::string& flip, const std::string& step) {
    return twoBackendConfig(old_port, new_port, forcedMigrationRoute("flip", "flip:*", flip) + migrationRoute("step", "step:*", step));
}

void runWriter(LoadWriter& w, int port, const std::atomic<bool>& stop) {
    Client c(port, 20s);
    if (!c.connected()) {
        w.errors++;
        w.problem("cannot connect: " + c.error());
        return;
    }
    std::mt19937 rng(static_cast<unsigned>(w.id) * 7919u + 1);
    long long n = 0, seq = 0, flip_ctr = 0, step_ctr = 0;
    std::vector<std::string> prev;
    const std::string pad(24, 'p');
    while (!stop.load()) {
        std::vector<std::vector<std::string>> cmds;
        std::vector<std::string> want;
        auto add = [&](std::vector<std::string> cmd, std::string expect) {
            cmds.push_back(std::move(cmd));
            want.push_back(std::move(expect));
        };
        // Keys the previous pipeline wrote, read back first thing: with plain GETs, or with one
        // MGET (which laminar splits into one GET per key).
        if (!prev.empty() && w.mget_prev) {
            std::vector<std::string> mget = {"MGET"};
            std::string expect = "[";
            for (size_t i = 0; i < prev.size(); ++i) {
                mget.push_back(prev[i]);
                expect += (i ? ", $" : "$") + w.last[prev[i]];
            }
            add(mget, expect + "]");
        } else {
            for (const auto& k : prev) add({"GET", k}, "$" + w.last[k]);
        }
        prev.clear();
        // Keys written in earlier pipelines, possibly under other phases.
        for (int i = 0; i < 8 && !w.flip_keys.empty(); ++i) {
            const auto& k = i % 2 ? w.step_keys[rng() % w.step_keys.size()] : w.flip_keys[rng() % w.flip_keys.size()];
            add({"GET", k}, "$" + w.last[k]);
        }
        for (int j = 0; j < 20; ++j, ++n) {
            bool flip = j < 13;
            auto key = cat(flip ? "flip:" : "step:", w.id, ":", n);
            auto value = cat("v", n, "-", pad);
            add({"SET", key, value}, "+OK");
            add({"GET", key}, "$" + value);
            w.last[key] = value;
            (flip ? w.flip_keys : w.step_keys).push_back(key);
            if (j < 6) prev.push_back(key);
        }
        for (int h = 0; h < 6; ++h) {
            auto key = cat("flip:hot:", w.id, ":", h);
            auto value = cat(++seq);
            add({"SET", key, value}, "+OK");
            w.last[key] = value;
        }
        add({"INCR", cat("flip:ctr:", w.id)}, cat(":", ++flip_ctr));
        add({"INCR", cat("step:ctr:", w.id)}, cat(":", ++step_ctr));
        w.last[cat("flip:ctr:", w.id)] = cat(flip_ctr);
        w.last[cat("step:ctr:", w.id)] = cat(step_ctr);

        auto replies = pipeline(c, cmds);
        w.pipelines++;
        w.commands += static_cast<long long>(cmds.size());
        for (size_t i = 0; i < replies.size(); ++i) {
            auto got = show(replies[i]);
            if (replies[i].isError() || replies[i].type < 0) {
                w.errors++;
                w.problem(cat("pipeline ", w.pipelines, ": ", cmds[i][0], " ", cmds[i].size() > 1 ? cmds[i][1] : "", " -> ", got));
            } else if (got != want[i]) {
                w.mismatches++;
                w.problem(cat("pipeline ", w.pipelines, ": ", cmds[i][0], " ", cmds[i].size() > 1 ? cmds[i][1] : "", " -> ",
                              got.substr(0, 300), " expected ", want[i].substr(0, 300)));
            }
        }
        if (replies.back().type < 0) return;  // the connection is gone
    }
}

// Reads `keys` from `port`: key -> value, "" for a nil. From a redis-server with MGET in batches;
// through laminar (`plain`) with pipelined GETs, so the reads take the plain path.
std::map<std::string, std::string> readAll(int port, const std::vector<std::string>& keys, bool plain = false) {
    Client c(port, 30s);
    std::map<std::string, std::string> out;
    const size_t batch = 500;
    for (size_t i = 0; i < keys.size(); i += batch) {
        std::vector<std::vector<std::string>> cmds;
        if (plain) {
            for (size_t j = i; j < keys.size() && j < i + batch; ++j) cmds.push_back({"GET", keys[j]});
            auto replies = pipeline(c, cmds);
            for (size_t j = 0; j < replies.size(); ++j) out[cmds[j][1]] = replies[j].isNil() ? "" : replies[j].str;
            continue;
        }
        std::vector<std::string> mget = {"MGET"};
        for (size_t j = i; j < keys.size() && j < i + batch; ++j) mget.push_back(keys[j]);
        auto r = c.cmd(mget);
        for (size_t j = 0; j < r.elements.size(); ++j) out[mget[j + 1]] = r.elements[j].isNil() ? "" : r.elements[j].str;
    }
    return out;
}

// Two pipelining clients write and read back while the test flips two migration routes 200 times
// (flip:* between dual_write_read_old and dual_write_read_new, step:* between old_only and
// dual_write_read_old), each reload waited for; then everything is checked.
void reloadUnderLoad(bool mget_prev) {
    RedisServer old_r, new_r;
    Laminar lam(flipConfig(old_r.port(), new_r.port(), "dual_write_read_old", "old_only"));
    std::atomic<bool> stop{false};
    std::vector<LoadWriter> writers(2);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < writers.size(); ++i) {
        writers[i].id = static_cast<int>(i);
        writers[i].mget_prev = mget_prev;
        threads.emplace_back([&, i] { runWriter(writers[i], lam.port(), stop); });
    }

    Client admin(lam.port());
    constexpr int kReloads = 200;
    int done = 0;
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kReloads; ++i) {
        // The flip route walks read_old <-> read_new; the step route old_only <-> read_old. The
        // last reload settles both on dual_write_read_old.
        bool last = i == kReloads - 1;
        std::string flip = last || i % 2 ? "dual_write_read_old" : "dual_write_read_new";
        std::string step = last || (i / 2) % 2 == 0 ? "dual_write_read_old" : "old_only";
        lam.rewriteConfig(flipConfig(old_r.port(), new_r.port(), flip, step));
        if (!sighupAndWait(lam, admin)) {
            ADD_FAILURE() << "reload " << i << " did not happen";
            break;
        }
        ++done;
        std::this_thread::sleep_for(8ms);
        if (std::chrono::steady_clock::now() - started > 40s) {
            ADD_FAILURE() << "stopped after " << done << " reloads: over 40 s";
            break;
        }
    }
    std::this_thread::sleep_for(200ms);  // traffic on the settled phases too
    stop = true;
    for (auto& t : threads) t.join();

    long long keys = 0, pipelines = 0, commands = 0;
    for (const auto& w : writers) keys += static_cast<long long>(w.last.size()), pipelines += w.pipelines, commands += w.commands;
    std::cout << "[ reload under load ] " << done << " reloads in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
              << " ms; " << writers.size() << " clients sent " << pipelines << " pipelines, " << commands << " commands, "
              << keys << " keys\n";
    EXPECT_EQ(done, kReloads);
    EXPECT_EQ(laminarInfoNumber(admin, "reloads_ok"), done);
    EXPECT_EQ(laminarInfoNumber(admin, "reloads_failed"), 0);
    EXPECT_EQ(laminarInfoNumber(admin, "config_generation"), done + 1);
    EXPECT_NE(laminarStatus(admin).find("flip: migration(phase=dual_write_read_old)"), std::string::npos) << laminarStatus(admin);

    std::map<std::string, std::string> last;
    std::vector<std::string> flip_keys, step_keys;
    for (auto& w : writers) {
        SCOPED_TRACE(cat("writer ", w.id, ": ", w.pipelines, " pipelines, ", w.commands, " commands"));
        EXPECT_GT(w.pipelines, 50) << "too little traffic to mean anything";
        std::string problems;
        for (const auto& p : w.problems) problems += "  " + p + "\n";
        EXPECT_EQ(w.errors, 0) << problems;
        EXPECT_EQ(w.mismatches, 0) << problems;
        for (const auto& [k, v] : w.last) {
            last[k] = v;
            (k.rfind("flip:", 0) == 0 ? flip_keys : step_keys).push_back(k);
        }
    }

    // Every written key reads back through laminar with its last value.
    std::vector<std::string> all_keys;
    for (const auto& [k, v] : last) all_keys.push_back(k);
    auto through = readAll(lam.port(), all_keys, true);
    std::vector<std::string> lost;
    for (const auto& [k, v] : last)
        if (through[k] != v) lost.push_back(cat(k, ": laminar has '", through[k], "', last written '", v, "'"));
    EXPECT_TRUE(lost.empty()) << "of " << last.size() << " keys: " << firstLines(lost);

    // The flip route's keys, once the sync engine has drained: identical on both sides, and
    // equal to what was last written.
    std::vector<std::string> diverged, stale;
    auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
        diverged.clear();
        stale.clear();
        auto on_old = readAll(old_r.port(), flip_keys), on_new = readAll(new_r.port(), flip_keys);
        for (const auto& k : flip_keys) {
            if (on_old[k] != on_new[k]) diverged.push_back(cat(k, ": old '", on_old[k], "' new '", on_new[k], "' last written '", last[k], "'"));
            else if (on_old[k] != last[k]) stale.push_back(cat(k, ": both sides '", on_old[k], "', last written '", last[k], "'"));
        }
        if (diverged.empty() || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_TRUE(diverged.empty()) << "of " << flip_keys.size() << " flip keys, old and new differ: " << firstLines(diverged);
    EXPECT_TRUE(stale.empty()) << "of " << flip_keys.size() << " flip keys, both sides lost the last write: " << firstLines(stale);

    // The step route's keys are all on old; new has those written in dual_write_read_old (the
    // others were written in old_only, which copies nothing), never a different value.
    auto on_old = readAll(old_r.port(), step_keys), on_new = readAll(new_r.port(), step_keys);
    std::vector<std::string> bad_step;
    size_t on_new_count = 0;
    for (const auto& k : step_keys) {
        if (on_old[k] != last[k]) bad_step.push_back(cat(k, ": old has '", on_old[k], "', last written '", last[k], "'"));
        if (k.find(":ctr:") == std::string::npos && !on_new[k].empty()) {
            ++on_new_count;
            if (on_new[k] != last[k]) bad_step.push_back(cat(k, ": new has '", on_new[k], "', last written '", last[k], "'"));
        }
    }
    EXPECT_TRUE(bad_step.empty()) << firstLines(bad_step);
    EXPECT_GT(on_new_count, 0u) << "no step key was ever copied to new";
}

// Reads back with plain GET / INCR: every command on a flipped route waits for the flip barrier.
TEST(ReloadUnderLoad, PipeliningClientsSeeNoErrorAndLoseNothingWhilePhasesFlip200Times) { reloadUnderLoad(false); }

// The same, with the keys a pipeline wrote read back by an MGET at the start of the next one:
// MGET is split into one GET per key, and those GETs must wait for the flip barrier too, or they
// read the new primary before the keys written under the old one have been copied there.
TEST(ReloadUnderLoad, MgetOfKeysJustWrittenReadsThemAcrossPhaseFlips) { reloadUnderLoad(true); }

}  // namespace
}  // namespace laminar::test

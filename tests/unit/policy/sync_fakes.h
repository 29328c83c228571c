// SPDX-License-Identifier: Apache-2.0
// Fakes for tests of the key sync engine and the strategies that write through it: an I/O thread
// whose posted work and timers the test runs when it chooses, and whose background connections
// are a FakeDispatch the test answers in the order it picks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fakes.h"  // tests/unit/policy/fakes.h
#include "policy/snapshot.h"
#include "policy/sync_engine.h"

namespace laminar::policy::testing {

class FakeSyncHost final : public SyncHost {
public:
    bool isCurrentThread() const override { return current_thread; }
    void post(std::function<void()> fn) override {
        posted.push_back(std::move(fn));
        if (run_posts_at_once) runPosted();
    }
    void postAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
        timers.push_back({delay, std::move(fn)});
    }
    Dispatch& background() override { return other_background ? *other_background : dispatch; }
    std::shared_ptr<const Snapshot> currentSnapshot() const override { return current; }

    // Runs what was posted, in order (and what that posts in turn).
    void runPosted() {
        while (!posted.empty()) {
            auto fn = std::move(posted.front());
            posted.pop_front();
            fn();
        }
    }
    // Fires the earliest timer; false when none is set.
    bool fireTimer() {
        if (timers.empty()) return false;
        auto fn = std::move(timers.front().fn);
        timers.pop_front();
        fn();
        return true;
    }

    struct Timer {
        std::chrono::milliseconds delay;
        std::function<void()> fn;
    };

    bool current_thread = true;     // markDirty runs inline when true, else it posts

    std::shared_ptr<const Snapshot> current;  // what currentSnapshot() answers
    bool run_posts_at_once = false;
    FakeDispatch dispatch;          // background(): where the engine's DUMP/PTTL/RESTORE/DEL go
    FakeDispatch* other_background = nullptr;  // set: background() is this one (a FakeDispatch of a subclass)
    std::deque<std::function<void()>> posted;
    std::deque<Timer> timers;
    std::vector<std::chrono::milliseconds> delays() const {
        std::vector<std::chrono::milliseconds> out;
        for (const auto& t : timers) out.push_back(t.delay);
        return out;
    }
};

// A snapshot over backends old (0) and new (1), routes `a` -> old and `b` -> new. It serves as the
// Context's Health and as what SyncTask::snapshot keeps alive; its two proxies can stand as a
// task's `from` and `to`.
inline std::shared_ptr<const Snapshot> makeSnapshot(uint64_t generation = 1) {
    return std::make_shared<const Snapshot>(
        config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\n"
                           "routes:\n  - name: a\n    match: {keys: ['a:*']}\n    strategy: old\n"
                           "  - name: b\n    strategy: new\n",
                           "test.yaml"),
        generation);
}

// A DUMP payload as Redis makes it: binary, with CR LF and NUL inside (RDB type, value, RDB
// version, CRC64), so a copy that is not binary-safe shows.
inline std::string dumpPayload(std::string_view value) {
    std::string p("\x00", 1);
    p += static_cast<char>(value.size());
    p += value;
    p += std::string("\x0b\x00\r\n\x9a\x1f\x00\x12\x34\x56", 10);
    return p;
}

inline std::string restoreReplace(std::string_view key, std::string_view ttl, std::string_view payload) {
    return command({"RESTORE", key, ttl, payload, "REPLACE"});
}

constexpr std::string_view kOk = "+OK\r\n";
constexpr std::string_view kNil = "$-1\r\n";

}  // namespace laminar::policy::testing

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <optional>
#include <regex>

#include "policy/strategy.h"

namespace laminar::policy {

// Timed rollover (docs/design.md, "Timed rollover"), for sequential data such as daily stats:
// data dated before `cutoff` lives on `before`, data dated from it on lives on `after`, and no one
// has to flip anything at the cutoff.
//
// Each key has its own cutoff: `cutoff` + (XXH64(key) % `window`), so with a window keys switch
// one by one across it instead of all at once (window 0: every key switches at `cutoff`).
//  1. A read of a key whose date (the first capture group of `key_date`: YYYY-MM-DD, optionally
//     followed by THH:MM:SS[Z], UTC) is before the key's cutoff goes to `before`.
//  2. A read of a key dated at or after the key's cutoff goes to `after`.
//  3. A read of an undated key (no match, a capture that is not a valid date, a key longer than
//     kMaxDatedKey, or a keyless command) goes where `undated` says: `now` (default: where a write
//     of it goes now, so a client reads its own writes), `before` or `after`.
//  4. A write goes to `before` while the clock is before the key's cutoff, to `after` from then on.
//  5. A delete (DEL, UNLINK) goes to both sides, whatever the time, so that a stale copy cannot
//     come back (through a date read from the other side, or when the cutoff is moved back). The
//     client gets the reply of the side the key reads from (what a GET of it would have seen),
//     without waiting for the other side; a failure there is counted as a secondary failure.
//  6. A command with several keys is routed by its first key; when its keys would go to different
//     sides it is refused with an error and nothing is sent.
// Reverse: move the cutoff (data already written after it stays on `after`; copy it back if the
// move crosses written dates).
class TimedRollover final : public Strategy {
public:
    enum class Undated { kNow, kBefore, kAfter };
    using Time = std::chrono::sys_time<std::chrono::milliseconds>;

    // Keys longer than this are not searched for a date (std::regex recurses per character and a
    // client must not be able to exhaust the stack): they are undated.
    static constexpr size_t kMaxDatedKey = 1024;

    TimedRollover(Time cutoff, std::string cutoff_text, std::regex key_date, std::chrono::milliseconds window,
                  Undated undated, std::unique_ptr<Strategy> before, std::unique_ptr<Strategy> after);
    std::string_view type() const override { return "timed_rollover"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    int pinTarget() const override { return before_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    // An undated key under `undated: now` is read from `after` from its cutoff on.
    std::optional<std::chrono::system_clock::time_point> readMovesAt(std::string_view key,
                                                                     std::chrono::system_clock::time_point now) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*before_);
        fn(*after_);
    }

    // "2015-05-13", "2015-05-13T10:00:00" or "2015-05-13T10:00:00Z", UTC. nullopt for anything else.
    static std::optional<Time> parseDate(std::string_view text);

private:
    // Which child a read (write=false) or write of `key` goes to now: false = before, true = after.
    bool sideOf(std::string_view key, bool write, Time now) const;
    // The side of all of the request's keys, or nullopt when they disagree.
    std::optional<bool> side(const Request& req, bool write, Time now) const;
    Time keyCutoff(std::string_view key) const;
    std::optional<Time> keyDate(std::string_view key) const;

    Time cutoff_;
    std::string cutoff_text_;
    std::regex key_date_;
    std::chrono::milliseconds window_;
    Undated undated_;
    std::unique_ptr<Strategy> before_, after_;
};

// timed_rollover {cutoff, key_date, before, after, window: 0s, undated: now|before|after}
std::unique_ptr<Strategy> makeTimedRollover(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace laminar::backend {

// Which of a backend's up/down transitions are written to the log, so that one that flaps (a Redis
// backend pointed at a port that accepts and then fails every connection) writes a line per
// interval, not one per transition. Pure: the caller gives the time, serialises the calls (the
// backend's HealthCell holds a lock) and writes the lines; every transition is counted elsewhere
// all the same (laminar_backend_transitions_total), only the log is damped.
//
//  1. The first transition opens a window of `interval`. The first kBurst transitions of a window
//     are logged at once (`backend 'old' at ... is down: why`, `... is up`): an outage and its
//     recovery are two lines, written when they happen.
//  2. Later transitions in the window are counted, not logged. When the window ends (due(), which
//     the I/O threads call every 250 ms, or the next transition), one line sums them up and states
//     the backend's state now, and a new window opens in which every transition is counted:
//       backend 'old' at ... is flapping: down 17 times, up 17 times in the last 10 s; now down: why
//     So while it keeps changing, one line per interval.
//  3. A window that ends with nothing counted closes: the next transition is logged at once.
// The last line written thus states the backend's current state from at most one interval after
// its last change on: the log never leaves a backend up that is down, or the other way round.
class FlapDamper {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kInterval{10};
    static constexpr int kBurst = 2;

    struct Line {
        bool warn = false;  // a down or flapping line (warn), else an up line (info)
        std::string text;
    };

    explicit FlapDamper(Clock::duration interval = kInterval) : interval_(interval) {}
    // From the next call on (log.flap_interval, changed by a reload). 0: every transition is logged.
    void setInterval(Clock::duration interval) { interval_ = interval; }

    // The backend as a whole went up (or down, because of `why`) at `now`: the line to write now,
    // if any. `subject` names the backend in it: "backend 'old' at 127.0.0.1:6379".
    std::optional<Line> changed(bool up, std::string_view subject, std::string_view why, Clock::time_point now);
    // The line that sums up the transitions counted in a window that has ended by `now`, if any.
    std::optional<Line> due(Clock::time_point now);

private:
    Line summary(Clock::time_point now);

    Clock::duration interval_;
    bool open_ = false;  // a window is open
    Clock::time_point window_start_, last_line_;
    int lines_ = 0;  // written in the window
    int downs_ = 0, ups_ = 0;  // counted, not written, since the last line
    bool up_ = true;
    std::string subject_, why_;
};

}  // namespace laminar::backend

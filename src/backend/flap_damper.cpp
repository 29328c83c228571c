// SPDX-License-Identifier: Apache-2.0
#include "backend/flap_damper.h"

#include <fmt/format.h>

namespace laminar::backend {
namespace {

std::string times(int n) { return n == 1 ? "1 time" : fmt::format("{} times", n); }

// "3.4 s" (to a tenth), "10 s" (whole seconds from 10 on).
std::string seconds(FlapDamper::Clock::duration d) {
    auto tenths = (std::chrono::duration_cast<std::chrono::milliseconds>(d).count() + 50) / 100;
    if (tenths >= 100) return fmt::format("{} s", (tenths + 5) / 10);
    return fmt::format("{}.{} s", tenths / 10, tenths % 10);
}

}  // namespace

std::optional<FlapDamper::Line> FlapDamper::changed(bool up, std::string_view subject, std::string_view why, Clock::time_point now) {
    bool ended = open_ && now - window_start_ >= interval_;
    bool counted = downs_ + ups_ > 0;
    if (ended && !counted) open_ = false;
    up_ = up;
    if (!up) why_ = std::string(why);
    subject_ = std::string(subject);
    if (!open_) {
        open_ = true;
        window_start_ = now;
        lines_ = 0;
    }
    if (ended && counted) {  // the summary was due: this transition joins it
        ++(up ? ups_ : downs_);
        return summary(now);
    }
    if (lines_ < kBurst) {
        ++lines_;
        last_line_ = now;
        if (up) return Line{false, subject_ + " is up"};
        return Line{true, fmt::format("{} is down: {}", subject_, why_)};
    }
    ++(up ? ups_ : downs_);
    return std::nullopt;
}

std::optional<FlapDamper::Line> FlapDamper::due(Clock::time_point now) {
    if (!open_ || now - window_start_ < interval_) return std::nullopt;
    if (downs_ + ups_ == 0) {
        open_ = false;
        return std::nullopt;
    }
    return summary(now);
}

FlapDamper::Line FlapDamper::summary(Clock::time_point now) {
    Line line{true, fmt::format("{} is flapping: down {}, up {} in the last {}; now {}", subject_, times(downs_), times(ups_),
                                seconds(now - last_line_), up_ ? std::string("up") : "down: " + why_)};
    downs_ = ups_ = 0;
    open_ = true;  // a new window, its lines spent: one line per interval while it keeps changing
    window_start_ = now;
    lines_ = kBurst;
    last_line_ = now;
    return line;
}

}  // namespace laminar::backend

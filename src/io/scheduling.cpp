// SPDX-License-Identifier: Apache-2.0
#include "io/scheduling.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace laminar::io {

SchedPolicy SchedGovernor::step(Clock::time_point now, Sample s) {
    if (!started_) {
        started_ = true;
        policy_ = SchedPolicy::kBatch;
        batch_since_ = now;
        openWindow(now, s);
        return policy_;
    }
    if (policy_ == SchedPolicy::kNormal) {
        if (now >= retry_at_) {
            policy_ = SchedPolicy::kBatch;
            batch_since_ = now;
            openWindow(now, s);
        }
        return policy_;
    }
    if (s.slices < window_.slices || s.delay_ns < window_.delay_ns) {  // counters went back: start over
        openWindow(now, s);
        return policy_;
    }
    uint64_t slices = s.slices - window_.slices;
    if (slices < kMinSlices) {
        if (now - window_at_ >= kMaxWindow) openWindow(now, s);  // quiet: nothing to judge
        return policy_;
    }
    auto mean = std::chrono::nanoseconds((s.delay_ns - window_.delay_ns) / slices);
    openWindow(now, s);
    if (mean <= kMaxMeanDelay) return policy_;
    if (now - batch_since_ >= kForgiveAfter) backoff_ = kFirstBackoff;
    policy_ = SchedPolicy::kNormal;
    hold_ = backoff_;
    retry_at_ = now + hold_;
    backoff_ = std::min(backoff_ * 2, std::chrono::seconds(kMaxBackoff));
    ++fallbacks_;
    return policy_;
}

ThreadScheduling::~ThreadScheduling() {
    if (schedstat_fd_ >= 0) ::close(schedstat_fd_);
}

bool ThreadScheduling::set(SchedPolicy p) {
    if (p == current_) return true;
    sched_param param{};
    if (::sched_setscheduler(0, p == SchedPolicy::kBatch ? SCHED_BATCH : SCHED_OTHER, &param) != 0) {
        spdlog::warn("io_scheduling: cannot change this I/O thread's scheduling policy ({}); it stays on the normal one",
                     std::strerror(errno));
        no_policy_ = true;
        return false;
    }
    current_ = p;
    return true;
}

// /proc/thread-self/schedstat: "<ns on cpu> <ns waiting on a runqueue> <timeslices>".
bool ThreadScheduling::readSample(SchedGovernor::Sample& s) {
    if (schedstat_fd_ < 0) {
        schedstat_fd_ = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        if (schedstat_fd_ < 0) return false;
    }
    char buf[128];
    ssize_t n = ::pread(schedstat_fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return false;
    buf[n] = '\0';
    unsigned long long run = 0, delay = 0, slices = 0;
    if (std::sscanf(buf, "%llu %llu %llu", &run, &delay, &slices) != 3) return false;
    s.delay_ns = delay;
    s.slices = slices;
    return true;
}

void ThreadScheduling::update(config::IoScheduling mode, SchedGovernor::Clock::time_point now) {
    if (!started_) {
        started_ = true;
        int policy = ::sched_getscheduler(0);
        if (policy == SCHED_BATCH) current_ = SchedPolicy::kBatch;
        if (policy != SCHED_OTHER && policy != SCHED_BATCH) {  // chrt -r, -f, -i...: the operator's choice stands
            spdlog::info("io_scheduling: this I/O thread was started under scheduling policy {}; io_scheduling leaves it as it is", policy);
            no_policy_ = true;
        }
    }
    if (mode != mode_) {
        mode_ = mode;
        governor_ = SchedGovernor{};  // a mode set anew starts its rule anew
    }
    if (no_policy_) return;
    switch (mode) {
        case config::IoScheduling::kNormal: set(SchedPolicy::kNormal); return;
        case config::IoScheduling::kBatch: set(SchedPolicy::kBatch); return;
        case config::IoScheduling::kAdaptive: break;
    }
    SchedGovernor::Sample sample;
    if (no_schedstat_ || !readSample(sample)) {
        if (!no_schedstat_)
            spdlog::info("io_scheduling: adaptive needs /proc/thread-self/schedstat, which this kernel does not give; "
                         "this I/O thread stays on the normal policy");
        no_schedstat_ = true;
        set(SchedPolicy::kNormal);
        return;
    }
    auto before = governor_.fallbacks();
    set(governor_.step(now, sample));
    if (governor_.fallbacks() == before) return;
    ++fallbacks_;
    spdlog::info("io_scheduling: this I/O thread waited too long for the CPU under SCHED_BATCH; normal policy for {} s",
                 governor_.hold().count());
}

}  // namespace laminar::io

// SPDX-License-Identifier: Apache-2.0
#include "io/write_ahead.h"

namespace laminar::io {
namespace {
std::atomic<WriteAheadLog*> g_log{nullptr};
}  // namespace

namespace detail {
std::atomic<bool> g_ahead_pending{false};

void drainAhead() {
    if (auto* log = g_log.load(std::memory_order_acquire)) log->drainAhead();
}
}  // namespace detail

void setWriteAheadLog(WriteAheadLog* log) {
    g_log.store(log, std::memory_order_release);
    if (!log) clearWriteAhead();
}

void forgetWriteAheadLog(WriteAheadLog* log) {
    if (g_log.compare_exchange_strong(log, nullptr, std::memory_order_acq_rel)) clearWriteAhead();
}

}  // namespace laminar::io

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>

namespace laminar::io {

// A write-ahead barrier: records that must be in the kernel's hands (written to their file, not
// necessarily fsynced) before the bytes they describe leave this process, so that a SIGKILL right
// after a backend got a write cannot lose the record of it. The one log (policy::MigrationState,
// with state_dir) registers itself and calls markWriteAhead() after buffering records; every
// sender of backend bytes calls beforeSend() first. With nothing buffered, beforeSend() is one
// relaxed load; records buffered during an event-loop turn go out in one write before the turn's
// backend writes do.
class WriteAheadLog {
public:
    virtual ~WriteAheadLog() = default;
    // Writes what is buffered, then (and only then) clears the flag markWriteAhead() set.
    virtual void drainAhead() = 0;
};

// Before the I/O threads start, and null again before the log goes away.
void setWriteAheadLog(WriteAheadLog* log);
// The log's destructor: unregisters it if it is the one registered.
void forgetWriteAheadLog(WriteAheadLog* log);

namespace detail {
extern std::atomic<bool> g_ahead_pending;
void drainAhead();
}  // namespace detail

// Called by the log, under its lock, after buffering a record.
inline void markWriteAhead() { detail::g_ahead_pending.store(true, std::memory_order_release); }
inline void clearWriteAhead() { detail::g_ahead_pending.store(false, std::memory_order_release); }

inline void beforeSend() {
    if (detail::g_ahead_pending.load(std::memory_order_acquire)) detail::drainAhead();
}

}  // namespace laminar::io

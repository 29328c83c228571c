// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>

#include "io/buffer.h"

namespace laminar::io {

// Non-blocking socket I/O for the poller-driven data path (client sessions, backend connections).
enum class IoStatus {
    kDone,        // everything was sent / bytes were read
    kWouldBlock,  // the socket is full / empty: wait for the poller's edge
    kClosed,      // the peer closed (read side)
    kError,       // errno says why
};

// Writes out[off..] until it is all sent or the socket is full; advances `off`.
inline IoStatus sendPending(int fd, const std::string& out, size_t& off) {
    while (off < out.size()) {
        ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return IoStatus::kWouldBlock;
        } else {
            return IoStatus::kError;
        }
    }
    return IoStatus::kDone;
}

// One read into the free space of `in` (after making room for `min_free`, or for `total` unread
// bytes when a large request's size is known), of at most `max` bytes. `drained`: the read was
// shorter than the space offered, so the socket is empty now and the next read would only return
// EAGAIN.
inline IoStatus recvSome(int fd, Buffer& in, size_t min_free, size_t total, bool& drained, size_t max = SIZE_MAX) {
    in.reserve(min_free, total);
    size_t want = std::min(in.writable(), max);
    for (;;) {
        ssize_t n = ::recv(fd, in.writePtr(), want, 0);
        if (n > 0) {
            in.commit(static_cast<size_t>(n));
            drained = static_cast<size_t>(n) < want;
            return IoStatus::kDone;
        }
        if (n == 0) return IoStatus::kClosed;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kWouldBlock;
        return IoStatus::kError;
    }
}

}  // namespace laminar::io

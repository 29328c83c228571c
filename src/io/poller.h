// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <sys/epoll.h>

namespace laminar::io {

// Edge-triggered readiness for the data path's sockets, inside the worker's io_context.
//
// Why not Asio's socket operations here: in Boost 1.74 a read started right after a read that
// emptied the socket is first tried speculatively (a wasted recv returning EAGAIN), and
// async_wait re-arms with an epoll_ctl each time. At one request per round trip that is a third
// more syscalls per request than needed. Here every socket is registered once
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and never touched again; the one epoll descriptor is
// waited on through Asio, so timers, posts and the rest of the daemon stay on Asio.
//
//   io_context --(epoll fd readable)--> Poller::poll --> epoll_wait(0) --> Handler::onEvents(ev)
class Poller {
public:
    class Handler {
    public:
        // Called on the worker's thread with the epoll event bits. May remove (even destroy) any
        // handler, itself included.
        virtual void onEvents(uint32_t events) = 0;

    protected:
        ~Handler() = default;
    };

    Poller();
    ~Poller();
    // The io_context whose loop waits on this poller. detach() stops that before the io_context
    // goes away; handlers still alive may then call remove() safely (it does nothing).
    void attach(boost::asio::io_context& ioc);
    void detach();
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    bool add(int fd, Handler* handler);

    // The time this thread's current poll round started: timestamps on the data path (command
    // sent, client active) need no clock read of their own. Before the first round: now.
    // Entry points that run outside a poll round and may send (a posted resume, a new client)
    // call touch() first.
    static std::chrono::steady_clock::time_point loopTime();
    static void touch();
    // Stops events for fd; events of this poll round not yet delivered are dropped.
    void remove(int fd, Handler* handler);

private:
    void arm();
    void poll();

    int epfd_;
    std::optional<boost::asio::posix::stream_descriptor> desc_;
    std::array<epoll_event, 256> events_{};
    int pending_ = 0;  // events of the current round still to deliver: [next_, pending_)
    int next_ = 0;
    bool armed_ = false;
};

}  // namespace laminar::io

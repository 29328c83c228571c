// SPDX-License-Identifier: Apache-2.0
#include "io/poller.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <stdexcept>
#include <system_error>

namespace laminar::io {
namespace asio = boost::asio;

namespace {
thread_local std::chrono::steady_clock::time_point t_loop_time;
}

void Poller::touch() { t_loop_time = std::chrono::steady_clock::now(); }

std::chrono::steady_clock::time_point Poller::loopTime() {
    if (t_loop_time.time_since_epoch().count() == 0) t_loop_time = std::chrono::steady_clock::now();
    return t_loop_time;
}

Poller::Poller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

Poller::~Poller() {
    detach();
    if (epfd_ >= 0) ::close(epfd_);
}

void Poller::attach(asio::io_context& ioc) {
    desc_.emplace(ioc);
    desc_->assign(::dup(epfd_));  // Asio owns (and closes) its own copy
    arm();
}

void Poller::detach() {
    if (!desc_) return;
    boost::system::error_code ec;
    desc_->close(ec);
    desc_.reset();
    if (epfd_ >= 0) ::close(epfd_);
    epfd_ = -1;
}

bool Poller::add(int fd, Handler* handler) {
    if (epfd_ < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = handler;
    return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Poller::remove(int fd, Handler* handler) {
    if (epfd_ < 0) return;
    epoll_event ev{};
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
    for (int i = next_; i < pending_; ++i)
        if (events_[static_cast<size_t>(i)].data.ptr == handler) events_[static_cast<size_t>(i)].data.ptr = nullptr;
}

void Poller::arm() {
    if (armed_) return;
    armed_ = true;
    desc_->async_wait(asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code& ec) {
        armed_ = false;
        if (ec == asio::error::operation_aborted) return;
        poll();
    });
}

void Poller::poll() {
    if (epfd_ < 0) return;
    int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), 0);
    if (n < 0) n = 0;
    t_loop_time = std::chrono::steady_clock::now();
    pending_ = n;
    for (next_ = 0; next_ < pending_;) {
        const epoll_event ev = events_[static_cast<size_t>(next_++)];
        if (auto* h = static_cast<Handler*>(ev.data.ptr)) h->onEvents(ev.events);
    }
    pending_ = next_ = 0;
    if (n == static_cast<int>(events_.size())) {
        // More may be ready: poll again after the handlers queued meanwhile, without waiting.
        asio::post(desc_->get_executor(), [this] { poll(); });
        return;
    }
    arm();
}

}  // namespace laminar::io

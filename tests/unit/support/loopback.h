// SPDX-License-Identifier: Apache-2.0
// Loopback ports for unit tests of code that opens connections: one that refuses them, and a
// scripted fake server that answers each RESP command it reads as the test says.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "resp/request_parser.h"

namespace laminar::testing {

using Argv = std::vector<std::string>;

// A fake server on a loopback port: every command read on any of its connections is recorded and
// answered with what `answer` returns (raw RESP; kClose closes that connection instead).
class ScriptedServer {
public:
    static inline const std::string kClose = "close";
    using Answer = std::function<std::string(const Argv&)>;

    explicit ScriptedServer(Answer answer) : answer_(std::move(answer)) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(listen_, 16), 0);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
        EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedServer() {
        (void)!::write(wake_[1], "x", 1);
        thread_.join();
        ::close(listen_);
        ::close(wake_[0]);
        ::close(wake_[1]);
    }
    uint16_t port() const { return port_; }
    config::Endpoint at() const { return {"127.0.0.1", port_}; }
    std::vector<Argv> received() const {
        std::lock_guard lock(mu_);
        return received_;
    }
    // The commands received whose name is `name` (as sent).
    std::vector<Argv> received(const std::string& name) const {
        std::vector<Argv> out;
        for (auto& c : received())
            if (!c.empty() && c[0] == name) out.push_back(c);
        return out;
    }

private:
    struct Conn {
        int fd = -1;
        std::string in;
        resp::RequestParser parser;
    };

    void serve() {
        std::vector<Conn> conns;
        for (;;) {
            std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_, POLLIN, 0}};
            for (auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) continue;
            if (fds[0].revents) break;
            if (fds[1].revents & POLLIN) {
                int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0) {
                    conns.emplace_back();
                    conns.back().fd = fd;
                }
            }
            std::vector<int> closed;
            for (size_t i = 2; i < fds.size(); ++i)
                if (fds[i].revents && !readFrom(conns[i - 2])) closed.push_back(fds[i].fd);
            std::erase_if(conns, [&](const Conn& c) {
                bool gone = std::find(closed.begin(), closed.end(), c.fd) != closed.end();
                if (gone) ::close(c.fd);
                return gone;
            });
        }
        for (auto& c : conns) ::close(c.fd);
    }

    // False when the connection is to be closed.
    bool readFrom(Conn& c) {
        char buf[4096];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        c.in.append(buf, static_cast<size_t>(n));
        while (!c.in.empty()) {
            if (c.parser.parse(c.in) != resp::ParseStatus::kOk) break;
            Argv argv(c.parser.args().begin(), c.parser.args().end());
            c.in.erase(0, c.parser.consumed());
            c.parser.reset();
            {
                std::lock_guard lock(mu_);
                received_.push_back(argv);
            }
            std::string reply = answer_(argv);
            if (reply == kClose) return false;
            if (::send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(reply.size())) return false;
        }
        return true;
    }

    Answer answer_;
    int listen_ = -1;
    int wake_[2] = {-1, -1};
    uint16_t port_ = 0;
    mutable std::mutex mu_;
    std::vector<Argv> received_;
    std::thread thread_;
};

// A loopback port bound but not listening: a connection to it is refused at once.
class RefusingPort {
public:
    RefusingPort() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
    }
    ~RefusingPort() { ::close(fd_); }
    uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace laminar::testing

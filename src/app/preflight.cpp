// SPDX-License-Identifier: Apache-2.0
#include "app/preflight.h"

#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

namespace laminar::app {
namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// One endpoint: connect, send `probe` (none: the connect alone), read until a line ends.
std::string check(const config::Endpoint& at, const config::BackendConfig& b, std::string_view probe, std::string& answer) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    auto host = at.host == "localhost" ? std::string("127.0.0.1") : at.host;
    if (int rc = ::getaddrinfo(host.c_str(), std::to_string(at.port).c_str(), &hints, &found); rc != 0)
        return fmt::format("cannot resolve {}: {}", at.str(), ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return std::strerror(errno);
    if (::connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return fmt::format("cannot connect to {}: {}", at.str(), std::strerror(errno));
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(b.connect_timeout.count())) != 1)
            return fmt::format("cannot connect to {}: no answer within connect_timeout ({} ms)", at.str(), b.connect_timeout.count());
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fmt::format("cannot connect to {}: {}", at.str(), std::strerror(err));
    }
    if (probe.empty()) return {};
    if (::send(fd.get(), probe.data(), probe.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(probe.size()))
        return fmt::format("{}: the probe could not be sent: {}", at.str(), std::strerror(errno));
    auto deadline = std::chrono::steady_clock::now() + b.timeout;
    char buf[512];
    while (answer.find("\r\n") == std::string::npos && answer.size() < sizeof buf) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{fd.get(), POLLIN, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1)
            return fmt::format("{} accepted the connection but did not answer within timeout ({} ms)", at.str(), b.timeout.count());
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n == 0) return fmt::format("{} closed the connection without answering", at.str());
        if (n < 0 && errno != EINTR && errno != EAGAIN) return fmt::format("{}: {}", at.str(), std::strerror(errno));
        if (n > 0) answer.append(buf, static_cast<size_t>(n));
    }
    answer = answer.substr(0, answer.find("\r\n"));
    return {};
}

std::string shown(const std::string& answer) {
    std::string out;
    for (char c : answer.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return out;
}

}  // namespace

std::string preflight(const config::BackendConfig& b) {
    using Type = config::BackendConfig::Type;
    std::vector<config::Endpoint> where = b.type == Type::kRedis ? std::vector<config::Endpoint>{b.address} : b.servers;
    const bool memcached = b.type == Type::kMemcached;
    std::string_view probe = b.tls ? "" : memcached ? "version\r\n" : "PING\r\n";
    for (const auto& at : where) {
        std::string answer;
        if (auto error = check(at, b, probe, answer); !error.empty()) return error;
        if (probe.empty()) continue;
        // A memcached server answers an inline PING with ERROR; a Redis server answers `version`
        // with -ERR unknown command.
        bool speaks = memcached ? answer.starts_with("VERSION ") : !answer.empty() && (answer[0] == '+' || answer[0] == '-');
        if (!speaks)
            return fmt::format("{} does not speak {}: it answered {} with '{}'", at.str(), memcached ? "memcached" : "Redis",
                               memcached ? "'version'" : "PING", shown(answer));
    }
    return {};
}

std::vector<const config::BackendConfig*> newAddresses(const config::Config& running, const config::Config& next) {
    auto known = [&running](const config::BackendConfig& b) {
        return std::any_of(running.backends.begin(), running.backends.end(), [&](const config::BackendConfig& r) {
            return r.type == b.type && r.address == b.address && r.servers == b.servers && r.tls.has_value() == b.tls.has_value();
        });
    };
    std::vector<const config::BackendConfig*> out;
    for (const auto& b : next.backends)
        if (!known(b)) out.push_back(&b);
    return out;
}

}  // namespace laminar::app

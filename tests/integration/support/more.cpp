// SPDX-License-Identifier: Apache-2.0
#include "support/more.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace laminar::test {

namespace {

// Parses one value at `pos`; returns the position after it, 0 when incomplete, npos on garbage.
size_t parseAt(std::string_view d, size_t pos) {
    if (pos >= d.size()) return 0;
    auto eol = d.find("\r\n", pos);
    if (eol == std::string_view::npos) return 0;
    char type = d[pos];
    std::string_view head = d.substr(pos + 1, eol - pos - 1);
    size_t next = eol + 2;
    auto number = [&](long long& n) {
        auto [p, ec] = std::from_chars(head.data(), head.data() + head.size(), n);
        return ec == std::errc() && p == head.data() + head.size();
    };
    long long n = 0;
    switch (type) {
        case '+': case '-': case ':': case '_': case '#': case ',': case '(':
            return next;
        case '$': case '=': case '!':
            if (!number(n)) return std::string_view::npos;
            if (n < 0) return next;
            if (d.size() < next + static_cast<size_t>(n) + 2) return 0;
            return next + static_cast<size_t>(n) + 2;
        case '*': case '~': case '>': case '%': case '|': {
            if (!number(n)) return std::string_view::npos;
            if (n < 0) return next;
            long long items = (type == '%' || type == '|') ? 2 * n : n;
            for (long long i = 0; i < items; ++i) {
                next = parseAt(d, next);
                if (next == 0 || next == std::string_view::npos) return next;
            }
            if (type == '|') return parseAt(d, next);  // an attribute precedes the real value
            return next;
        }
        default:
            return std::string_view::npos;
    }
}

}  // namespace

size_t respFrameLength(std::string_view data) {
    size_t end = parseAt(data, 0);
    return end;
}

std::string readRawUntil(Client& c, const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<char, 65536> buf{};
    int fd = c.ctx()->fd;
    while (!done(out)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            break;
        }
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

std::string readRawFrames(Client& c, size_t n, std::chrono::milliseconds timeout) {
    return readRawUntil(
        c,
        [n](const std::string& s) {
            size_t pos = 0;
            for (size_t i = 0; i < n; ++i) {
                size_t len = respFrameLength(std::string_view(s).substr(pos));
                if (len == 0 || len == std::string::npos) return len == std::string::npos;
                pos += len;
            }
            return true;
        },
        timeout);
}

bool peerClosed(Client& c, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int fd = c.ctx()->fd;
    std::array<char, 65536> buf{};
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;  // nothing pending before the deadline: still open
        if (p.revents & (POLLHUP | POLLERR)) return true;
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) return true;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return true;  // ECONNRESET and the like
        }
        // data: discard and look again
    }
}

std::string infoField(const std::string& info, const std::string& field) {
    std::istringstream in(info);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':')
            return line.substr(field.size() + 1);
    }
    return "";
}

long long infoNumber(int port, const std::string& section, const std::string& field) {
    Client c(port, std::chrono::seconds(5));
    if (!c.connected()) return -1;
    auto r = c.cmd({"INFO", section});
    if (r.type != REDIS_REPLY_STRING) return -1;
    auto v = infoField(r.str, field);
    long long n = -1;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || v.empty()) return -1;
    return n;
}

long long procStatusKb(pid_t pid, const std::string& key) {
    std::string path = "/proc/";
    path += std::to_string(pid);
    path += "/status";
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ':') {
            std::istringstream ls(line.substr(key.size() + 1));
            long long kb = -1;
            ls >> kb;
            return kb;
        }
    }
    return -1;
}

std::string show(const Reply& r) {
    std::string out;
    switch (r.type) {
        case REDIS_REPLY_STRING: out += '$'; out += r.str; break;
        case REDIS_REPLY_STATUS: out += '+'; out += r.str; break;
        case REDIS_REPLY_ERROR: out += '-'; out += r.str; break;
        case REDIS_REPLY_INTEGER: out += ':'; out += std::to_string(r.integer); break;
        case REDIS_REPLY_NIL: out += "(nil)"; break;
        case REDIS_REPLY_ARRAY:
            out += '[';
            for (size_t i = 0; i < r.elements.size(); ++i) {
                if (i) out += ", ";
                out += show(r.elements[i]);
            }
            out += ']';
            break;
        default:
            out += '?';
            out += std::to_string(r.type);
            out += ':';
            out += r.str;
            break;
    }
    return out;
}

std::string showSorted(const Reply& r) {
    if (r.type != REDIS_REPLY_ARRAY) return show(r);
    std::vector<std::string> parts;
    for (const auto& e : r.elements) parts.push_back(show(e));
    std::sort(parts.begin(), parts.end());
    std::string out = "{";
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += ", ";
        out += parts[i];
    }
    out += '}';
    return out;
}

long long blockedClients(int redis_port) { return infoNumber(redis_port, "clients", "blocked_clients"); }

std::string repeatChar(char c, size_t n) { return std::string(n, c); }

bool sendOnly(Client& c, const std::vector<std::string>& argv) {
    c.append(argv);
    int done = 0;
    while (!done)
        if (redisBufferWrite(c.ctx(), &done) != REDIS_OK) return false;
    return true;
}

std::string respCommand(const std::vector<std::string>& argv) {
    std::string out = "*";
    out += std::to_string(argv.size());
    out += "\r\n";
    for (const auto& a : argv) {
        out += '$';
        out += std::to_string(a.size());
        out += "\r\n";
        out += a;
        out += "\r\n";
    }
    return out;
}

}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
#include "support/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace laminar::test {

namespace {
std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
    return s;
}
}  // namespace

namespace {
// Binds a TCP socket to 127.0.0.1:port (0: any free port) and closes it: the port it got, or -1.
int bindLoopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    int got = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        got = ntohs(addr.sin_port);
    }
    ::close(fd);
    return got;
}

// Ports handed out by this process are remembered, so two servers started back to back never
// get the same one before either has bound it.
std::set<int>& givenPorts() {
    static std::set<int> given;
    return given;
}
}  // namespace

int freeClusterPort() {
    for (int attempt = 0; attempt < 1000; ++attempt) {
        int port = freePort();
        if (port + 10000 <= 65535 && !givenPorts().count(port + 10000) && bindLoopback(port + 10000) == port + 10000) {
            givenPorts().insert(port + 10000);  // the node's cluster bus
            return port;
        }
    }
    throw std::runtime_error("no free port pair for a cluster node");
}

// Servers get ports below the kernel's ephemeral range (ip_local_port_range), where the ports
// bind(0) hands out also live: there, a client connection of a test running beside this one could
// take the port as its source between this check and the server's bind ("Address already in
// use"). A cluster node's bus port (+10000) stays below that range too.
int freePort() {
    static const int ephemeral_low = [] {
        std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
        int low = 0;
        return in >> low ? low : 0;
    }();
    static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
    const int lo = 10000, hi = ephemeral_low - 10000;  // [lo, hi)
    for (int attempt = 0; hi - lo >= 1000 && attempt < 1000; ++attempt) {
        int port = std::uniform_int_distribution<int>(lo, hi - 1)(rng);
        if (!givenPorts().count(port) && bindLoopback(port) == port) {
            givenPorts().insert(port);
            return port;
        }
    }
    for (int attempt = 0; attempt < 100; ++attempt) {  // no room below the range: any free port
        int port = bindLoopback(0);
        if (port > 0 && givenPorts().insert(port).second) return port;
    }
    throw std::runtime_error("no free port");
}

bool portOpen(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

bool waitFor(const std::function<bool()>& ok, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return ok();
}

namespace {
// The directories this test process made. Removed at exit when every test passed; kept (and
// named) otherwise, for the logs in them.
std::vector<std::string>& madeDirs() {
    static std::vector<std::string> dirs;
    return dirs;
}

void cleanUpDirs() {
    auto& dirs = madeDirs();
    if (dirs.empty()) return;
    if (!::testing::UnitTest::GetInstance()->Passed()) {
        std::fprintf(stderr, "laminar tests: kept %zu directories under /tmp/laminar-test.* for inspection\n", dirs.size());
        return;
    }
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
}
}  // namespace

std::string tempDir() {
    std::string tmpl = "/tmp/laminar-test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    if (madeDirs().empty()) std::atexit(cleanUpDirs);
    madeDirs().emplace_back(buf.data());
    return buf.data();
}

Process::Process(std::vector<std::string> argv, const std::string& log_path) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // A test process that aborts (a sanitizer report, a crash) skips every destructor: without
        // this its servers would live on, holding their ports. Processes are started from the
        // test's main thread, whose exit is what the signal follows.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
}

Process::~Process() {
    if (running()) stop(SIGTERM, std::chrono::seconds(5));
    if (running()) stop(SIGKILL, std::chrono::seconds(5));
}

bool Process::running() {
    if (status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return r == 0;
}

void Process::signal(int signo) {
    if (!status_) ::kill(pid_, signo);
}

void Process::pause() {
    signal(SIGSTOP);
    waitFor(
        [&] {
            std::error_code ec;
            for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/task", ec)) {
                std::ifstream in(task.path() / "stat");
                std::string line;
                std::getline(in, line);
                auto close = line.rfind(')');  // the state follows the command name, which may hold spaces
                if (close == std::string::npos || close + 2 >= line.size()) return false;
                char state = line[close + 2];
                if (state != 'T' && state != 't') return false;
            }
            return !ec;
        },
        std::chrono::seconds(2));
}

int Process::wait(std::chrono::milliseconds timeout) {
    if (!waitFor([&] { return !running(); }, timeout)) return -1;
    return *status_;
}

int Process::stop(int signo, std::chrono::milliseconds timeout) {
    if (!running()) return status_.value_or(-1);
    ::kill(pid_, SIGCONT);  // a paused process cannot act on SIGTERM
    ::kill(pid_, signo);
    return wait(timeout);
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : port_(freePort()), dir_(tempDir()), extra_(std::move(extra_args)) {
    start();
}

RedisServer::RedisServer(std::vector<std::string> extra_args, int port) : port_(port), dir_(tempDir()), extra_(std::move(extra_args)) {
    start();
}

void RedisServer::start() {
    std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", dir_, "--daemonize", "no"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    proc_ = std::make_unique<Process>(argv, dir_ + "/redis.log");
    if (!waitFor([&] { return portOpen(port_); })) throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
}

void RedisServer::pause() { proc_->pause(); }
void RedisServer::resume() { proc_->signal(SIGCONT); }
void RedisServer::kill() {
    proc_->stop(SIGKILL);
    proc_.reset();
}
void RedisServer::restart() {
    if (proc_) kill();
    start();
}

MemcachedServer::MemcachedServer(std::vector<std::string> extra_args)
    : port_(freePort()), dir_(tempDir()), extra_(std::move(extra_args)) {
    start();
}

void MemcachedServer::start() {
    std::vector<std::string> argv = {"/usr/bin/memcached", "-l", "127.0.0.1", "-p", std::to_string(port_), "-U", "0", "-m", "64"};
    if (::geteuid() == 0) {  // memcached will not run as root unless told which user to be
        argv.push_back("-u");
        argv.push_back("root");
    }
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    proc_ = std::make_unique<Process>(argv, dir_ + "/memcached.log");
    if (!waitFor([&] { return portOpen(port_) || !proc_->running(); }) || !proc_->running())
        throw std::runtime_error("memcached did not start on port " + std::to_string(port_) + ": " + log());
}

std::string MemcachedServer::log() const {
    std::ifstream in(dir_ + "/memcached.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void MemcachedServer::pause() { proc_->pause(); }
void MemcachedServer::resume() { proc_->signal(SIGCONT); }
void MemcachedServer::kill() {
    proc_->stop(SIGKILL);
    proc_.reset();
}
void MemcachedServer::restart() {
    if (proc_) kill();
    start();
}

MemcachedClient::MemcachedClient(int port, std::chrono::milliseconds timeout) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return;
    }
    fd_ = fd;
}

MemcachedClient::~MemcachedClient() {
    if (fd_ >= 0) ::close(fd_);
}

bool MemcachedClient::sendAll(const std::string& bytes) {
    if (fd_ < 0) return false;
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

bool MemcachedClient::readBytes(size_t n, std::string& out) {
    std::array<char, 65536> chunk{};
    while (buf_.size() < n) {
        ssize_t got = ::recv(fd_, chunk.data(), chunk.size(), 0);
        if (got <= 0) return false;
        buf_.append(chunk.data(), static_cast<size_t>(got));
    }
    out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
}

bool MemcachedClient::readLine(std::string& line) {
    std::array<char, 65536> chunk{};
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
        ssize_t got = ::recv(fd_, chunk.data(), chunk.size(), 0);
        if (got <= 0) return false;
        buf_.append(chunk.data(), static_cast<size_t>(got));
    }
    line = buf_.substr(0, eol);
    buf_.erase(0, eol + 2);
    return true;
}

std::string MemcachedClient::request(const std::string& bytes) {
    std::string line;
    if (!sendAll(bytes) || !readLine(line)) return "(connection failed)";
    return line;
}

std::optional<std::string> MemcachedClient::get(const std::string& key) {
    if (!sendAll("get " + key + "\r\n")) return std::nullopt;
    std::string line, value;
    if (!readLine(line) || line == "END") return std::nullopt;
    // VALUE <key> <flags> <bytes>
    auto last = line.rfind(' ');
    if (!line.starts_with("VALUE ") || last == std::string::npos) return std::nullopt;
    size_t len = std::stoul(line.substr(last + 1));
    std::string end;
    if (!readBytes(len + 2, value) || !readLine(end)) return std::nullopt;
    value.resize(len);
    return value;
}

bool MemcachedClient::set(const std::string& key, const std::string& value, long long exptime) {
    return request("set " + key + " 0 " + std::to_string(exptime) + " " + std::to_string(value.size()) + "\r\n" + value + "\r\n") ==
           "STORED";
}

long long MemcachedClient::ttl(const std::string& key) {
    std::string line = request("mg " + key + " t\r\n");
    if (line == "EN") return -2;
    auto t = line.find(" t");
    if (!line.starts_with("HD") || t == std::string::npos) return -3;
    return std::stoll(line.substr(t + 2));
}

bool MemcachedClient::flushAll() { return request("flush_all\r\n") == "OK"; }

Laminar::Laminar(const std::string& yaml, bool wait_ready, const std::vector<std::string>& args) : port_(freePort()) {
    auto dir = tempDir();
    config_path_ = dir + "/laminar.yaml";
    log_path_ = dir + "/laminar.log";
    rewriteConfig(yaml);
    std::vector<std::string> argv{LAMINAR_BINARY, "-c", config_path_};
    argv.insert(argv.end(), args.begin(), args.end());
    proc_ = std::make_unique<Process>(std::move(argv), log_path_);
    if (wait_ready && !waitFor([&] { return portOpen(port_) || !proc_->running(); }))
        throw std::runtime_error("laminar did not start: " + log());
    if (wait_ready && !proc_->running()) throw std::runtime_error("laminar exited: " + log());
}

void Laminar::rewriteConfig(const std::string& yaml) {
    std::ofstream(config_path_) << replaceAll(yaml, "{port}", std::to_string(port_));
}

std::string Laminar::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string proxyConfig(int redis_port, const std::string& extra, const std::string& backend_extra) {
    return "listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\n" + extra +
           "backends:\n  old: {type: redis, address: 127.0.0.1:" + std::to_string(redis_port) +
           (backend_extra.empty() ? "" : ", " + backend_extra) + "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n";
}

namespace {
Reply convert(const redisReply* r) {
    Reply out;
    if (!r) return out;
    out.type = r->type;
    switch (r->type) {
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
        case REDIS_REPLY_ERROR:
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
            break;
        default:
            break;
    }
    return out;
}
}  // namespace

Client::Client(int port, std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (ctx_ && !ctx_->err) redisSetTimeout(ctx_, tv);
}

Client::~Client() {
    if (ctx_) redisFree(ctx_);
}

Reply Client::cmd(const std::vector<std::string>& argv) {
    append(argv);
    return read();
}

void Client::append(const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data());
}

void Client::flush() {
    int done = 0;
    while (!done && redisBufferWrite(ctx_, &done) == REDIS_OK) {
    }
}

Reply Client::read() {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
        Reply r;
        r.type = -1;
        r.str = error();
        return r;
    }
    Reply out = convert(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return out;
}

void Client::sendRaw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::write(ctx_->fd, bytes.data() + off, bytes.size() - off);
        if (n <= 0) return;
        off += static_cast<size_t>(n);
    }
}

std::string Client::readRawUntilClose(std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<char, 65536> buf{};
    while (std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::recv(ctx_->fd, buf.data(), buf.size(), 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            break;
        }
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

std::string run(const std::string& command, int* status) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return out;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int st = ::pclose(p);
    if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

}  // namespace laminar::test

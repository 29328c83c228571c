// SPDX-License-Identifier: Apache-2.0
// Real processes on free loopback ports for integration tests: redis-server, the laminar binary,
// and a hiredis client. Every process is started by the test and stopped by its PID.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace laminar::test {

// A TCP port on 127.0.0.1 nobody listens on right now.
int freePort();
// One whose port + 10000 (a Redis Cluster node's bus port) is free too.
int freeClusterPort();
// True when something accepts TCP connections on 127.0.0.1:port.
bool portOpen(int port);
// Polls `ok` every 10 ms until it holds or `timeout` passes.
bool waitFor(const std::function<bool()>& ok, std::chrono::milliseconds timeout = std::chrono::seconds(10));
std::string tempDir();

// A child process, stopped (SIGTERM, then SIGKILL after 5 s) when destroyed.
class Process {
public:
    Process(std::vector<std::string> argv, const std::string& log_path);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    pid_t pid() const { return pid_; }
    bool running();
    void signal(int signo);
    // SIGSTOP, then waits until every thread of it is stopped (the signal is delivered as the
    // kernel gets to it: on a busy machine a server may still answer a request sent right after
    // kill() returned).
    void pause();
    // Sends signo and waits for the exit; the exit status (or 128+signal), -1 on timeout.
    int stop(int signo = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    int wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

class RedisServer {
public:
    explicit RedisServer(std::vector<std::string> extra_args = {});
    // On a given port (a cluster node needs port + 10000 free as well).
    RedisServer(std::vector<std::string> extra_args, int port);
    const std::string& dir() const { return dir_; }
    int port() const { return port_; }
    void pause();   // SIGSTOP
    void resume();  // SIGCONT
    void kill();    // SIGKILL, for a dead backend
    void restart(); // start again on the same port
    bool running() { return proc_ && proc_->running(); }

private:
    void start();
    int port_;
    std::string dir_;
    std::vector<std::string> extra_;
    std::unique_ptr<Process> proc_;
};

// memcached on a free loopback port: /usr/bin/memcached -l 127.0.0.1 -p PORT -U 0 -m 64 (plus
// -u root when the tests run as root, which memcached otherwise refuses), stopped by its PID.
class MemcachedServer {
public:
    explicit MemcachedServer(std::vector<std::string> extra_args = {});
    int port() const { return port_; }
    void pause();   // SIGSTOP
    void resume();  // SIGCONT
    void kill();    // SIGKILL, for a dead backend
    void restart(); // start again on the same port (empty: memcached keeps nothing)
    bool running() { return proc_ && proc_->running(); }
    std::string log() const;

private:
    void start();
    int port_;
    std::string dir_;
    std::vector<std::string> extra_;
    std::unique_ptr<Process> proc_;
};

// A memcached text-protocol connection, to look at (and seed) memcached directly rather than
// through laminar. Blocking, with a timeout on every read and write.
class MemcachedClient {
public:
    explicit MemcachedClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    ~MemcachedClient();
    MemcachedClient(const MemcachedClient&) = delete;
    MemcachedClient& operator=(const MemcachedClient&) = delete;
    bool connected() const { return fd_ >= 0; }
    // The value, or nullopt on a miss (or a broken connection).
    std::optional<std::string> get(const std::string& key);
    // `set key 0 exptime len` (exptime as memcached reads it: 0 none, up to 30 days relative
    // seconds, else a unix time); true on STORED.
    bool set(const std::string& key, const std::string& value, long long exptime = 0);
    // Seconds left from the meta protocol (`mg key t`): -1 no expiry, -2 missing, -3 on error.
    long long ttl(const std::string& key);
    bool flushAll();
    // One request (a full line with its \r\n, data included), the first reply line (no \r\n).
    std::string request(const std::string& bytes);

private:
    bool sendAll(const std::string& bytes);
    bool readLine(std::string& line);
    bool readBytes(size_t n, std::string& out);
    int fd_ = -1;
    std::string buf_;
};

// The laminar binary with a YAML config. The config text may use {port} for laminar's own
// listen port; the caller fills in the backends' ports.
class Laminar {
public:
    // `args`: more command-line arguments, after `-c FILE`.
    explicit Laminar(const std::string& yaml_with_placeholders, bool wait_ready = true, const std::vector<std::string>& args = {});
    int port() const { return port_; }
    pid_t pid() const { return proc_->pid(); }
    Process& process() { return *proc_; }
    const std::string& configPath() const { return config_path_; }
    std::string log() const;
    void rewriteConfig(const std::string& yaml_with_placeholders);

private:
    int port_;
    std::string config_path_, log_path_;
    std::unique_ptr<Process> proc_;
};

// A config for one redis backend named "old" behind a proxy route, with extra top-level YAML.
std::string proxyConfig(int redis_port, const std::string& extra = "", const std::string& backend_extra = "");

struct Reply {
    int type = 0;  // REDIS_REPLY_*
    std::string str;
    long long integer = 0;
    std::vector<Reply> elements;
    bool isError() const { return type == REDIS_REPLY_ERROR; }
    bool isNil() const { return type == REDIS_REPLY_NIL; }
};

// A blocking hiredis connection with a read timeout, so a test fails instead of hanging.
class Client {
public:
    explicit Client(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    bool connected() const { return ctx_ && !ctx_->err; }
    Reply cmd(const std::vector<std::string>& argv);
    // Pipelining: append many, then read them.
    void append(const std::vector<std::string>& argv);
    // Writes what append() buffered, without waiting for a reply.
    void flush();
    Reply read();
    // Raw bytes, for malformed input.
    void sendRaw(const std::string& bytes);
    // Reads whatever arrives until the peer closes or `timeout` passes.
    std::string readRawUntilClose(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    redisContext* ctx() { return ctx_; }
    std::string error() const { return ctx_ ? ctx_->errstr : "no context"; }

private:
    redisContext* ctx_ = nullptr;
};

// Runs a command line, returns its stdout (and exit status through `status`).
std::string run(const std::string& command, int* status = nullptr);

}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// Fault injection against the laminar binary with real backends: a paused backend (SIGSTOP), a
// backend killed and restarted under pipelined load, a slow backend (DEBUG SLEEP, CLIENT PAUSE),
// clients that vanish with commands in flight, clients that never read, 10,000 idle connections,
// and a storm of reloads under load. Loopback only; every process is the test's own, stopped by
// its PID. Timing is asserted only as "an answer came back, not a hang", with generous bounds.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#ifdef __SANITIZE_ADDRESS__
// Under AddressSanitizer (scripts/test.sh's second pass), freed memory sits in its quarantine (up
// to 256 MB) before it is reused, with shadow memory on top: room for it in the memory bounds.
constexpr long long kSanitizerSlackKb = 512 * 1024;
#else
constexpr long long kSanitizerSlackKb = 0;
#endif

// An error reply that names the backend, as every backend failure must.
bool namesBackend(const Reply& r, const std::string& backend) {
    return r.isError() && r.str.find(cat("backend '", backend, "'")) != std::string::npos;
}

// Backends `old` and `new` (redis on loopback, both with `backend_opts`); keys `other:*` go to
// new, everything else to old.
std::string twoRoutes(int old_port, int new_port, const std::string& backend_opts, const std::string& extra = "") {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\n", extra,
               "backends:\n  old: {type: redis, address: 127.0.0.1:", old_port, ", ", backend_opts, "}\n",
               "  new: {type: redis, address: 127.0.0.1:", new_port, ", ", backend_opts, "}\n",
               "routes:\n  - name: others\n    match: {keys: [\"other:*\"]}\n    strategy: {type: proxy, target: new}\n",
               "  - name: default\n    strategy: {type: proxy, target: old}\n");
}

// A plain TCP connection to 127.0.0.1:port (no hiredis), -1 on failure.
int connectRaw(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool sendAllRaw(int fd, const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

// Closes with a reset (SO_LINGER 0) instead of a FIN, so unread data is thrown away at once.
void closeWithReset(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

long long connectedClients(int laminar_port) { return infoNumber(laminar_port, "laminar", "connected_clients"); }

// How many times redis ran `command` ("get"), from INFO commandstats; -1 when not found.
long long commandCalls(int redis_port, const std::string& command) {
    Client c(redis_port, 5s);
    auto r = c.cmd({"INFO", "commandstats"});
    auto at = r.str.find(cat("cmdstat_", command, ":calls="));
    if (r.type != REDIS_REPLY_STRING || at == std::string::npos) return -1;
    return std::atoll(r.str.c_str() + at + cat("cmdstat_", command, ":calls=").size());
}

// Open file descriptors of a process.
long long openFds(pid_t pid) {
    long long n = 0;
    for (const auto& e : std::filesystem::directory_iterator(cat("/proc/", pid, "/fd"))) {
        (void)e;
        ++n;
    }
    return n;
}

// A client in its own thread that writes and reads back its own keys through laminar until
// stopped, one command at a time, and records every reply that is not the expected one.
class Steady {
public:
    Steady(int port, std::string prefix) : port_(port), prefix_(std::move(prefix)), thread_([this] { run(); }) {}
    ~Steady() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    long long ok() const { return ok_.load(); }
    std::string problems() const {
        std::lock_guard lock(mu_);
        std::string out;
        for (const auto& p : problems_) out += "  " + p + "\n";
        return out;
    }
    long long problemCount() const { return bad_.load(); }
    // The slowest SET + GET round trip so far.
    long long maxMillis() const { return max_ms_.load(); }

private:
    void note(const std::string& what) {
        bad_++;
        std::lock_guard lock(mu_);
        if (problems_.size() < 10) problems_.push_back(what);
    }
    void run() {
        Client c(port_, 10s);
        if (!c.connected()) return note("cannot connect: " + c.error());
        for (long long i = 0; !stop_; ++i) {
            auto key = cat(prefix_, i % 100);
            auto value = cat("value-", i);
            auto start = Clock::now();
            auto set = c.cmd({"SET", key, value});
            auto get = c.cmd({"GET", key});
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
            if (ms > max_ms_.load()) max_ms_ = ms;
            if (show(set) != "+OK" || show(get) != "$" + value) {
                note(cat("SET/GET ", key, " -> ", show(set), " / ", show(get)));
                if (set.type < 0 || get.type < 0) return;  // no answer: the connection is gone
            } else {
                ok_++;
            }
            std::this_thread::sleep_for(1ms);
        }
    }

    const int port_;
    const std::string prefix_;
    std::atomic<bool> stop_{false};
    std::atomic<long long> ok_{0}, bad_{0}, max_ms_{0};
    mutable std::mutex mu_;
    std::vector<std::string> problems_;
    std::thread thread_;  // last: starts once the members above exist
};

// ------------------------------------------------------------------ 1. a paused backend

TEST(FaultTest, APausedBackendTimesOutNamingItWhileAnotherRouteAnswersAndResumesByItself) {
    RedisServer old_r, new_r;
    Laminar lam(twoRoutes(old_r.port(), new_r.port(), "timeout: 300ms"));
    Client c(lam.port(), 10s);
    ASSERT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");
    Steady other(lam.port(), "other:");
    ASSERT_TRUE(waitFor([&] { return other.ok() > 10; })) << other.problems();

    old_r.pause();
    auto start = Clock::now();
    auto first = c.cmd({"GET", "k"});
    EXPECT_LT(Clock::now() - start, 5s) << "the timeout is 300ms";
    EXPECT_EQ(show(first), "-ERR laminar: backend 'old' timed out after 300ms");
    // While it stays paused, every command to it fails naming it (timed out, or unavailable while
    // the connection is being reopened), singly and pipelined.
    for (int i = 0; i < 3; ++i) {
        auto t = Clock::now();
        auto r = c.cmd({"SET", "k", "during-pause"});
        EXPECT_LT(Clock::now() - t, 5s);
        EXPECT_TRUE(namesBackend(r, "old")) << show(r);
    }
    for (int i = 0; i < 5; ++i) c.append({"GET", "k"});
    for (int i = 0; i < 5; ++i) {
        auto r = c.read();
        EXPECT_TRUE(namesBackend(r, "old")) << i << ": " << show(r);
    }
    Client fresh(lam.port(), 10s);
    auto f = fresh.cmd({"GET", "k"});
    EXPECT_TRUE(namesBackend(f, "old")) << show(f);

    // The other route kept answering all along, and still does, with `old` still paused.
    long long before = other.ok();
    EXPECT_TRUE(waitFor([&] { return other.ok() >= before + 20; })) << other.ok() << " vs " << before;
    EXPECT_EQ(other.problemCount(), 0) << other.problems();
    EXPECT_EQ(show(c.cmd({"GET", "other:0"})).substr(0, 7), "$value-");

    old_r.resume();
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"GET", "k"})) == "$v"; }, 10s)) << "traffic to old did not resume";
    EXPECT_EQ(show(c.cmd({"SET", "k", "after"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$after");
    EXPECT_EQ(show(Client(old_r.port()).cmd({"GET", "k"})), "$after");
    other.stop();
    EXPECT_EQ(other.problemCount(), 0) << other.problems();
    EXPECT_TRUE(lam.process().running());
}

// ------------------------------------------------------------------ 2. killed and restarted under load

// One pipelining client's tally. A GET must return the value its own SET (earlier in the same
// pipeline, on a key nobody else writes) just stored, or nil when that SET failed or redis was
// killed in between, or an error naming the backend. Anything else is a wrong answer.
struct PipelineClient {
    long long pipelines = 0, clean = 0, errors = 0;
    std::atomic<long long> clean_since_restart{0};
    std::atomic<long long> errors_seen{0};
    std::vector<std::string> problems;
    void problem(const std::string& p) {
        if (problems.size() < 10) problems.push_back(p);
    }
};

// epoch: even while redis runs, odd while it is down (bumped before the kill, after the restart).
void pipelineLoad(PipelineClient& w, int id, int port, const std::atomic<long long>& epoch, const std::atomic<bool>& stop) {
    Client c(port, 10s);
    if (!c.connected()) return w.problem("cannot connect: " + c.error());
    constexpr int kPairs = 10;
    for (long long seq = 0; !stop.load(); ++seq) {
        long long epoch_before = epoch.load();
        for (int j = 0; j < kPairs; ++j) {
            auto key = cat("p", id, ":", seq, ":", j);
            c.append({"SET", key, cat("v", id, "-", seq, "-", j)});
            c.append({"GET", key});
        }
        std::vector<Reply> replies;
        for (int j = 0; j < 2 * kPairs; ++j) replies.push_back(c.read());
        bool redis_stayed_up = epoch.load() == epoch_before && epoch_before % 2 == 0;
        w.pipelines++;
        long long errors = 0;
        for (int j = 0; j < kPairs; ++j) {
            const auto &set = replies[2 * j], &get = replies[2 * j + 1];
            auto value = cat("v", id, "-", seq, "-", j);
            auto where = cat("pipeline ", seq, " pair ", j, ": ");
            if (set.type < 0 || get.type < 0) {
                w.problem(where + "no reply (hang or closed connection): " + show(set) + " / " + show(get));
                return;
            }
            for (const auto* r : {&set, &get})
                if (r->isError()) {
                    ++errors;
                    if (!namesBackend(*r, "old")) w.problem(where + "an error that does not name the backend: " + show(*r));
                }
            if (!set.isError() && show(set) != "+OK") w.problem(where + "SET -> " + show(set));
            if (get.type == REDIS_REPLY_STRING && get.str != value) w.problem(where + "GET -> " + show(get) + ", expected $" + value);
            if (get.isNil() && show(set) == "+OK" && redis_stayed_up) w.problem(where + "GET -> nil after SET -> +OK with redis up");
            if (!get.isError() && !get.isNil() && get.type != REDIS_REPLY_STRING) w.problem(where + "GET -> " + show(get));
        }
        w.errors += errors;
        w.errors_seen += errors;
        if (errors == 0) {
            w.clean++;
            if (redis_stayed_up && epoch_before >= 2) w.clean_since_restart++;
        } else {
            std::this_thread::sleep_for(5ms);  // errors come back at once: do not spin
        }
    }
}

TEST(FaultTest, ABackendKilledAndRestartedUnderPipelinedLoadGivesErrorsNamingItThenRecovers) {
    RedisServer redis;
    Laminar lam(proxyConfig(redis.port()));
    constexpr int kClients = 4, kRounds = 2;
    std::atomic<long long> epoch{0};
    std::atomic<bool> stop{false};
    std::vector<PipelineClient> clients(kClients);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) threads.emplace_back([&, i] { pipelineLoad(clients[i], i, lam.port(), epoch, stop); });
    auto errorsSeen = [&] {
        long long n = 0;
        for (auto& w : clients) n += w.errors_seen.load();
        return n;
    };
    auto allRecovered = [&] {
        for (auto& w : clients)
            if (w.clean_since_restart.load() < 3) return false;
        return true;
    };

    std::this_thread::sleep_for(300ms);
    for (int round = 0; round < kRounds; ++round) {
        SCOPED_TRACE(cat("round ", round));
        long long errors_before = errorsSeen();
        epoch = 2 * round + 1;
        redis.kill();
        EXPECT_TRUE(waitFor([&] { return errorsSeen() > errors_before; }, 10s)) << "no client saw an error while redis was down";
        std::this_thread::sleep_for(500ms);
        redis.restart();
        for (auto& w : clients) w.clean_since_restart = 0;
        epoch = 2 * round + 2;
        EXPECT_TRUE(waitFor(allRecovered, 20s)) << "not every client got clean pipelines back after the restart";
    }
    stop = true;
    for (auto& t : threads) t.join();

    for (int i = 0; i < kClients; ++i) {
        auto& w = clients[i];
        std::string problems;
        for (const auto& p : w.problems) problems += "  " + p + "\n";
        EXPECT_TRUE(w.problems.empty()) << "client " << i << ":\n" << problems;
        EXPECT_GT(w.errors, 0) << "client " << i << " never saw the backend down";
        std::cout << "[ kill under load ] client " << i << ": " << w.pipelines << " pipelines, " << w.clean << " clean, "
                  << w.errors << " errors naming the backend\n";
    }
    EXPECT_TRUE(lam.process().running());
    Client after(lam.port());
    EXPECT_EQ(show(after.cmd({"SET", "after", "restart"})), "+OK");
    EXPECT_EQ(show(Client(redis.port()).cmd({"GET", "after"})), "$restart");
}

// ------------------------------------------------------------------ 3. a slow backend

// `stall` makes redis-server stop answering for about two seconds, over a direct connection;
// laminar's backend timeout is 300ms.
void slowBackend(RedisServer& redis, const std::vector<std::string>& stall, const std::string& stall_reply) {
    Laminar lam(proxyConfig(redis.port(), "", "timeout: 300ms"));
    Client c(lam.port(), 10s);
    ASSERT_EQ(show(c.cmd({"SET", "k", "v"})), "+OK");

    Client direct(redis.port(), 10s);
    ASSERT_TRUE(sendOnly(direct, stall));
    if (stall[0] == "CLIENT") {
        ASSERT_EQ(show(direct.read()), stall_reply);
    }
    // Stalled: a PING straight to redis gets no answer within 100ms.
    ASSERT_TRUE(waitFor([&] { return Client(redis.port(), 100ms).cmd({"PING"}).type == -1; }, 5s));

    auto start = Clock::now();
    auto r = c.cmd({"GET", "k"});
    EXPECT_LT(Clock::now() - start, 5s);
    EXPECT_EQ(show(r), "-ERR laminar: backend 'old' timed out after 300ms");
    c.append({"GET", "k"});
    c.append({"SET", "k2", "x"});
    c.append({"INCR", "n"});
    for (int i = 0; i < 3; ++i) {
        auto e = c.read();
        EXPECT_TRUE(namesBackend(e, "old")) << i << ": " << show(e);
    }

    if (stall[0] == "DEBUG") {
        EXPECT_EQ(show(direct.read()), stall_reply) << "the stall ended";
    }
    EXPECT_TRUE(waitFor([&] { return Client(redis.port(), 100ms).cmd({"PING"}).type != -1; }, 10s));
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"GET", "k"})) == "$v"; }, 10s)) << "laminar did not use redis again";
    EXPECT_EQ(show(c.cmd({"SET", "k2", "y"})), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k2"})), "$y");
    EXPECT_EQ(show(Client(lam.port()).cmd({"GET", "k"})), "$v");
}

// A slow link between laminar and redis, in this process: what laminar sends goes through at once;
// what redis answers goes back at `bytes_per_tick` every 10 ms, or stops (hold) once
// `hold_after` bytes have gone back. Loopback only; it stops with the object.
class SlowLink {
public:
    SlowLink(int target_port, size_t bytes_per_tick) : target_(target_port), per_tick_(bytes_per_tick) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(listen_, 16);
        socklen_t len = sizeof addr;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~SlowLink() {
        stop_ = true;
        thread_.join();
        for (auto& p : pairs_) {
            ::close(p.client);
            ::close(p.server);
        }
        ::close(listen_);
    }
    int port() const { return port_; }
    void holdAfter(size_t bytes) { hold_after_ = bytes; }
    size_t sentBack() const { return sent_back_.load(); }

private:
    struct Pair {
        int client, server;
        std::string to_client, to_server;
    };
    static bool pump(int fd, std::string& out, size_t limit) {
        size_t n = std::min(out.size(), limit);
        if (n == 0) return true;
        ssize_t w = ::send(fd, out.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) out.erase(0, static_cast<size_t>(w));
        return w >= 0 || errno == EAGAIN;
    }
    void run() {
        auto next_tick = Clock::now();
        size_t budget = 0;
        char buf[65536];
        while (!stop_) {
            if (Clock::now() >= next_tick) {
                budget = per_tick_;
                next_tick = Clock::now() + 10ms;
            }
            std::vector<pollfd> fds{{listen_, POLLIN, 0}};
            for (auto& p : pairs_) {
                fds.push_back({p.client, POLLIN, 0});
                fds.push_back({p.server, static_cast<short>(p.to_client.size() < sizeof buf ? POLLIN : 0), 0});
            }
            ::poll(fds.data(), fds.size(), 2);
            if (fds[0].revents & POLLIN) {
                int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
                int srv = connectRaw(target_);
                if (c >= 0 && srv >= 0) pairs_.push_back({c, srv, {}, {}});
            }
            for (size_t i = 0; i < pairs_.size(); ++i) {
                auto& p = pairs_[i];
                if (fds.size() > 1 + 2 * i && (fds[1 + 2 * i].revents & POLLIN)) {
                    ssize_t n = ::recv(p.client, buf, sizeof buf, MSG_DONTWAIT);
                    if (n > 0) p.to_server.append(buf, static_cast<size_t>(n));
                }
                if (fds.size() > 2 + 2 * i && (fds[2 + 2 * i].revents & POLLIN)) {
                    ssize_t n = ::recv(p.server, buf, sizeof buf, MSG_DONTWAIT);
                    if (n > 0) p.to_client.append(buf, static_cast<size_t>(n));
                }
                pump(p.server, p.to_server, p.to_server.size());
                size_t allowed = budget;
                if (hold_after_ > 0) allowed = std::min(allowed, hold_after_ > sent_back_ ? hold_after_ - sent_back_ : 0);
                size_t before = p.to_client.size();
                pump(p.client, p.to_client, allowed);
                size_t sent = before - p.to_client.size();
                budget -= std::min(budget, sent);
                sent_back_ += sent;
            }
        }
    }

    int target_;
    size_t per_tick_;
    int listen_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> hold_after_{0}, sent_back_{0};
    std::vector<Pair> pairs_;
    std::thread thread_;  // last: starts once the members above exist
};

// The backend timeout measures a lack of progress: a reply that takes longer than `timeout` to
// arrive, while its bytes keep coming, is not timed out, nor are the commands queued behind it.
// It once counted from the send, so a client pipelining big GETs over a slow link got timeouts
// from a healthy backend, and so did every bystander on that connection.
TEST(FaultTest, ABackendStreamingBigRepliesSlowerThanTheTimeoutIsNotTimedOut) {
    RedisServer redis;
    SlowLink link(redis.port(), 16 * 1024);  // 1.6 MB/s
    Laminar lam(proxyConfig(link.port(), "", "timeout: 300ms"));
    const std::string big(256 * 1024, 'b');
    ASSERT_EQ(show(Client(redis.port()).cmd({"SET", "big", big})), "+OK");
    Client c(lam.port(), 20s), bystander(lam.port(), 20s);
    auto start = Clock::now();
    for (int i = 0; i < 8; ++i) c.append({"GET", "big"});
    c.flush();
    auto small = bystander.cmd({"SET", "small", "x"});
    int good = 0;
    for (int i = 0; i < 8; ++i) {
        auto r = c.read();
        if (r.type == REDIS_REPLY_STRING && r.str == big) ++good;
        else ADD_FAILURE() << "GET " << i << ": " << show(r).substr(0, 200);
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    EXPECT_EQ(good, 8);
    EXPECT_EQ(show(small), "+OK");
    EXPECT_GT(took, 600) << "2 MB at 1.6 MB/s: the replies came slower than the 300 ms timeout";
    EXPECT_EQ(lam.log().find("is down"), std::string::npos) << lam.log();
}

// The other side of it: a reply that stops coming mid-way times out after `timeout`.
TEST(FaultTest, ABackendThatStopsMidReplyTimesOut) {
    RedisServer redis;
    SlowLink link(redis.port(), 64 * 1024);
    Laminar lam(proxyConfig(link.port(), "", "timeout: 300ms"));
    const std::string big(1024 * 1024, 'b');
    ASSERT_EQ(show(Client(redis.port()).cmd({"SET", "big", big})), "+OK");
    Client c(lam.port(), 10s);
    link.holdAfter(link.sentBack() + 100 * 1024);
    auto start = Clock::now();
    auto r = c.cmd({"GET", "big"});
    EXPECT_EQ(show(r), "-ERR laminar: backend 'old' timed out after 300ms");
    EXPECT_LT(Clock::now() - start, 5s);
    EXPECT_GE(link.sentBack(), 100u * 1024) << "the reply had started";
}

TEST(FaultTest, ACommandBeyondTheTimeoutOfASleepingRedisGetsATimeoutErrorAndTheNextOnesWork) {
    RedisServer redis({"--enable-debug-command", "yes"});
    slowBackend(redis, {"DEBUG", "SLEEP", "2"}, "+OK");
}

TEST(FaultTest, ACommandBeyondTheTimeoutOfAPausedRedisClientGetsATimeoutErrorAndTheNextOnesWork) {
    RedisServer redis;
    slowBackend(redis, {"CLIENT", "PAUSE", "2000", "ALL"}, "+OK");
}

// ------------------------------------------------------------------ 4. clients that vanish mid-pipeline

TEST(FaultTest, ClientsThatDisconnectWithCommandsInFlightLeaveNothingBehind) {
    RedisServer redis;
    // The vanishing clients' commands share the backend connections with the steady client's, and
    // a long queue of big replies ahead of its command is not what this test is about: a backend
    // timeout generous enough for a busy machine.
    Laminar lam(proxyConfig(redis.port(), "", "timeout: 10s"));
    const std::string big(16 * 1024, 'b');
    {
        Client setup(lam.port());
        ASSERT_EQ(show(setup.cmd({"SET", "big", big})), "+OK");
        // Warm a dedicated connection per I/O thread, so the baseline below includes the pool.
        for (int i = 0; i < 4; ++i) {
            Client m(lam.port());
            ASSERT_EQ(show(m.cmd({"WATCH", "warm"})), "+OK");
            ASSERT_EQ(show(m.cmd({"UNWATCH"})), "+OK");
        }
    }
    Steady steady(lam.port(), "steady:");
    ASSERT_TRUE(waitFor([&] { return steady.ok() > 10; })) << steady.problems();
    ASSERT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }));  // steady + the INFO probe
    long long redis_base = infoNumber(redis.port(), "clients", "connected_clients");
    long long rss_before = procStatusKb(lam.pid(), "VmRSS"), fds_before = openFds(lam.pid());

    // Per connection: 400 commands, half of them GETs of 16 KB (3 MB of replies), then gone.
    // Every fourth also leaves a dedicated backend connection busy: BLPOP that never returns,
    // an open MULTI, or a SUBSCRIBE.
    std::string pipeline;
    for (int i = 0; i < 200; ++i) pipeline += respCommand({"SET", cat("gone:", i), "x"}) + respCommand({"GET", "big"});
    const std::vector<std::string> tails = {"", respCommand({"BLPOP", "never", "0"}), "",
                                            respCommand({"MULTI"}) + respCommand({"SET", "in-multi", "x"}), "",
                                            respCommand({"SUBSCRIBE", "ch"}), "", ""};
    // Three waves, each checked for leftovers.
    constexpr int kWaves = 3, kConnections = 300;
    std::vector<long long> rss_after_wave;
    for (int wave = 0; wave < kWaves; ++wave) {
        SCOPED_TRACE(cat("wave ", wave));
        int sent = 0;
        long long gets_before = commandCalls(redis.port(), "get");
        auto start = Clock::now();
        for (int i = 0; i < kConnections; ++i) {
            int fd = connectRaw(lam.port());
            ASSERT_GE(fd, 0) << "connection " << i;
            if (sendAllRaw(fd, pipeline + tails[static_cast<size_t>(i) % tails.size()])) ++sent;
            if (i % 2) closeWithReset(fd);
            else ::close(fd);
            if (i % 100 == 99) {
                ASSERT_TRUE(lam.process().running()) << "after " << i + 1 << " connections:\n" << lam.log();
            }
        }
        EXPECT_EQ(sent, kConnections);

        EXPECT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }, 30s))
            << "connected_clients " << connectedClients(lam.port()) << ", expected 2 (steady + the INFO probe)";
        auto settled_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        Client admin(lam.port());  // steady + admin, once the INFO probe's close is seen
        EXPECT_TRUE(waitFor([&] { return laminarStatus(admin).find("\nclients: 2\n") != std::string::npos; }, 5s))
            << laminarStatus(admin);
        // The dedicated backend connections were closed or returned to the pool (at most 16 idle
        // per thread): seventy-five were opened for blocked or half-done clients in each wave.
        EXPECT_TRUE(waitFor([&] { return infoNumber(redis.port(), "clients", "connected_clients") <= redis_base + 2 * 16; }, 15s))
            << "redis connected_clients " << infoNumber(redis.port(), "clients", "connected_clients") << ", before " << redis_base;
        EXPECT_TRUE(waitFor([&] { return blockedClients(redis.port()) == 0; }, 15s)) << "a BLPOP of a gone client is still blocked";
        // The cause of the steady client's waits, when there were any: every GET a gone client had
        // sent ran, and its reply crossed the shared connection ahead of the steady client's
        // commands (900 MB a wave). A client has a bounded window of commands in flight, and what
        // it had not had sent when it went is dropped, as Redis drops a failed client's input.
        long long gets = commandCalls(redis.port(), "get") - gets_before;
        EXPECT_LT(gets, kConnections * 200 / 2) << "of the " << kConnections * 200 << " GETs of 16 KB the gone clients sent, "
                                                << gets << " reached redis";
        // Nor does laminar keep sockets: its descriptors are those it had, plus at most that pool
        // and admin's.
        long long fds = openFds(lam.pid());
        EXPECT_LE(fds, fds_before + 2 * 16 + 1) << "laminar had " << fds_before << " open descriptors before";
        rss_after_wave.push_back(procStatusKb(lam.pid(), "VmRSS"));
        std::cout << "[ vanishing clients ] wave " << wave << ": " << kConnections << " connections gone and settled in "
                  << settled_ms << " ms; " << gets << " of their " << kConnections * 200 << " GETs ran; " << fds << " descriptors (" << fds_before << " before); VmRSS "
                  << rss_after_wave.back() << " kB (" << rss_before << " kB before)\n";
    }

    long long seen = steady.ok();
    EXPECT_TRUE(waitFor([&] { return steady.ok() > seen + 10; })) << "the steady client stopped";
    steady.stop();
    EXPECT_EQ(steady.problemCount(), 0) << steady.problems();
    EXPECT_TRUE(lam.process().running());
    std::cout << "[ vanishing clients ] the steady client's slowest SET+GET took " << steady.maxMillis() << " ms\n";
    // Not a timing test, a bound on head-of-line blocking: the gone clients' replies once held the
    // steady client's commands for 7 s (10 s and more under ASan, which dropped it); a few hundred
    // ms now, under ASan too.
    EXPECT_LT(steady.maxMillis(), 5000) << "the steady client waited behind the gone clients' replies";
    // Freed memory the allocator keeps moves between waves (30 to 130 MB seen, with no trend over
    // 20 waves): a bound, not a trend.
    for (auto rss : rss_after_wave) EXPECT_LT(rss, rss_before + 256 * 1024 + kSanitizerSlackKb) << "VmRSS before " << rss_before << " kB";
}

// A command over keys of several routes is split into one command per key. All of them at once,
// with the arguments copied into each, took a 14 MB DEL of a million keys from 9 MB to 179 MB (four
// at once: 504 MB, and 458 MB minutes later). The parts now go a window at a time.
TEST(FaultTest, AMillionKeyDelOverTwoRoutesHoldsBoundedMemoryAndGivesItBack) {
    RedisServer old_r, new_r;
    Laminar lam(twoRoutes(old_r.port(), new_r.port(), "timeout: 10s"));
    constexpr int kKeys = 1000000, kClients = 4;
    // A thousand of them exist, on both sides: the count adds up across the routes.
    {
        Client c(lam.port());
        for (int i = 0; i < 1000; ++i) c.append({"SET", cat(i % 2 ? "other:" : "k:", i), "x"});
        for (int i = 0; i < 1000; ++i) ASSERT_EQ(show(c.read()), "+OK");
    }
    std::string del = cat("*", kKeys + 1, "\r\n$3\r\nDEL\r\n");
    for (int i = 0; i < kKeys; ++i) {
        auto key = cat(i % 2 ? "other:" : "k:", i);
        del += cat("$", key.size(), "\r\n", key, "\r\n");
    }
    long long rss_before = procStatusKb(lam.pid(), "VmRSS");
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<Client>(lam.port(), 120s));
        clients.back()->sendRaw(del);
    }
    Client bystander(lam.port(), 30s);
    EXPECT_EQ(show(bystander.cmd({"SET", "by", "stander"})), "+OK") << "the splits starve other clients";
    std::vector<std::string> counts;
    for (auto& c : clients) counts.push_back(show(c->read()));
    // Each DEL is split per route and the four run interleaved, so which of them removes which of
    // the thousand varies (one DEL may take a route's 500 while another takes the other route's):
    // a split command is not atomic across routes. Together they remove each key once.
    long long removed = 0;
    for (const auto& c : counts) {
        ASSERT_EQ(c.rfind(':', 0), 0u) << c;
        removed += std::stoll(c.substr(1));
    }
    EXPECT_EQ(removed, 1000) << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
    long long peak = procStatusKb(lam.pid(), "VmHWM");
    clients.clear();
    // The arguments of four DELs (56 MB of requests as read, and their copies) are the bulk of it.
    EXPECT_LT(peak - rss_before, 360 * 1024 + kSanitizerSlackKb) << "VmRSS " << rss_before << " kB before, VmHWM " << peak << " kB";
#ifndef __SANITIZE_ADDRESS__
    // (ASan's allocator keeps what it freed in its quarantine and does not give it back: not the
    // code under test.)
    EXPECT_TRUE(waitFor([&] { return procStatusKb(lam.pid(), "VmRSS") < rss_before + 64 * 1024; }, 10s))
        << "VmRSS " << procStatusKb(lam.pid(), "VmRSS") << " kB after, " << rss_before << " kB before";
#endif
    std::cout << "[ million-key DEL x" << kClients << " ] VmRSS " << rss_before << " kB before, VmHWM " << peak << " kB, VmRSS "
              << procStatusKb(lam.pid(), "VmRSS") << " kB after\n";
    EXPECT_EQ(infoNumber(old_r.port(), "keyspace", "db0"), -1) << "keys left on old";
}

// A client that sends half a command and closes: the FIN comes with the bytes, in the one edge
// epoll reports for both. A read shorter than asked for was taken for "drained", so the end was
// never read, and the socket stayed in CLOSE-WAIT, counted as a client for good.
TEST(FaultTest, ClientsThatCloseAfterHalfACommandAreAllClosed) {
    RedisServer redis;
    Laminar lam(proxyConfig(redis.port()));
    Client live(lam.port());
    ASSERT_EQ(show(live.cmd({"SET", "k", "v"})), "+OK");
    long long fds_before = openFds(lam.pid());
    constexpr int kClients = 3000;
    const std::vector<std::string> halves = {"*2\r\n$3\r\nGET", "*2\r\n$3\r\nGET\r\n$1\r\n", "GE", "*1\r\n$4\r\nPI"};
    for (int i = 0; i < kClients; ++i) {
        int fd = connectRaw(lam.port());
        ASSERT_GE(fd, 0) << "connection " << i;
        // Some with a whole command before the half: its reply may be unread at the close.
        std::string bytes = (i % 3 == 0 ? respCommand({"GET", "k"}) : "") + halves[static_cast<size_t>(i) % halves.size()];
        ASSERT_TRUE(sendAllRaw(fd, bytes));
        ::close(fd);
    }
    // The live client and the INFO probe.
    EXPECT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }, 20s))
        << "laminar_client_connections " << connectedClients(lam.port()) << " with 1 client connected";
    EXPECT_TRUE(waitFor([&] { return openFds(lam.pid()) <= fds_before + 1; }, 10s))
        << openFds(lam.pid()) << " descriptors open, " << fds_before << " before";
    EXPECT_EQ(show(live.cmd({"GET", "k"})), "$v");
    EXPECT_TRUE(lam.process().running());
}

// A hog pipelines GETs of a 1 MB value, reading them or never reading, while a bystander does
// SET+GET round trips on the same I/O thread (one shared connection to redis): the bystander keeps
// at least half the rate it has while the hog is away, and sees no error; the hog's replies never
// time out; a hog that never reads is disconnected at client.max_output. The backend timeout once
// counted from the send, so the hog's queue of big replies timed out every command on the shared
// connection, and a hog that never read starved everyone for as long as it stayed. A hog that
// read as fast as laminar sent left the bystander 1.5% to 5% of its rate: its replies stood ahead
// of every command of the bystander on their one backend connection, until it was moved to a
// connection of its own (the bulk lane) once its replies were seen to be big.
//
// The hog comes and goes: six rounds of 400 ms without it, then 400 ms with it (a new connection,
// 1,000 GETs at once, a reset at the end), and the bystander's round trips are counted by the phase
// they finish in. Comparing phases of the same run keeps a busy machine (another test beside this
// one) from failing it; for the reading hog, each round's rate with it is compared with the rate
// just before, and the best round is asserted, so that a round in which other work took the CPU
// does not fail it either.
void hogAndBystander(bool hog_reads) {
    RedisServer redis;
    // What a hog that never reads costs the others is what laminar moves for it before it is cut
    // off: its own max_output (8 MB here, to cut it off within each round under ASan too).
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\nclient: {max_output: 8mb}\n",
                    "backends:\n  old: {type: redis, address: 127.0.0.1:", redis.port(), "}\n",
                    "routes:\n  - name: default\n    strategy: {type: proxy, target: old}\n"));
    const std::string value(1024 * 1024, 'v');
    ASSERT_EQ(show(Client(lam.port()).cmd({"SET", "big", value})), "+OK");

    constexpr int kRounds = 6, kPhases = 2 * kRounds;  // phase 2r: round r without the hog, 2r+1: with it
    std::atomic<int> phase{-1};
    std::atomic<bool> done{false};
    std::atomic<long long> hog_bytes{0};
    std::array<Clock::time_point, kPhases + 1> starts{};  // written by the hog's thread, read after join()
    std::thread hog([&] {
        std::string pipeline;
        for (int i = 0; i < 1000; ++i) pipeline += respCommand({"GET", "big"});
        std::vector<char> buf(1 << 20);
        int p = 0;
        for (int round = 0; round < kRounds; ++round) {
            starts[static_cast<size_t>(p)] = Clock::now();
            phase = p++;
            std::this_thread::sleep_for(400ms);  // away
            int fd = connectRaw(lam.port());
            if (fd < 0) break;
            timeval tv{0, 20 * 1000};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            starts[static_cast<size_t>(p)] = Clock::now();
            phase = p++;
            auto end = Clock::now() + 400ms;
            bool sent = sendAllRaw(fd, pipeline);
            while (sent && Clock::now() < end) {
                if (!hog_reads) {
                    std::this_thread::sleep_for(10ms);
                    continue;
                }
                ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
                if (n > 0) hog_bytes += n;
            }
            starts[static_cast<size_t>(p)] = Clock::now();
            phase = -1;
            closeWithReset(fd);
        }
        done = true;
    });
    std::array<long long, kPhases> trips{};
    long long bad = 0;
    std::string first_bad;
    {
        Client c(lam.port(), 20s);
        for (long long i = 0; !done; ++i) {
            auto set = show(c.cmd({"SET", cat("by:", i % 50), "v"}));
            auto get = show(c.cmd({"GET", cat("by:", i % 50)}));
            if (set != "+OK" || get != "$v") {
                if (bad++ == 0) first_bad = set + " / " + get;
                if (!c.connected()) break;
                continue;
            }
            if (int p = phase; p >= 0) ++trips[static_cast<size_t>(p)];
        }
    }
    hog.join();
    long long with_hog = 0, without = 0;
    double best = 0;
    std::string rounds;
    for (size_t r = 0; r < static_cast<size_t>(kRounds); ++r) {
        without += trips[2 * r];
        with_hog += trips[2 * r + 1];
        auto ms = [&](size_t p) { return std::max<double>(1, std::chrono::duration<double, std::milli>(starts[p + 1] - starts[p]).count()); };
        if (starts[2 * r + 2] == Clock::time_point{}) break;  // the hog could not connect
        double away = trips[2 * r] / ms(2 * r), there = trips[2 * r + 1] / ms(2 * r + 1);
        double ratio = away > 0 ? there / away : 0;
        best = std::max(best, ratio);
        rounds += cat(" ", trips[2 * r], "/", trips[2 * r + 1], "=", static_cast<int>(ratio * 100), "%");
    }
    std::cout << "[ hog " << (hog_reads ? "reading" : "never reading") << " ] bystander round trips: " << without << " while the hog was away, "
              << with_hog << " while it was there (6 x 400 ms each); per round, away/there and the rate's ratio:" << rounds
              << "; the hog read " << hog_bytes / (1024 * 1024) << " MB\n";
    EXPECT_EQ(bad, 0) << first_bad;
    // The share is asserted in the release build only: under ASan the 8 MB laminar moves for the
    // hog before cutting it off costs several times more CPU, and the share fell to 31% in a CI
    // run (1,334 vs 4,292). The disconnect itself, and no error for the bystander, hold in both.
#if !defined(__SANITIZE_ADDRESS__)
    // Best of six rounds as below: in one CI run a build beside the tests took the CPU from most
    // rounds (27%, 62%, 40%, 19%, 26%, 89%), which says nothing of laminar; a hog that did hold
    // the bystander back would do so in every round.
    if (!hog_reads) {
        EXPECT_GE(best, 0.5) << "the bystander fell under half its rate in every round while the hog was there" << rounds;
    }
    // A hog that reads as fast as laminar sends: its replies no longer stand ahead of the
    // bystander's commands (the bulk lane), and its stream is paced (256 KB a millisecond), so
    // laminar's I/O thread and redis are not kept busy at every hop of the bystander's. Before,
    // the bystander kept 0.7% of its rate; with the bulk lane alone, 2% to 13% a round (three
    // busy threads on 2 cores). Best of six rounds: one round's phases can meet other work on
    // the machine.
    if (hog_reads) {
        EXPECT_GE(best, 0.5) << "in no round did the bystander keep half its rate while the hog was there:" << rounds;
    }
#else
    (void)best;
#endif
    if (hog_reads) {
        // It is served, not cut off: its first commands once went 32 at a time, 32 MB of replies
        // ahead of its first read, and max_output (8 MB) disconnected it in every one of the six
        // rounds. A reader starved of CPU by other work on the machine can still fall 8 MB
        // behind in a round (2 of 6 seen beside a container build), so not every round.
        const std::string log = lam.log(), cut = "pending replies over client.max_output";
        size_t cuts = 0;
        for (auto at = log.find(cut); at != std::string::npos; at = log.find(cut, at + 1)) ++cuts;
        EXPECT_LT(cuts, 6u) << log;
        EXPECT_GE(hog_bytes.load(), 1024 * 1024) << "the hog was not served";
    }
    EXPECT_TRUE(lam.process().running());
    // No command timed out or failed anywhere: the hog's replies were not timed out while the
    // backend streamed them (before, they were, after 12 MB).
    EXPECT_EQ(infoNumber(lam.port(), "laminar", "laminar_errors"), 0) << lam.log();
    // (How much the reading hog gets in its 400 ms depends on the machine: 1.8 GB here in a
    // release build, 3 MB under ASan beside another test. Not asserted.)
    if (!hog_reads) {
        EXPECT_NE(lam.log().find("pending replies over client.max_output"), std::string::npos) << lam.log();
    }
}

TEST(FaultTest, AHogReadingBigRepliesGetsThemWholeAndLeavesABystanderHalfItsRate) { hogAndBystander(true); }
TEST(FaultTest, AHogNeverReadingBigRepliesIsDisconnectedAndLeavesABystanderHalfItsRate) { hogAndBystander(false); }

// ------------------------------------------------------------------ 5. clients that never read

TEST(FaultTest, ClientsThatNeverReadAreDisconnectedOverMaxOutputWhileOthersAreServedAndMemoryStaysBounded) {
    RedisServer redis;
    // The GETs a never-reading client has already sent are answered by redis all the same, and
    // laminar reads and drops those replies on the shared backend connection, ahead of the steady
    // client's commands: up to 1.2 GB here, which can take more than the default 1s backend
    // timeout on a busy machine (every command pending on the connection would then fail). This
    // test is about max_output and memory, so the backend timeout is generous.
    Laminar lam(proxyConfig(redis.port(), "shutdown_timeout: 1s\nclient: {max_output: 4mb}\n", "timeout: 10s"));
    const std::string value(1024 * 1024, 'v');
    {
        Client setup(lam.port());
        ASSERT_EQ(show(setup.cmd({"SET", "big", value})), "+OK");
    }
    Steady steady(lam.port(), "steady:");
    ASSERT_TRUE(waitFor([&] { return steady.ok() > 10; })) << steady.problems();
    ASSERT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }));
    long long rss_before = procStatusKb(lam.pid(), "VmRSS");
    ASSERT_GT(rss_before, 0);

    // Four clients each ask for 300 MB (300 GETs of 1 MB) and read none of it.
    constexpr int kSlow = 4;
    std::string pipeline;
    for (int i = 0; i < 300; ++i) pipeline += respCommand({"GET", "big"});
    std::vector<int> slow;
    for (int i = 0; i < kSlow; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int small = 64 * 1024;  // little kernel buffering on the reading side
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(lam.port()));
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_TRUE(sendAllRaw(fd, pipeline));
        slow.push_back(fd);
    }

    // Only the steady client (and the INFO probe) are left.
    EXPECT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }, 20s))
        << "connected_clients " << connectedClients(lam.port());
    for (int fd : slow) {
        // Closed by laminar: after whatever it sent, EOF or a reset.
        bool closed = false;
        char buf[65536];
        auto deadline = Clock::now() + 10s;
        while (!closed && Clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
        }
        EXPECT_TRUE(closed) << "a client that never read was not disconnected";
        ::close(fd);
    }
    EXPECT_NE(lam.log().find("client.max_output"), std::string::npos) << lam.log();

    long long seen = steady.ok();
    EXPECT_TRUE(waitFor([&] { return steady.ok() > seen + 10; })) << "the steady client stopped";
    steady.stop();
    EXPECT_EQ(steady.problemCount(), 0) << steady.problems();
    Client other(lam.port());
    EXPECT_EQ(other.cmd({"GET", "big"}).str, value);

    long long rss_after = procStatusKb(lam.pid(), "VmRSS"), peak = procStatusKb(lam.pid(), "VmHWM");
    std::cout << "[ never-reading clients ] VmRSS " << rss_before << " kB before, " << rss_after << " kB after, VmHWM " << peak
              << " kB; the clients asked for " << kSlow * 300 << " MB; the steady client's slowest SET+GET took "
              << steady.maxMillis() << " ms\n";
    EXPECT_LT(rss_after, rss_before + 128 * 1024 + kSanitizerSlackKb) << "VmRSS before " << rss_before << " kB, after " << rss_after << " kB";
    EXPECT_LT(peak, rss_before + 256 * 1024 + kSanitizerSlackKb) << "VmHWM " << peak << " kB, VmRSS before " << rss_before << " kB";
}

// ------------------------------------------------------------------ 6. 10,000 idle connections

// Reproduce the README figure: build/f/tests/integration_tests --gtest_filter='FaultTest.TenThousand*'
TEST(FaultTest, TenThousandIdleConnectionsAreAcceptedAndServedAndTheirMemoryIsMeasured) {
    constexpr int kIdle = 10000;
    constexpr rlim_t kNeeded = kIdle + 1024;  // each side: the sockets, plus backends, logs, tests
    rlimit lim{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < kNeeded)
        GTEST_SKIP() << "RLIMIT_NOFILE hard limit is " << lim.rlim_max << ", " << kNeeded
                     << " open files are needed (raise it with `ulimit -Hn` or limits.conf)";
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < kNeeded) {
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? kNeeded : lim.rlim_max;
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
    }

    RedisServer redis;
    // laminar inherits this process's (raised) limit.
    Laminar lam(proxyConfig(redis.port(), cat("client: {max_clients: ", kIdle + 100, "}\n")));
    {
        std::ifstream limits(cat("/proc/", lam.pid(), "/limits"));
        std::string line;
        while (std::getline(limits, line))
            if (line.rfind("Max open files", 0) == 0) {
                std::istringstream in(line.substr(std::string("Max open files").size()));
                std::string soft;
                in >> soft;
                if (soft != "unlimited" && std::stoull(soft) < kNeeded)
                    GTEST_SKIP() << "laminar's open-file limit is " << soft << ", " << kNeeded << " are needed";
            }
    }
    {
        // Warm up: both I/O threads serve a client, so their lazily made state is in the baseline.
        Client a(lam.port()), b(lam.port());
        ASSERT_EQ(show(a.cmd({"SET", "k", "v"})), "+OK");
        ASSERT_EQ(show(b.cmd({"GET", "k"})), "$v");
    }
    ASSERT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 1; }));
    std::this_thread::sleep_for(200ms);
    long long rss_before = procStatusKb(lam.pid(), "VmRSS");

    std::vector<int> fds;
    fds.reserve(kIdle);
    auto start = Clock::now();
    for (int i = 0; i < kIdle; ++i) {
        int fd = connectRaw(lam.port());
        if (fd < 0) {
            ADD_FAILURE() << "connection " << i << " failed: " << std::strerror(errno);
            break;
        }
        fds.push_back(fd);
    }
    auto connected_in = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    ASSERT_EQ(fds.size(), static_cast<size_t>(kIdle));
    EXPECT_TRUE(waitFor([&] { return connectedClients(lam.port()) == kIdle + 1; }, 30s))
        << "connected_clients " << connectedClients(lam.port());
    std::this_thread::sleep_for(200ms);
    long long rss_idle = procStatusKb(lam.pid(), "VmRSS");
    double per_connection_kib = static_cast<double>(rss_idle - rss_before) / kIdle;
    char figure[64];
    std::snprintf(figure, sizeof figure, "%.2f", per_connection_kib);
    std::cout << "[ idle connections ] " << kIdle << " connected in " << connected_in << " ms; VmRSS " << rss_before
              << " kB before, " << rss_idle << " kB with them\n";
    std::cout << "memory per idle connection: " << figure << " KiB\n";

    // A PING on every 100th of them, all sent first, then all read.
    const std::string ping = respCommand({"PING"});
    int pongs = 0;
    for (size_t i = 0; i < fds.size(); i += 100) ASSERT_TRUE(sendAllRaw(fds[i], ping)) << i;
    for (size_t i = 0; i < fds.size(); i += 100) {
        std::string got;
        char buf[64];
        auto deadline = Clock::now() + 10s;
        while (got.size() < 7 && Clock::now() < deadline) {
            pollfd p{fds[i], POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            ssize_t n = ::recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) break;
            got.append(buf, static_cast<size_t>(n));
        }
        if (got == "+PONG\r\n") ++pongs;
        else ADD_FAILURE() << "connection " << i << " answered '" << got << "'";
    }
    EXPECT_EQ(pongs, kIdle / 100);
    // And a command through to the backend, from a new client, with all of them still open.
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$v");

    for (int fd : fds) ::close(fd);
    EXPECT_TRUE(waitFor([&] { return connectedClients(lam.port()) == 2; }, 30s)) << "connected_clients " << connectedClients(lam.port());
    EXPECT_TRUE(lam.process().running());
#ifndef __SANITIZE_ADDRESS__
    // Issue 24: an idle connection holds no buffer (ASan's redzones and shadow are not laminar's).
    EXPECT_LE(per_connection_kib, 2.0) << "VmRSS grew by " << rss_idle - rss_before << " kB for " << kIdle << " idle connections";
#endif
    // A sanity bound, far above what a session should cost: a regression to per-connection
    // buffers of hundreds of KiB fails here.
    EXPECT_LT(per_connection_kib, 64.0) << "VmRSS grew by " << rss_idle - rss_before << " kB for " << kIdle << " idle connections";
}

// ------------------------------------------------------------------ 7. a reload storm under load

// Config variants that keep every key of the test on `old` (so a read-back must always match)
// while changing what a reload rebuilds: the default route's strategy (proxy or dual_write to
// `new`), old's timeout (its connections are replaced), log level and client limits.
std::string stormConfig(int old_port, int new_port, int variant, bool final_route = false) {
    std::string strategy = variant % 2 ? "{type: proxy, target: old}" : "{type: dual_write, primary: old, secondary: new, mode: command}";
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: ", variant % 3 ? "info" : "warn", "}\n",
               "client: {max_clients: ", 1000 + variant, ", max_output: ", 32 + variant % 4, "mb}\n",
               "backends:\n  old: {type: redis, address: 127.0.0.1:", old_port, ", timeout: ", 1000 + 100 * (variant % 5), "ms}\n",
               "  new: {type: redis, address: 127.0.0.1:", new_port, "}\nroutes:\n",
               final_route ? "  - name: final\n    match: {keys: [\"final:*\"]}\n    strategy: {type: proxy, target: new}\n" : "",
               "  - name: default\n    strategy: ", strategy, "\n");
}

// Replaces laminar's config file in one rename, as an operator's tooling should: a reload never
// reads a half-written file.
void replaceConfig(Laminar& lam, std::string yaml) {
    for (size_t pos; (pos = yaml.find("{port}")) != std::string::npos;) yaml.replace(pos, 6, std::to_string(lam.port()));
    auto tmp = lam.configPath() + ".tmp";
    std::ofstream(tmp) << yaml;
    ASSERT_EQ(std::rename(tmp.c_str(), lam.configPath().c_str()), 0);
}

TEST(FaultTest, AStormOfFiftyReloadsUnderLoadGivesNoClientErrorAndAdvancesTheGeneration) {
    RedisServer old_r, new_r;
    Laminar lam(stormConfig(old_r.port(), new_r.port(), 1));
    constexpr int kClients = 3;
    std::atomic<long long> epoch{0};  // redis never goes down here: stays even
    std::atomic<bool> stop{false};
    std::vector<PipelineClient> clients(kClients);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) threads.emplace_back([&, i] { pipelineLoad(clients[i], i, lam.port(), epoch, stop); });
    Steady steady(lam.port(), "steady:");

    Client admin(lam.port(), 10s);
    constexpr int kReloads = 50;
    int by_command = 0;
    auto started = Clock::now();
    for (int i = 0; i < kReloads; ++i) {
        replaceConfig(lam, stormConfig(old_r.port(), new_r.port(), i + 2, i == kReloads - 1));
        if (i % 5 == 4) {
            EXPECT_EQ(show(admin.cmd({"LAMINAR", "RELOAD"})), "+OK") << "reload " << i;
            ++by_command;
        } else {
            lam.process().signal(SIGHUP);  // not waited for: signals may overlap
        }
        std::this_thread::sleep_for(40ms);
    }
    auto storm_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    // The last file (with route `final`) is the one in force once the storm settles.
    EXPECT_TRUE(waitFor([&] { return laminarInfo(admin, "route_final") != ""; }, 10s)) << laminarStatus(admin);
    std::this_thread::sleep_for(300ms);  // load on the settled configuration too
    stop = true;
    for (auto& t : threads) t.join();
    steady.stop();

    long long ok = laminarInfoNumber(admin, "reloads_ok"), generation = laminarInfoNumber(admin, "config_generation");
    std::cout << "[ reload storm ] " << kReloads << " reloads asked for in " << storm_ms << " ms, " << ok
              << " done; generation " << generation << "\n";
    EXPECT_EQ(laminarInfoNumber(admin, "reloads_failed"), 0) << laminarStatus(admin);
    EXPECT_EQ(generation, ok + 1);
    // SIGHUPs that arrive while one is pending merge into one; the LAMINAR RELOADs never do.
    EXPECT_GE(ok, kReloads / 2) << "most reloads should have run";
    EXPECT_LE(ok, kReloads);
    EXPECT_GE(ok, by_command);
    EXPECT_TRUE(lam.process().running()) << lam.log();
    for (int i = 0; i < kClients; ++i) {
        auto& w = clients[i];
        std::string problems;
        for (const auto& p : w.problems) problems += "  " + p + "\n";
        EXPECT_TRUE(w.problems.empty()) << "client " << i << ":\n" << problems;
        EXPECT_EQ(w.errors, 0) << "client " << i << ":\n" << problems;
        EXPECT_GT(w.clean, 20) << "client " << i << ": too little traffic to mean anything";
    }
    EXPECT_EQ(steady.problemCount(), 0) << steady.problems();
    EXPECT_EQ(show(admin.cmd({"SET", "final:k", "v"})), "+OK");
    EXPECT_EQ(show(Client(new_r.port()).cmd({"GET", "final:k"})), "$v");
}

}  // namespace
}  // namespace laminar::test

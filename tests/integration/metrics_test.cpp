// SPDX-License-Identifier: Apache-2.0
// The admin endpoint (admin.metrics) of a real laminar in front of real redis-servers, read over a
// real socket and parsed as Prometheus would: counters move with the traffic that flows while
// they are scraped, reloads and errors are counted by result and kind, route counters follow
// their strategies, /readyz follows the catch-all route's backends, and no HTTP client, however
// slow or malformed, hurts the daemon.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"
#include "support/scrape.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

std::string adminSection(int port) { return cat("admin: {metrics: 127.0.0.1:", port, "}\n"); }

size_t occurrences(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
}

// Counters (and histograms) never go back between two scrapes.
void expectNoCounterWentBack(const Scrape& before, const Scrape& after) {
    for (const auto& s : after.samples) {
        const auto& type = after.types.count(s.name) ? after.types.at(s.name) : std::string("histogram");
        if (type == "gauge") continue;
        double was = before.sum(s.name, s.labels);
        if (!std::isnan(was)) {
            EXPECT_GE(s.value, was) << s.name << " went back";
        }
    }
}

// Every histogram's buckets are cumulative and its +Inf bucket is its count.
void expectHistogramsConsistent(const Scrape& s, const std::string& name, const std::string& label) {
    for (const auto& value : s.labelValues(name + "_count", label)) {
        double previous = 0;
        for (const auto& b : s.samples) {
            if (b.name != name + "_bucket" || b.labels.at(label) != value) continue;
            EXPECT_GE(b.value, previous) << name << " le=" << b.labels.at("le");
            previous = b.value;
        }
        EXPECT_EQ(s.sum(name + "_bucket", {{label, value}, {"le", "+Inf"}}), s.sum(name + "_count", {{label, value}}));
    }
}

class MetricsTest : public ::testing::Test {
protected:
    void start(const std::string& backend_extra = "") {
        lam_ = std::make_unique<Laminar>(proxyConfig(redis_.port(), adminSection(metrics_), backend_extra));
    }
    Scrape now() { return scrape(metrics_); }

    RedisServer redis_;
    int metrics_ = freePort();
    std::unique_ptr<Laminar> lam_;
};

TEST_F(MetricsTest, CountersMoveWithTheTrafficThatFlowsWhileTheyAreScraped) {
    start();
    auto before = now();
    constexpr int kRounds = 50, kKeys = 20;  // each round: kKeys SETs and kKeys GETs, pipelined
    std::atomic<bool> done{false};
    std::thread traffic([&] {
        Client c(lam_->port());
        for (int r = 0; r < kRounds; ++r) {
            std::vector<std::vector<std::string>> commands;
            for (int i = 0; i < kKeys; ++i) {
                commands.push_back({"SET", cat("k", i), cat("v", r)});
                commands.push_back({"GET", cat("k", i)});
            }
            pipeline(c, commands);
        }
        done = true;
    });
    Scrape last = before;
    int scrapes = 0;
    do {
        auto s = now();
        expectNoCounterWentBack(last, s);
        last = s;
        ++scrapes;
    } while (!done);
    traffic.join();

    auto after = now();
    expectNoCounterWentBack(last, after);
    const double sent = kRounds * kKeys;
    auto grew = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
        return after.sum(name, labels) - before.sum(name, labels);
    };
    EXPECT_GE(grew("laminar_commands_total", {{"route", "default"}, {"strategy", "proxy"}, {"class", "write"}}), sent);
    EXPECT_GE(grew("laminar_commands_total", {{"route", "default"}, {"strategy", "proxy"}, {"class", "read"}}), sent);
    EXPECT_GE(grew("laminar_client_commands_total", {}), 2 * sent);
    EXPECT_GE(grew("laminar_backend_latency_seconds_count", {{"backend", "old"}}), 2 * sent);
    EXPECT_GT(grew("laminar_backend_latency_seconds_sum", {{"backend", "old"}}), 0);
    EXPECT_GE(after.sum("laminar_client_connections_total"), 1);
    EXPECT_EQ(after.sum("laminar_errors_total"), 0) << "no command failed";
    expectHistogramsConsistent(after, "laminar_backend_latency_seconds", "backend");
    EXPECT_GE(scrapes, 1);
}

TEST_F(MetricsTest, ShowsTheBuildTheConfigurationAndTheBackends) {
    start();
    auto s = now();
    EXPECT_EQ(s.sum("laminar_build_info"), 1);
    EXPECT_EQ(s.labelValues("laminar_config_info", "file"), std::vector<std::string>{lam_->configPath()});
    EXPECT_EQ(s.labelValues("laminar_config_info", "hash").size(), 1u);
    EXPECT_EQ(s.sum("laminar_config_generation"), 1);
    EXPECT_GE(s.sum("laminar_uptime_seconds"), 0);
    EXPECT_EQ(s.sum("laminar_backend_up", {{"backend", "old"}, {"type", "redis"}}), 1);
    EXPECT_TRUE(waitFor([&] { return now().sum("laminar_backend_connections", {{"backend", "old"}, {"kind", "shared"}}) == 2; }))
        << "one shared connection per I/O thread";
    EXPECT_EQ(s.types.at("laminar_commands_total"), "counter");
    EXPECT_EQ(s.types.at("laminar_backend_latency_seconds"), "histogram");
    EXPECT_EQ(s.types.at("laminar_client_connections"), "gauge");
}

TEST_F(MetricsTest, AClientInATransactionIsPinnedOnADedicatedConnectionUntilItEnds) {
    start();
    Client c(lam_->port());
    ASSERT_EQ(show(c.cmd({"MULTI"})), "+OK");
    // Pinned at the transaction's first key, on that key's backend.
    ASSERT_EQ(show(c.cmd({"SET", "t", "1"})), "+QUEUED");
    EXPECT_TRUE(waitFor([&] { return now().sum("laminar_pinned_clients") == 1; }));
    EXPECT_GE(now().sum("laminar_backend_connections", {{"backend", "old"}, {"kind", "dedicated"}}), 1);
    EXPECT_GE(now().sum("laminar_client_connections"), 1);
    c.cmd({"EXEC"});
    EXPECT_TRUE(waitFor([&] { return now().sum("laminar_pinned_clients") == 0; }));
}

TEST_F(MetricsTest, ReloadsAreCountedByResultAndTheGenerationAndHashFollow) {
    start();
    auto hash1 = now().labelValues("laminar_config_info", "hash");
    lam_->rewriteConfig(proxyConfig(redis_.port(), adminSection(metrics_) + "client: {max_clients: 500}\n"));
    lam_->process().signal(SIGHUP);
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_reloads_total", {{"result", "ok"}}) == 1; })) << lam_->log();
    auto s = now();
    EXPECT_EQ(s.sum("laminar_config_generation"), 2);
    EXPECT_NE(s.labelValues("laminar_config_info", "hash"), hash1);

    lam_->rewriteConfig("routes: [this is not\n");
    lam_->process().signal(SIGHUP);
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_reloads_total", {{"result", "failed"}}) == 1; })) << lam_->log();
    s = now();
    EXPECT_EQ(s.sum("laminar_reloads_total", {{"result", "ok"}}), 1);
    EXPECT_EQ(s.sum("laminar_config_generation"), 2) << "a failed reload changes nothing";
}

// The EXECABORT of a transaction laminar refused a command of is laminar's refusal, not the
// backend's error (it once counted as backend_error, though redis only got DISCARD).
TEST_F(MetricsTest, AnAbortedTransactionCountsAsRefused) {
    start();
    Client c(lam_->port());
    auto before = now();
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_TRUE(c.cmd({"NOSUCHCOMMAND"}).isError());
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    auto s = now();
    auto grew = [&](const std::string& kind) {
        return s.sum("laminar_errors_total", {{"kind", kind}}) - before.sum("laminar_errors_total", {{"kind", kind}});
    };
    EXPECT_EQ(grew("command"), 1);
    EXPECT_EQ(grew("refused"), 1);
    EXPECT_EQ(grew("backend_error"), 0);
}

TEST_F(MetricsTest, ErrorsAreCountedByKind) {
    start("timeout: 300ms");
    Client c(lam_->port());
    auto before = now();
    EXPECT_EQ(before.labelValues("laminar_errors_total", "kind"),
              (std::vector<std::string>{"auth", "backend_error", "backend_timeout", "backend_unavailable", "command", "protocol", "refused"}));
    auto grew = [&](const Scrape& after, const std::string& kind) {
        return after.sum("laminar_errors_total", {{"kind", kind}}) - before.sum("laminar_errors_total", {{"kind", kind}});
    };
    EXPECT_TRUE(c.cmd({"NOSUCHCOMMAND"}).isError());
    EXPECT_TRUE(c.cmd({"MONITOR"}).isError());
    c.cmd({"SET", "s", "x"});
    EXPECT_TRUE(c.cmd({"LPUSH", "s", "y"}).isError());
    redis_.pause();
    auto timed_out = c.cmd({"GET", "s"});
    redis_.resume();
    EXPECT_NE(timed_out.str.find("timed out"), std::string::npos) << timed_out.str;
    Client bad(lam_->port());
    bad.sendRaw("*1\r\n$x\r\n");
    bad.readRawUntilClose(2s);

    auto s = now();
    EXPECT_EQ(grew(s, "command"), 1);
    EXPECT_EQ(grew(s, "refused"), 1);
    EXPECT_EQ(grew(s, "backend_error"), 1);
    EXPECT_EQ(grew(s, "backend_timeout"), 1);
    EXPECT_EQ(grew(s, "protocol"), 1);
    // What reached a route counts under it; what laminar answered before routing, under none.
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", "default"}, {"strategy", "proxy"}, {"kind", "backend_error"}}), 1);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", "default"}, {"strategy", "proxy"}, {"kind", "backend_timeout"}}), 1);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", ""}, {"strategy", ""}, {"kind", "command"}}), 1);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", ""}, {"strategy", ""}, {"kind", "refused"}}), 1);

    redis_.kill();
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_backend_up", {{"backend", "old"}}) == 0; }));
    auto down = c.cmd({"GET", "s"});
    EXPECT_NE(down.str.find("unavailable"), std::string::npos) << down.str;
    s = now();
    EXPECT_EQ(grew(s, "backend_unavailable"), 1);
    EXPECT_EQ(s.sum("laminar_backend_connections", {{"backend", "old"}, {"kind", "shared"}}), 0);
}

TEST_F(MetricsTest, ReadyzIsUnreadyWhileTheCatchAllBackendIsDownAndTheOutageIsLoggedOnce) {
    start();
    auto r = httpRequest(metrics_, "GET", "/readyz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ready\n");
    redis_.kill();
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 503; }));
    r = httpRequest(metrics_, "GET", "/readyz");
    EXPECT_NE(r.body.find("backend 'old'"), std::string::npos) << r.body;
    EXPECT_EQ(httpRequest(metrics_, "GET", "/healthz").status, 200) << "down backends make it unready, not dead";

    redis_.restart();
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 200; }));
    // Once per transition, not once per I/O thread or per reconnect attempt.
    auto name = cat("backend 'old' at 127.0.0.1:", redis_.port());
    ASSERT_TRUE(waitFor([&] { return occurrences(lam_->log(), name + " is up") == 1; })) << lam_->log();
    EXPECT_EQ(occurrences(lam_->log(), name + " is down"), 1u) << lam_->log();
}

// A stopped redis-server (SIGSTOP) still has its connections accepted by the kernel: readiness is
// Redis answering a PING in time on each shared connection, probed when no traffic would tell.
TEST_F(MetricsTest, ReadyzIsUnreadyWhileTheBackendIsStoppedThoughItsKernelAcceptsConnections) {
    start("timeout: 300ms");
    ASSERT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 200; }));
    redis_.pause();
    EXPECT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 503; }, 10s))
        << "no client traffic, and /readyz still says ready with redis stopped";
    auto r = httpRequest(metrics_, "GET", "/readyz");
    EXPECT_NE(r.body.find("backend 'old'"), std::string::npos) << r.body;
    // It stays unready while stopped: the reconnects the kernel accepts do not count as up.
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(httpRequest(metrics_, "GET", "/readyz").status, 503) << "after " << (i + 1) * 500 << " ms more";
    }
    redis_.resume();
    EXPECT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 200; }, 10s));
    // Every thread's connection is back within its reconnect backoff (at most 2 s).
    Client c(lam_->port());
    EXPECT_TRUE(waitFor([&] { return show(c.cmd({"SET", "after", "resume"})) == "+OK"; }, 10s));
}

TEST_F(MetricsTest, OnlyGetAndHeadOfItsThreePathsAreServed) {
    start();
    auto head = httpRequest(metrics_, "HEAD", "/metrics");
    EXPECT_EQ(head.status, 200);
    EXPECT_GT(std::stoul(head.headers["content-length"]), 0u);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(httpRequest(metrics_, "GET", "/healthz").body, "ok\n");
    EXPECT_EQ(httpRequest(metrics_, "GET", "/metrics?name[]=x").status, 200);
    EXPECT_EQ(httpRequest(metrics_, "GET", "/").status, 404);
    EXPECT_EQ(httpRequest(metrics_, "GET", "/metricsz").status, 404);
    auto post = httpRequest(metrics_, "POST", "/metrics");
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.headers["allow"], "GET, HEAD");
    EXPECT_EQ(httpRequest(metrics_, "DELETE", "/readyz").status, 405);
}

TEST_F(MetricsTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    start();
    auto r = httpExchange(metrics_,
                          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok\n");
}

TEST_F(MetricsTest, MalformedOversizedAndSilentHttpClientsHurtNothing) {
    start();
    EXPECT_EQ(httpExchange(metrics_, "NONSENSE\r\n\r\n").status, 400);
    EXPECT_EQ(httpExchange(metrics_, "GET /metrics HTTP/1.1\r\nX-Big: " + repeatChar('a', 64 * 1024) + "\r\n\r\n").status, 400);
    static const char kNuls[] = "GET /metrics HTTP/1.1\r\n\0\0\0\r\n\r\n";
    EXPECT_EQ(httpExchange(metrics_, std::string(kNuls, sizeof kNuls - 1)).status, 400);
    // Clients that connect and say nothing (or half a request) do not hold up the others.
    std::vector<std::thread> silent;
    for (int i = 0; i < 8; ++i) silent.emplace_back([&] { httpExchange(metrics_, "GET /metr", 1500ms); });
    EXPECT_EQ(httpRequest(metrics_, "GET", "/healthz").status, 200);
    for (auto& t : silent) t.join();
    EXPECT_TRUE(lam_->process().running());
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"SET", "still", "serving"})), "+OK");
    EXPECT_NO_THROW(now());
}

TEST_F(MetricsTest, TheMetricsAddressIsRestartOnly) {
    start();
    int elsewhere = freePort();
    lam_->rewriteConfig(proxyConfig(redis_.port(), adminSection(elsewhere)));
    lam_->process().signal(SIGHUP);
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_reloads_total", {{"result", "ok"}}) == 1; })) << lam_->log();
    EXPECT_NE(lam_->log().find("restart-only"), std::string::npos) << lam_->log();
    EXPECT_FALSE(portOpen(elsewhere));
}

TEST_F(MetricsTest, APortInUseFailsTheStartWithAMessage) {
    Laminar first(proxyConfig(redis_.port(), adminSection(metrics_)));
    Laminar second(proxyConfig(redis_.port(), adminSection(metrics_)), false);
    EXPECT_EQ(second.process().wait(10s), 1);
    EXPECT_NE(second.log().find(cat("cannot serve admin.metrics on 127.0.0.1:", metrics_)), std::string::npos) << second.log();
}

// The dashboard shipped in config/ asks only for what /metrics has.
TEST_F(MetricsTest, TheGrafanaDashboardUsesOnlyMetricsLaminarExposes) {
    start();
    std::ifstream in(std::string(LAMINAR_SOURCE_DIR) + "/config/grafana-dashboard.json");
    std::stringstream text;
    text << in.rdbuf();
    ASSERT_FALSE(text.str().empty());
    std::set<std::string> used;
    std::regex name("laminar_[a-z0-9_]+");
    auto body = text.str();
    for (auto it = std::sregex_iterator(body.begin(), body.end(), name); it != std::sregex_iterator(); ++it) used.insert(it->str());
    EXPECT_GE(used.size(), 10u);
    auto s = now();
    for (const auto& metric : used) {
        bool exposed = s.types.count(metric) > 0;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            auto base = metric.substr(0, metric.size() - std::string(suffix).size());
            if (metric.ends_with(suffix) && s.types.count(base) && s.types.at(base) == "histogram") exposed = true;
        }
        EXPECT_TRUE(exposed) << metric << " is in the dashboard but not in /metrics";
    }
}

// A port that is a Redis for an instant: it accepts a connection, answers its first request (the
// PING laminar probes every connection with) +PONG and closes it. A Redis backend there goes up
// and down again on every reconnect: it flaps. stop() closes the listener: connects are refused.
class PongThenClose {
public:
    PongThenClose() {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 16) != 0 ||
            ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("cannot listen on loopback");
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~PongThenClose() { stop(); }
    int port() const { return port_; }
    // Connections answered and closed so far.
    int answered() const { return answered_.load(); }
    void stop() {
        if (stop_.exchange(true)) return;
        thread_.join();
        ::close(listen_);
    }

private:
    void run() {
        while (!stop_) {
            pollfd p{listen_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            pollfd q{c, POLLIN, 0};
            char buf[4096];
            if (::poll(&q, 1, 1000) > 0 && ::recv(c, buf, sizeof buf, 0) > 0 && ::send(c, "+PONG\r\n", 7, MSG_NOSIGNAL) == 7) ++answered_;
            ::close(c);
        }
    }

    int listen_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> answered_{0};
    std::thread thread_;  // last: starts once the members above exist
};

// One backend 'new' of type redis at `port`, with `log` as the log section.
std::string newBackendConfig(int port, int metrics, const std::string& log) {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: ", log, "\n", adminSection(metrics), "backends:\n  new: {type: redis, address: 127.0.0.1:", port,
               "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: new}\n");
}

// The log lines that state the backend's state: `<subject> is up`, `is down: ...`, `is flapping: ...`.
std::vector<std::string> stateLines(const std::string& log, const std::string& subject) {
    std::vector<std::string> out;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);)
        if (line.find(subject + " is ") != std::string::npos) out.push_back(line);
    return out;
}

// The downs and ups the state lines tell of: one for a plain line, the counts of a summary.
std::pair<long, long> toldTransitions(const std::vector<std::string>& lines) {
    static const std::regex summary(R"(is flapping: down (\d+) times?, up (\d+) times? in the last )");
    long downs = 0, ups = 0;
    for (const auto& line : lines) {
        std::smatch m;
        if (std::regex_search(line, m, summary)) {
            downs += std::stol(m[1]);
            ups += std::stol(m[2]);
        } else if (line.find(" is down: ") != std::string::npos) {
            ++downs;
        } else if (line.ends_with(" is up")) {
            ++ups;
        }
    }
    return {downs, ups};
}

// memcached's `stats`, over one connection kept open.
class MemcachedStats {
public:
    explicit MemcachedStats(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("cannot connect to memcached");
    }
    ~MemcachedStats() { ::close(fd_); }
    // The value of `STAT name`, -1 when it cannot be read.
    long get(const std::string& name) {
        if (::send(fd_, "stats\r\n", 7, MSG_NOSIGNAL) != 7) return -1;
        std::string reply;
        char buf[4096];
        while (!reply.ends_with("END\r\n")) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return -1;
            reply.append(buf, static_cast<size_t>(n));
        }
        auto at = reply.find("STAT " + name + " ");
        return at == std::string::npos ? -1 : std::stol(reply.substr(at + name.size() + 6));
    }

private:
    int fd_ = -1;
};

// The issue's reproduction, with a port that really flaps (a memcached port never answers PING, so
// it is never up: next test): laminar logged each of its transitions, dozens a second. Now the
// first two are logged, the rest summed up once per log.flap_interval (10 s by default), and the
// metric counts every one.
TEST(MetricsFlapTest, ABackendThatFlapsIsLoggedTwiceAndThenOncePerIntervalWhileEveryTransitionIsCounted) {
    PongThenClose flapping;
    int metrics = freePort();
    auto started = std::chrono::steady_clock::now();
    Laminar lam(newBackendConfig(flapping.port(), metrics, "{level: info}"));
    // However fast this machine is: until laminar has been up and down 40 times at least (about 2 s).
    ASSERT_TRUE(waitFor([&] { return flapping.answered() >= 40; }, 60s)) << lam.log();
    auto subject = cat("backend 'new' at 127.0.0.1:", flapping.port());
    auto lines = stateLines(lam.log(), subject);
    auto elapsed = std::chrono::steady_clock::now() - started;
    // The first two transitions at once, then a summary per 10 s that passed.
    auto bound = static_cast<size_t>(2 + elapsed / 10s);
    EXPECT_LE(lines.size(), bound) << "after " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms:\n"
                                   << lam.log();
    ASSERT_GE(lines.size(), 2u) << lam.log();
    EXPECT_NE(lines[0].find(subject + " is down: connection closed by server"), std::string::npos) << lines[0];
    EXPECT_TRUE(lines[1].ends_with(subject + " is up")) << lines[1];
    // Only the log is damped: the backend went down about once per connection answered (two I/O
    // threads may overlap a little), and each time is counted.
    double down = 0, up = 0;
    EXPECT_TRUE(waitFor([&] {
        auto s = scrape(metrics);
        down = s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "down"}});
        up = s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "up"}});
        return down >= 20;
    }, 30s)) << down;
    EXPECT_LE(std::abs(down - up), 1) << down << " down, " << up << " up";
}

// When it stops flapping, the next line states where it settled, and the lines add up to every
// transition the metric counted: none is lost, only summed up. (A 1 s interval for a short test.)
TEST(MetricsFlapTest, WhenItStopsFlappingTheLogStatesTheSettledStateAndTellsOfEveryTransition) {
    PongThenClose flapping;
    int metrics = freePort();
    Laminar lam(newBackendConfig(flapping.port(), metrics, "{level: info, flap_interval: 1s}"));
    ASSERT_TRUE(waitFor([&] { return flapping.answered() >= 20; }, 60s)) << lam.log();
    flapping.stop();  // connects are refused from now on: down for good
    auto subject = cat("backend 'new' at 127.0.0.1:", flapping.port());
    double down = 0, up = 0;
    std::vector<std::string> lines;
    auto settled = [&] {
        auto s = scrape(metrics);
        down = s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "down"}});
        up = s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "up"}});
        lines = stateLines(lam.log(), subject);
        auto [told_down, told_up] = toldTransitions(lines);
        return down == up + 1 && told_down == down && told_up == up;
    };
    ASSERT_TRUE(waitFor(settled, 20s)) << down << " down, " << up << " up counted; the log:\n" << lam.log();
    EXPECT_GE(down, 10);
    EXPECT_LT(lines.size(), static_cast<size_t>(down)) << "nothing was summed up";
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const auto& l) { return l.find(" is flapping: ") != std::string::npos; }));
    // The last line says it is down, and why: the failure that took it down the last time (the
    // connects refused since then find it down already).
    auto last = lines.back();
    EXPECT_TRUE(last.find(subject + " is down: connection closed by server") != std::string::npos ||
                (last.find(" is flapping: ") != std::string::npos && last.ends_with("; now down: connection closed by server")))
        << last;
    // Settled: nothing more to say, though laminar keeps reconnecting.
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(stateLines(lam.log(), subject).size(), lines.size()) << lam.log();
}

// memcached's answer to PING is not RESP: the connection fails before Redis ever answered, on every
// reconnect. That is one transition, and one line, however many reconnects follow.
TEST(MetricsFlapTest, ARedisBackendAtAMemcachedPortIsLoggedDownOnce) {
    MemcachedServer memcached;
    int metrics = freePort();
    Laminar lam(newBackendConfig(memcached.port(), metrics, "{level: info}"));
    auto subject = cat("backend 'new' at 127.0.0.1:", memcached.port());
    ASSERT_TRUE(waitFor([&] { return !stateLines(lam.log(), subject).empty(); })) << lam.log();
    // Until laminar has reconnected a few times: memcached counts the connections it accepted (this
    // one included).
    MemcachedStats stats(memcached.port());
    ASSERT_TRUE(waitFor([&] { return stats.get("total_connections") >= 10; }, 60s)) << lam.log();
    auto lines = stateLines(lam.log(), subject);
    ASSERT_EQ(lines.size(), 1u) << lam.log();
    EXPECT_NE(lines[0].find(subject + " is down: protocol error from server"), std::string::npos) << lines[0];
    auto s = scrape(metrics);
    EXPECT_EQ(s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "down"}}), 1);
    EXPECT_EQ(s.sum("laminar_backend_transitions_total", {{"backend", "new"}, {"to", "up"}}), 0);
}

// Two backends: route counters, the sync engine, and readiness that looks at the catch-all only.
class MetricsRoutesTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto routes = route("users", "user:*", "strategy: {type: shadow, primary: old, shadow: new}") +
                      migrationRoute("sessions", "session:*", "dual_write_read_old") +
                      route("frozen", "frozen:*", "strategy: {type: read_only, target: old}");
        lam_ = std::make_unique<Laminar>(twoBackendConfig(old_.port(), new_.port(), routes, 2, adminSection(metrics_)));
    }
    Scrape now() { return scrape(metrics_); }

    RedisServer old_, new_;
    int metrics_ = freePort();
    std::unique_ptr<Laminar> lam_;
};

TEST_F(MetricsRoutesTest, ShadowMismatchesAndKeySyncsAreCountedPerRoute) {
    Client(old_.port()).cmd({"SET", "user:1", "on-old"});
    Client(new_.port()).cmd({"SET", "user:1", "on-new"});
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"GET", "user:1"})), "$on-old");
    EXPECT_TRUE(waitFor([&] { return now().sum("laminar_route_shadow_mismatches_total", {{"route", "users"}}) == 1; }));
    auto s = now();
    EXPECT_EQ(s.sum("laminar_route_shadow_compared_total", {{"route", "users"}}), 1);
    EXPECT_EQ(s.sum("laminar_route_shadow_mismatches_total", {{"route", "default"}}), 0);
    EXPECT_EQ(s.sum("laminar_commands_total", {{"route", "users"}, {"strategy", "shadow"}, {"class", "read"}}), 1);

    for (int i = 0; i < 10; ++i) c.cmd({"INCR", cat("session:", i)});
    EXPECT_TRUE(waitFor([&] { return now().sum("laminar_route_syncs_total", {{"route", "sessions"}}) == 10; }));
    s = now();
    EXPECT_EQ(s.sum("laminar_commands_total", {{"route", "sessions"}, {"strategy", "migration"}, {"class", "write"}}), 10);
    EXPECT_GE(s.sum("laminar_sync_queued_total"), 10);
    EXPECT_EQ(s.sum("laminar_sync_pending_keys"), 0);
}

TEST_F(MetricsRoutesTest, ErrorsCountUnderTheRouteThatMadeThem) {
    Client c(lam_->port());
    EXPECT_TRUE(c.cmd({"SET", "frozen:1", "x"}).isError());
    new_.kill();
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_backend_up", {{"backend", "new"}}) == 0; }));
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "x"})), "+OK") << "the secondary's failure never reaches the client";
    auto s = now();
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", "frozen"}, {"strategy", "read_only"}, {"kind", "refused"}}), 1);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", "sessions"}}), 0);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", "default"}}), 0);
    EXPECT_EQ(s.sum("laminar_errors_total", {{"route", ""}}), 0);
}

TEST_F(MetricsRoutesTest, ABackendOnlyAnotherRouteUsesDoesNotMakeItUnready) {
    // `new` serves the shadow and the migration's copies, but the catch-all sends to `old` alone.
    new_.kill();
    ASSERT_TRUE(waitFor([&] { return now().sum("laminar_backend_up", {{"backend", "new"}}) == 0; }));
    EXPECT_EQ(httpRequest(metrics_, "GET", "/readyz").status, 200);
    old_.kill();
    EXPECT_TRUE(waitFor([&] { return httpRequest(metrics_, "GET", "/readyz").status == 503; }));
}

}  // namespace
}  // namespace laminar::test

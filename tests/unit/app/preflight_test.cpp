// SPDX-License-Identifier: Apache-2.0
// A reload's check of new backend addresses (src/app/preflight.cpp): which backends of the next
// configuration count as new, and what preflight() says about an address that refuses, closes,
// stays silent, or answers in a protocol other than the backend's. The "servers" are loopback
// listeners in this process that answer one probe as the test says.
#include "app/preflight.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "support/loopback.h"

namespace laminar::app {
namespace {

using Type = config::BackendConfig::Type;

// A loopback port where one connection is accepted, the probe read up to its end of line, then
// `answer` written (when not empty); the connection is closed at once when `close_after` is set,
// else once the other side closes it.
class OneShotServer {
public:
    explicit OneShotServer(std::string answer, bool close_after = false) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(fd_, 4), 0);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this, answer = std::move(answer), close_after] {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;  // the test ended without connecting
            char buf[256];
            while (probe_.find('\n') == std::string::npos) {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                probe_.append(buf, static_cast<size_t>(n));
            }
            if (!answer.empty()) (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
            if (!close_after)
                while (::recv(c, buf, sizeof buf, 0) > 0) {
                }
            ::close(c);
        });
    }
    ~OneShotServer() {
        stop();
        ::close(fd_);
    }
    uint16_t port() const { return port_; }
    // What the client sent; read after preflight() returned and the server is done with it.
    std::string probe() {
        stop();
        return probe_;
    }

private:
    void stop() {
        if (!thread_.joinable()) return;
        ::shutdown(fd_, SHUT_RDWR);  // unblocks an accept() still waiting
        thread_.join();
    }

    int fd_ = -1;
    uint16_t port_ = 0;
    std::string probe_;
    std::thread thread_;
};

using laminar::testing::RefusingPort;

config::Endpoint local(uint16_t port) { return {"127.0.0.1", port}; }

config::BackendConfig redis(uint16_t port, std::string name = "new") {
    config::BackendConfig b;
    b.name = std::move(name);
    b.type = Type::kRedis;
    b.address = local(port);
    return b;
}

config::BackendConfig memcached(std::vector<config::Endpoint> servers) {
    config::BackendConfig b;
    b.name = "cache";
    b.type = Type::kMemcached;
    b.servers = std::move(servers);
    return b;
}

config::BackendConfig cluster(std::vector<config::Endpoint> seeds) {
    config::BackendConfig b;
    b.name = "cluster";
    b.type = Type::kRedisCluster;
    b.servers = std::move(seeds);
    b.address = b.servers.front();
    return b;
}

std::string where(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

TEST(PreflightTest, ARedisThatAnswersPongIsUsableAndWasSentAnInlinePing) {
    OneShotServer server("+PONG\r\n");
    EXPECT_EQ(preflight(redis(server.port())), "");
    EXPECT_EQ(server.probe(), "PING\r\n");
}

TEST(PreflightTest, ARedisThatAnswersWithAnErrorSpeaksRedisAllTheSame) {
    OneShotServer server("-NOAUTH Authentication required.\r\n");
    EXPECT_EQ(preflight(redis(server.port())), "");
}

TEST(PreflightTest, AnAnswerThatIsNotRespIsRefusedAndShown) {
    OneShotServer server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(preflight(redis(server.port())),
              where(server.port()) + " does not speak Redis: it answered PING with 'HTTP/1.1 400 Bad Request'");
}

TEST(PreflightTest, AMemcachedServersAnswerToPingIsNotRedis) {
    OneShotServer server("ERROR\r\n");
    EXPECT_EQ(preflight(redis(server.port())), where(server.port()) + " does not speak Redis: it answered PING with 'ERROR'");
}

TEST(PreflightTest, TheAnswerShownIsPrintableAndAtMostSixtyCharacters) {
    OneShotServer server(std::string("\x01\x02", 2) + std::string(100, 'x') + "\r\n");
    EXPECT_EQ(preflight(redis(server.port())),
              where(server.port()) + " does not speak Redis: it answered PING with '??" + std::string(58, 'x') + "'");
}

TEST(PreflightTest, AMemcachedThatAnswersVersionIsUsableAndWasAskedItsVersion) {
    OneShotServer server("VERSION 1.6.21\r\n");
    EXPECT_EQ(preflight(memcached({local(server.port())})), "");
    EXPECT_EQ(server.probe(), "version\r\n");
}

TEST(PreflightTest, ARedisWhereAMemcachedIsExpectedIsRefused) {
    OneShotServer server("-ERR unknown command 'version', with args beginning with: \r\n");
    EXPECT_EQ(preflight(memcached({local(server.port())})),
              where(server.port()) + " does not speak memcached: it answered 'version' with '-ERR unknown command 'version', with args beginning with: '");
}

TEST(PreflightTest, ARefusedConnectionSaysWhere) {
    RefusingPort port;
    EXPECT_EQ(preflight(redis(port.port())), "cannot connect to " + where(port.port()) + ": Connection refused");
}

TEST(PreflightTest, AServerThatClosesWithoutAnsweringIsRefused) {
    OneShotServer server("", true);
    EXPECT_EQ(preflight(redis(server.port())), where(server.port()) + " closed the connection without answering");
}

TEST(PreflightTest, AServerThatDoesNotAnswerWithinTimeoutIsRefused) {
    OneShotServer server("");
    auto b = redis(server.port());
    b.timeout = std::chrono::milliseconds(50);
    EXPECT_EQ(preflight(b), where(server.port()) + " accepted the connection but did not answer within timeout (50 ms)");
}

TEST(PreflightTest, AnAnswerWithoutAnEndOfLineIsNoAnswer) {
    OneShotServer server("+PO");
    auto b = redis(server.port());
    b.timeout = std::chrono::milliseconds(50);
    EXPECT_EQ(preflight(b), where(server.port()) + " accepted the connection but did not answer within timeout (50 ms)")
        << "an answer without an end of line is not an answer";
}

TEST(PreflightTest, LocalhostIsTheIpv4Loopback) {
    OneShotServer server("+PONG\r\n");
    auto b = redis(server.port());
    b.address.host = "localhost";
    EXPECT_EQ(preflight(b), "");
}

TEST(PreflightTest, WithTlsOnlyTheConnectIsChecked) {
    OneShotServer server("");
    auto b = redis(server.port());
    b.tls = config::BackendTlsConfig{};
    b.timeout = std::chrono::milliseconds(60000);  // a probe would wait for this
    EXPECT_EQ(preflight(b), "");
    EXPECT_EQ(server.probe(), "") << "nothing is sent in clear to a TLS server";
}

TEST(PreflightTest, EveryMemcachedServerIsCheckedAndTheFirstBadOneNamed) {
    OneShotServer good("VERSION 1.6.21\r\n");
    RefusingPort bad;
    EXPECT_EQ(preflight(memcached({local(good.port()), local(bad.port())})), "cannot connect to " + where(bad.port()) + ": Connection refused");
}

TEST(PreflightTest, EveryClusterSeedIsChecked) {
    OneShotServer first("+PONG\r\n"), second("+PONG\r\n");
    EXPECT_EQ(preflight(cluster({local(first.port()), local(second.port())})), "");
    EXPECT_EQ(first.probe(), "PING\r\n");
    EXPECT_EQ(second.probe(), "PING\r\n");
}

config::Config withBackends(std::vector<config::BackendConfig> backends) {
    config::Config c;
    c.backends = std::move(backends);
    return c;
}

std::vector<std::string> names(const std::vector<const config::BackendConfig*>& list) {
    std::vector<std::string> out;
    for (const auto* b : list) out.push_back(b->name);
    return out;
}

TEST(NewAddressesTest, AnAddressTheRunningConfigurationHasIsNotNewWhateverItsName) {
    auto running = withBackends({redis(6379, "old"), redis(6380, "new")});
    auto next = withBackends({redis(6380, "renamed"), redis(6379, "old")});
    EXPECT_TRUE(newAddresses(running, next).empty());
}

TEST(NewAddressesTest, OnlyTheBackendsAtNewAddressesAreListedInTheNextConfigurationsOrder) {
    auto running = withBackends({redis(6379, "old")});
    auto next = withBackends({redis(6381, "b"), redis(6379, "old"), redis(6380, "a")});
    auto found = newAddresses(running, next);
    EXPECT_EQ(names(found), (std::vector<std::string>{"b", "a"}));
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0], &next.backends[0]) << "pointers into `next`";
}

TEST(NewAddressesTest, TheSameAddressUnderAnotherTypeIsNew) {
    auto running = withBackends({redis(6379, "old")});
    auto next = withBackends({cluster({local(6379)})});
    EXPECT_EQ(names(newAddresses(running, next)), std::vector<std::string>{"cluster"});
}

TEST(NewAddressesTest, TurningTlsOnOrOffMakesAnAddressNew) {
    auto plain = redis(6379, "old");
    auto tls = plain;
    tls.tls = config::BackendTlsConfig{};
    EXPECT_EQ(names(newAddresses(withBackends({plain}), withBackends({tls}))), std::vector<std::string>{"old"});
    EXPECT_EQ(names(newAddresses(withBackends({tls}), withBackends({plain}))), std::vector<std::string>{"old"});
}

TEST(NewAddressesTest, SettingsOtherThanTheAddressDoNotMakeItNew) {
    auto before = redis(6379, "old");
    auto after = before;
    after.password = "secret";
    after.db = 3;
    after.timeout = std::chrono::milliseconds(5);
    EXPECT_TRUE(newAddresses(withBackends({before}), withBackends({after})).empty());
}

TEST(NewAddressesTest, AMemcachedWithAnotherServerListIsNew) {
    auto running = withBackends({memcached({local(11211)})});
    EXPECT_TRUE(newAddresses(running, withBackends({memcached({local(11211)})})).empty());
    EXPECT_EQ(names(newAddresses(running, withBackends({memcached({local(11211), local(11212)})}))), std::vector<std::string>{"cache"});
}

}  // namespace
}  // namespace laminar::app

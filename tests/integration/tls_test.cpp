// SPDX-License-Identifier: Apache-2.0
// TLS towards clients and towards backends, with real parts: Debian's redis-server (built with
// TLS) on a TLS port, redis-cli --tls as the client, certificates made by the openssl command for
// this test run, and laminar on both sides of a TLS hop.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>

#include "support/harness.h"
#include "support/more.h"
#include "support/scrape.h"

namespace laminar::test {
namespace {

// A test CA with a server certificate (localhost, 127.0.0.1) and a client certificate, plus a
// second CA nobody trusts with a server certificate of its own.
struct Certs {
    std::string dir;
    std::string path(const std::string& name) const { return dir + "/" + name; }
};

void sh(const std::string& command) {
    int status = 0;
    auto out = run(command + " 2>&1", &status);
    if (status != 0) throw std::runtime_error("'" + command + "' failed: " + out);
}

const Certs& certs() {
    static const Certs c = [] {
        Certs c{tempDir()};
        std::ofstream(c.path("server.ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
        std::ofstream(c.path("client.ext")) << "extendedKeyUsage=clientAuth\n";
        const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        auto ca = [&](const std::string& name) {
            sh("cd " + c.dir + " && openssl req -x509 " + key + " -keyout " + name + ".key -out " + name + ".crt -days 2 -subj '/CN=" + name + "'");
        };
        auto leaf = [&](const std::string& name, const std::string& ca_name, const std::string& ext) {
            sh("cd " + c.dir + " && openssl req " + key + " -keyout " + name + ".key -out " + name + ".csr -subj '/CN=" + name + "'");
            sh("cd " + c.dir + " && openssl x509 -req -in " + name + ".csr -CA " + ca_name + ".crt -CAkey " + ca_name + ".key -CAcreateserial -out " +
               name + ".crt -days 2 -extfile " + ext);
        };
        ca("ca");
        ca("other-ca");
        leaf("server", "ca", "server.ext");
        leaf("client", "ca", "client.ext");
        leaf("other-server", "other-ca", "server.ext");
        return c;
    }();
    return c;
}

// redis-server with a TLS port beside its plain one (the test checks what landed through the
// plain one). `auth_clients`: redis asks laminar for a client certificate.
class TlsRedis {
public:
    explicit TlsRedis(bool auth_clients = false)
        : tls_port_(freePort()),
          server_({"--tls-port", std::to_string(tls_port_), "--tls-cert-file", certs().path("server.crt"), "--tls-key-file",
                   certs().path("server.key"), "--tls-ca-cert-file", certs().path("ca.crt"), "--tls-auth-clients",
                   auth_clients ? "yes" : "no"}) {
        if (!waitFor([&] { return portOpen(tls_port_); })) throw std::runtime_error("redis-server's TLS port did not open");
    }
    int tlsPort() const { return tls_port_; }
    int plainPort() const { return server_.port(); }

private:
    int tls_port_;
    RedisServer server_;
};

std::string backendConfig(int port, const std::string& tls, const std::string& top = "") {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\n", top,
               "backends:\n  old: {type: redis, address: 127.0.0.1:", port, ", connect_timeout: 2s, tls: ", tls,
               "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n");
}

std::string redisCli(const std::string& args, int* status = nullptr) { return run("timeout 20 redis-cli " + args + " 2>&1", status); }

TEST(TlsBackend, VerifiedAgainstTheConfiguredCa) {
    TlsRedis redis;
    Laminar lam(backendConfig(redis.tlsPort(), "{ca: " + certs().path("ca.crt") + "}"));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"SET", "k", "over tls"})), "+OK");
    auto info = show(c.cmd({"INFO", "laminar"}));
    EXPECT_NE(info.find(",tls=verified"), std::string::npos) << info;
    EXPECT_NE(info.find("tls_port:0\r\n"), std::string::npos) << info;
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "$over tls");
    EXPECT_EQ(show(Client(redis.plainPort()).cmd({"GET", "k"})), "$over tls");
    // A pipeline of 10,000 commands and a 4 MB value: TLS records split and joined anywhere.
    std::string big = repeatChar('v', 4 << 20);
    c.append({"SET", "big", big});
    for (int i = 0; i < 10000; ++i) c.append({"SET", "p:" + std::to_string(i), std::to_string(i)});
    c.append({"GET", "big"});
    EXPECT_EQ(show(c.read()), "+OK");
    int ok = 0;
    for (int i = 0; i < 10000; ++i) ok += show(c.read()) == "+OK";
    EXPECT_EQ(ok, 10000);
    auto r = c.read();
    EXPECT_EQ(r.str.size(), big.size());
    EXPECT_TRUE(r.str == big);
    EXPECT_EQ(show(Client(redis.plainPort()).cmd({"GET", "p:9999"})), "$9999");
}

TEST(TlsBackend, AnUntrustedCertificateIsRefusedWithAnErrorNamingTheBackend) {
    TlsRedis redis;
    Laminar lam(backendConfig(redis.tlsPort(), "{ca: " + certs().path("other-ca.crt") + "}"));
    Client c(lam.port());
    auto r = show(c.cmd({"GET", "k"}));
    EXPECT_NE(r.find("old"), std::string::npos) << r;
    EXPECT_NE(r.find("certificate verify failed"), std::string::npos) << r;
    EXPECT_NE(r.find("self-signed certificate in certificate chain"), std::string::npos) << r;
}

TEST(TlsBackend, ANameTheCertificateDoesNotCarryIsRefused) {
    TlsRedis redis;
    Laminar lam(backendConfig(redis.tlsPort(), "{ca: " + certs().path("ca.crt") + ", server_name: redis.example.com}"));
    Client c(lam.port());
    auto r = show(c.cmd({"GET", "k"}));
    EXPECT_NE(r.find("certificate verify failed"), std::string::npos) << r;
    EXPECT_NE(r.find("hostname mismatch"), std::string::npos) << r;
}

TEST(TlsBackend, TheSystemStoreIsTheDefaultAndVerifyFalseAcceptsAnything) {
    TlsRedis redis;
    {
        // `tls: true`: verification against the system's CAs, which do not know the test CA.
        Laminar lam(backendConfig(redis.tlsPort(), "true"));
        auto r = show(Client(lam.port()).cmd({"GET", "k"}));
        EXPECT_NE(r.find("certificate verify failed"), std::string::npos) << r;
    }
    Laminar lam(backendConfig(redis.tlsPort(), "{verify: false}"));
    EXPECT_EQ(show(Client(lam.port()).cmd({"SET", "k", "v"})), "+OK");
}

TEST(TlsBackend, PlainTcpToATlsPortFailsFastInsteadOfHanging) {
    TlsRedis redis;
    Laminar lam(backendConfig(redis.tlsPort(), "false"));
    Client c(lam.port(), std::chrono::seconds(5));
    auto r = c.cmd({"GET", "k"});
    EXPECT_TRUE(r.isError()) << show(r);
}

TEST(TlsBackend, MutualTlsPresentsTheClientCertificate) {
    TlsRedis redis(/*auth_clients=*/true);
    {
        Laminar lam(backendConfig(redis.tlsPort(), "{ca: " + certs().path("ca.crt") + "}"));
        auto r = Client(lam.port()).cmd({"GET", "k"});
        EXPECT_TRUE(r.isError()) << show(r);
    }
    Laminar lam(backendConfig(redis.tlsPort(), "{ca: " + certs().path("ca.crt") + ", cert: " + certs().path("client.crt") +
                                                   ", key: " + certs().path("client.key") + "}"));
    EXPECT_EQ(show(Client(lam.port()).cmd({"SET", "k", "mutual"})), "+OK");
    EXPECT_EQ(show(Client(redis.plainPort()).cmd({"GET", "k"})), "$mutual");
}

std::string clientTlsConfig(int redis_port, int tls_port, const std::string& extra = "") {
    return cat("listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\nadmin: {metrics: 127.0.0.1:", freePort(), "}\n",
               "tls:\n  listen: 127.0.0.1:", tls_port, "\n  cert: ", certs().path("server.crt"), "\n  key: ", certs().path("server.key"),
               "\n", extra, "backends:\n  old: {type: redis, address: 127.0.0.1:", redis_port,
               "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n");
}

int metricsPort(const std::string& yaml) {
    auto at = yaml.find("metrics: 127.0.0.1:");
    return std::stoi(yaml.substr(at + 19));
}

TEST(TlsClients, RedisCliOverTlsBesideThePlainPort) {
    RedisServer redis;
    int tls_port = freePort();
    auto yaml = clientTlsConfig(redis.port(), tls_port);
    Laminar lam(yaml);
    ASSERT_TRUE(waitFor([&] { return portOpen(tls_port); }));
    std::string tls = "--tls --cacert " + certs().path("ca.crt") + " -h 127.0.0.1 -p " + std::to_string(tls_port);
    EXPECT_EQ(redisCli(tls + " SET k secret"), "OK\n");
    EXPECT_EQ(redisCli(tls + " GET k"), "secret\n");
    // The plain port still serves plain clients.
    EXPECT_EQ(show(Client(lam.port()).cmd({"GET", "k"})), "$secret");
    // A client that does not trust laminar's certificate gives up; laminar counts the failure.
    int status = 0;
    auto out = redisCli("--tls --cacert " + certs().path("other-ca.crt") + " -p " + std::to_string(tls_port) + " PING", &status);
    EXPECT_EQ(out.find("PONG"), std::string::npos) << out;
    // A plain client on the TLS port is closed, not left hanging.
    Client plain(tls_port, std::chrono::seconds(5));
    auto r = plain.cmd({"PING"});
    EXPECT_NE(show(r), "+PONG");
    EXPECT_TRUE(waitFor([&] {
        return scrape(metricsPort(yaml)).sum("laminar_client_tls_handshake_failures_total") >= 2;
    })) << lam.log();
    // Still serving; INFO says where TLS is and how many handshakes failed.
    EXPECT_EQ(redisCli(tls + " PING"), "PONG\n");
    auto info = show(Client(lam.port()).cmd({"INFO", "laminar"}));
    EXPECT_NE(info.find("tls_port:" + std::to_string(tls_port) + "\r\n"), std::string::npos) << info;
    EXPECT_EQ(info.find("tls_handshake_failures:0\r\n"), std::string::npos) << info;
}

TEST(TlsClients, ACertificateIsRequiredWhenACaIsGiven) {
    RedisServer redis;
    int tls_port = freePort();
    Laminar lam(clientTlsConfig(redis.port(), tls_port, "  ca: " + certs().path("ca.crt") + "\n"));
    ASSERT_TRUE(waitFor([&] { return portOpen(tls_port); }));
    std::string base = "--tls --cacert " + certs().path("ca.crt") + " -p " + std::to_string(tls_port);
    EXPECT_EQ(redisCli(base + " PING").find("PONG"), std::string::npos);
    EXPECT_EQ(redisCli(base + " --cert " + certs().path("client.crt") + " --key " + certs().path("client.key") + " PING"), "PONG\n");
}

TEST(TlsClients, LaminarOnBothSidesOfATlsHop) {
    // client --plain--> edge laminar --TLS--> inner laminar (TLS on its only port) --plain--> redis
    RedisServer redis;
    Laminar inner(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\ntls:\n  cert: ", certs().path("server.crt"),
                      "\n  key: ", certs().path("server.key"), "\nbackends:\n  old: {type: redis, address: 127.0.0.1:", redis.port(),
                      "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n"));
    Laminar edge(backendConfig(inner.port(), "{ca: " + certs().path("ca.crt") + ", server_name: localhost}"));
    Client c(edge.port());
    EXPECT_EQ(show(c.cmd({"SET", "hop", "1"})), "+OK");
    for (int i = 0; i < 5000; ++i) c.append({"INCR", "hop"});
    long long last = 0;
    for (int i = 0; i < 5000; ++i) last = c.read().integer;
    EXPECT_EQ(last, 5001);
    EXPECT_EQ(show(Client(redis.port()).cmd({"GET", "hop"})), "$5001");
    // MULTI and a blocking command ride dedicated connections: TLS there too.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    c.cmd({"INCR", "hop"});
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[:5002]");
    EXPECT_EQ(show(c.cmd({"BLPOP", "nothing", "0.1"})), "(nil)");
}

TEST(TlsClients, AReloadReadsARenewedCertificate) {
    RedisServer redis;
    int tls_port = freePort();
    auto dir = tempDir();
    sh("cp " + certs().path("server.crt") + " " + dir + "/live.crt && cp " + certs().path("server.key") + " " + dir + "/live.key");
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\ntls:\n  listen: 127.0.0.1:", tls_port, "\n  cert: ", dir,
                    "/live.crt\n  key: ", dir, "/live.key\nbackends:\n  old: {type: redis, address: 127.0.0.1:", redis.port(),
                    "}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: old}\n"));
    ASSERT_TRUE(waitFor([&] { return portOpen(tls_port); }));
    auto ping = [&](const std::string& ca) { return redisCli("--tls --cacert " + certs().path(ca) + " -p " + std::to_string(tls_port) + " PING"); };
    EXPECT_EQ(ping("ca.crt"), "PONG\n");
    sh("cp " + certs().path("other-server.crt") + " " + dir + "/live.crt && cp " + certs().path("other-server.key") + " " + dir + "/live.key");
    lam.process().signal(SIGHUP);
    EXPECT_TRUE(waitFor([&] { return ping("other-ca.crt") == "PONG\n"; })) << lam.log();
    EXPECT_NE(ping("ca.crt"), "PONG\n");
}

TEST(TlsTools, CopyAndVerifyReadAndWriteTlsBackends) {
    TlsRedis from;
    RedisServer to;
    Client seed(from.plainPort());
    for (int i = 0; i < 300; ++i) seed.cmd({"SET", "k:" + std::to_string(i), std::string(i * 10, 'x')});
    seed.cmd({"RPUSH", "list", "a", "b", "c"});
    seed.cmd({"PEXPIRE", "list", "600000"});
    auto dir = tempDir();
    std::ofstream(dir + "/c.yaml") << "backends:\n  old: {address: 127.0.0.1:" << from.tlsPort() << ", tls: {ca: " << certs().path("ca.crt")
                                   << "}}\n  new: {address: 127.0.0.1:" << to.port() << "}\nroutes:\n  - {name: d, strategy: old}\n";
    int status = -1;
    auto out = run(cat("'", LAMINAR_BINARY, "' copy -c ", dir, "/c.yaml --from old --to new 2>&1"), &status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(show(Client(to.port()).cmd({"LRANGE", "list", "0", "-1"})), "[$a, $b, $c]");
    EXPECT_EQ(show(Client(to.port()).cmd({"DBSIZE"})), ":301");
    out = run(cat("'", LAMINAR_BINARY, "' verify -c ", dir, "/c.yaml --a old --b new 2>&1"), &status);
    EXPECT_EQ(status, 0) << out;
    // An untrusted certificate stops the tool with the reason.
    std::ofstream(dir + "/bad.yaml") << "backends:\n  old: {address: 127.0.0.1:" << from.tlsPort() << ", tls: true}\n  new: {address: 127.0.0.1:"
                                     << to.port() << "}\nroutes:\n  - {name: d, strategy: old}\n";
    out = run(cat("'", LAMINAR_BINARY, "' verify -c ", dir, "/bad.yaml --a old --b new 2>&1"), &status);
    EXPECT_NE(status, 0);
    EXPECT_NE(out.find("certificate verify failed"), std::string::npos) << out;
}

TEST(TlsConfig, CheckConfigNamesAMissingOrMismatchedFile) {
    auto dir = tempDir();
    auto check = [&](const std::string& yaml) {
        std::ofstream(dir + "/c.yaml") << yaml;
        int status = 0;
        auto out = run(std::string(LAMINAR_BINARY) + " --check-config " + dir + "/c.yaml 2>&1", &status);
        return std::make_pair(status, out);
    };
    auto base = [&](const std::string& tls) {
        return "listen: 127.0.0.1:6999\ntls: " + tls + "\nbackends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - {name: d, strategy: old}\n";
    };
    auto [s1, o1] = check(base("{cert: /nonexistent.crt, key: " + certs().path("server.key") + "}"));
    EXPECT_NE(s1, 0);
    EXPECT_NE(o1.find("tls.cert: cannot read '/nonexistent.crt'"), std::string::npos) << o1;
    auto [s2, o2] = check(base("{cert: " + certs().path("server.crt") + ", key: " + certs().path("client.key") + "}"));
    EXPECT_NE(s2, 0);
    EXPECT_NE(o2.find("key values mismatch"), std::string::npos) << o2;
    auto [s3, o3] = check(base("{cert: " + certs().path("server.crt") + ", key: " + certs().path("server.key") + "}"));
    EXPECT_EQ(s3, 0) << o3;
}

}  // namespace
}  // namespace laminar::test

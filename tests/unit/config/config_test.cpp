// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/config_error.h"

namespace laminar::config {
namespace {

const char* kMinimal = R"(backends:
  old: {type: redis, address: 127.0.0.1:6379}
routes:
  - name: default
    strategy: {type: proxy, target: old}
)";

std::string errorOf(const std::string& yaml) {
    return laminar::testing::configError([&] { loadString(yaml, "laminar.yaml"); });
}

TEST(ConfigTest, AppliesTheContractDefaultsToAMinimalFile) {
    auto cfg = loadString(kMinimal, "laminar.yaml");
    EXPECT_EQ(cfg.listen.str(), "127.0.0.1:6380");
    EXPECT_EQ(cfg.threads, 0);
    EXPECT_EQ(cfg.log.level, "info");
    EXPECT_EQ(cfg.client.max_clients, 10000u);
    EXPECT_EQ(cfg.client.max_bulk, 512ull << 20);
    EXPECT_EQ(cfg.client.max_output, 64ull << 20);
    EXPECT_FALSE(cfg.client.allow_admin);
    EXPECT_FALSE(cfg.client.password);
    ASSERT_EQ(cfg.backends.size(), 1u);
    EXPECT_EQ(cfg.backends[0].timeout.count(), 1000);
    EXPECT_EQ(cfg.backends[0].connect_timeout.count(), 500);
    EXPECT_EQ(cfg.routes[0].strategy.yaml_path, "routes[0].strategy");
    EXPECT_FALSE(cfg.admin.metrics) << "no admin section: no metrics endpoint";
}

TEST(ConfigTest, ReadsTheMetricsAddressAndNullAsOff) {
    auto cfg = loadString(std::string("admin: {metrics: 127.0.0.1:9121}\n") + kMinimal, "x");
    ASSERT_TRUE(cfg.admin.metrics);
    EXPECT_EQ(cfg.admin.metrics->str(), "127.0.0.1:9121");
    EXPECT_FALSE(loadString(std::string("admin: {metrics: null}\n") + kMinimal, "x").admin.metrics);
    EXPECT_FALSE(loadString(std::string("admin:\n") + kMinimal, "x").admin.metrics);
}

TEST(ConfigTest, ReadsIoSchedulingWithAdaptiveByDefault) {
    EXPECT_EQ(loadString(kMinimal, "x").io_scheduling, IoScheduling::kAdaptive);
    EXPECT_EQ(loadString(std::string("io_scheduling: batch\n") + kMinimal, "x").io_scheduling, IoScheduling::kBatch);
    EXPECT_EQ(loadString(std::string("io_scheduling: normal\n") + kMinimal, "x").io_scheduling, IoScheduling::kNormal);
    EXPECT_EQ(errorOf(std::string("threads: 1\nio_scheduling: fifo\n") + kMinimal),
              "laminar.yaml:2: io_scheduling: must be adaptive, batch or normal, got 'fifo'");
}

TEST(ConfigTest, ReadsTheFlapIntervalWithTenSecondsByDefaultAndZeroAsNoDamping) {
    EXPECT_EQ(loadString(kMinimal, "x").log.flap_interval, std::chrono::seconds(10));
    EXPECT_EQ(loadString(std::string("log: {flap_interval: 2500ms}\n") + kMinimal, "x").log.flap_interval, std::chrono::milliseconds(2500));
    EXPECT_EQ(loadString(std::string("log: {flap_interval: 0s}\n") + kMinimal, "x").log.flap_interval, std::chrono::milliseconds(0));
    EXPECT_NE(errorOf(std::string("log: {flap_interval: often}\n") + kMinimal).find("log.flap_interval: must be a duration"), std::string::npos);
}

TEST(ConfigTest, ReadsTheQueueAndCanarySectionsWithTheirDefaults) {
    auto cfg = loadString(kMinimal, "x");
    EXPECT_EQ(cfg.queue.dir, "/var/lib/laminar/queue");
    EXPECT_EQ(cfg.queue.fsync, QueueConfig::Fsync::kEverySec);
    EXPECT_EQ(cfg.queue.max_bytes, 1ull << 30);
    EXPECT_EQ(cfg.queue.when_full, QueueConfig::WhenFull::kReject);
    EXPECT_EQ(cfg.canary.every.count(), 0) << "canaries are off unless configured";
    cfg = loadString(std::string("queue: {dir: /tmp/q, fsync: always, max_bytes: 2mb, when_full: block, block_timeout: 2s}\n"
                                 "canary: {every: 1s, ttl: 10s}\n") + kMinimal, "x");
    EXPECT_EQ(cfg.queue.dir, "/tmp/q");
    EXPECT_EQ(cfg.queue.fsync, QueueConfig::Fsync::kAlways);
    EXPECT_EQ(cfg.queue.max_bytes, 2ull << 20);
    EXPECT_EQ(cfg.queue.when_full, QueueConfig::WhenFull::kBlock);
    EXPECT_EQ(cfg.queue.block_timeout.count(), 2000);
    EXPECT_EQ(cfg.canary.every.count(), 1000);
    EXPECT_EQ(cfg.canary.ttl.count(), 10000);
    EXPECT_EQ(cfg.canary.stale.count(), 3000) << "stale defaults to 3 x every";
}

TEST(ConfigTest, RejectsBadQueueAndCanarySettingsWithTheirLine) {
    EXPECT_EQ(errorOf(std::string("queue:\n  fsync: sometimes\n") + kMinimal),
              "laminar.yaml:2: queue.fsync: must be always, everysec or no, got 'sometimes'");
    EXPECT_EQ(errorOf(std::string("queue:\n  when_full: drop\n") + kMinimal),
              "laminar.yaml:2: queue.when_full: must be reject, block or sync, got 'drop'");
    EXPECT_EQ(errorOf(std::string("queue:\n  dirr: /tmp\n") + kMinimal), "laminar.yaml:2: queue.dirr: unknown key");
    EXPECT_EQ(errorOf(std::string("canary:\n  every: 10s\n  ttl: 1s\n") + kMinimal),
              "laminar.yaml:2: canary.ttl: must be at least canary.every (a canary must outlive the next one)");
}

TEST(ConfigTest, ReadsUsersWithPerRouteRights) {
    auto cfg = loadString(std::string("client:\n  users:\n    app: {password: pw, access: read, routes: {default: write}, admin: true}\n") + kMinimal, "x");
    ASSERT_EQ(cfg.client.users.size(), 1u);
    const auto& u = cfg.client.users[0];
    EXPECT_EQ(u.name, "app");
    EXPECT_EQ(u.password, "pw");
    EXPECT_TRUE(u.admin);
    EXPECT_EQ(u.on("default"), UserConfig::Access::kWrite);
    EXPECT_EQ(u.on("elsewhere"), UserConfig::Access::kRead);
}

TEST(ConfigTest, RejectsBadUsersWithTheirLine) {
    EXPECT_EQ(errorOf(std::string("client:\n  users:\n    app: {access: read}\n") + kMinimal),
              "laminar.yaml:3: client.users.app.password: is required and must not be empty");
    EXPECT_EQ(errorOf(std::string("client:\n  users:\n    app: {password: pw, access: all}\n") + kMinimal),
              "laminar.yaml:3: client.users.app.access: must be none, read or write, got 'all'");
    EXPECT_EQ(errorOf(std::string("client:\n  users:\n    default: {password: pw}\n") + kMinimal),
              "laminar.yaml:3: client.users.default: must be a name other than 'default' (the default user's password is client.password)");
    EXPECT_EQ(errorOf(std::string("client:\n  users:\n    app: {password: pw, routes: {nope: read}}\n") + kMinimal),
              "laminar.yaml:3: client.users.app.routes.nope: no route named 'nope'");
}

TEST(ConfigTest, RejectsABadMetricsAddressWithItsLine) {
    EXPECT_EQ(errorOf(std::string("admin:\n  metrics: 9121\n") + kMinimal), "laminar.yaml:2: admin.metrics: must be host:port, got '9121'");
    EXPECT_EQ(errorOf(std::string("admin:\n  metrics: metrics.example:9121\n") + kMinimal),
              "laminar.yaml:2: admin.metrics: must be an IP address and port, got 'metrics.example:9121'");
    EXPECT_EQ(errorOf(std::string("listen: 127.0.0.1:7000\nadmin:\n  metrics: 127.0.0.1:7000\n") + kMinimal),
              "laminar.yaml:3: admin.metrics: must differ from listen");
    EXPECT_EQ(errorOf(std::string("admin:\n  metrics: 127.0.0.1:9121\n  metric: x\n") + kMinimal), "laminar.yaml:3: admin.metric: unknown key");
}

// A file that exists (the loader checks certificate paths are readable, not their contents).
std::string someFile() {
    static const std::string path = [] {
        std::string p = ::testing::TempDir() + "laminar-config-test.pem";
        std::ofstream(p) << "not checked here\n";
        return p;
    }();
    return path;
}

TEST(ConfigTest, ReadsTlsForClientsAndBackends) {
    auto f = someFile();
    auto cfg = loadString("tls: {listen: 127.0.0.1:6390, cert: " + f + ", key: " + f + ", ca: " + f + "}\n" +
                              "backends:\n  a: {address: redis.example:6380, tls: true}\n"
                              "  b: {address: 10.0.0.1:6380, tls: {ca: " + f + ", cert: " + f + ", key: " + f +
                              ", server_name: redis.example, verify: false}}\n  c: {address: 10.0.0.2:6379, tls: false}\n"
                              "routes:\n  - {name: d, strategy: a}\n",
                          "x");
    ASSERT_TRUE(cfg.tls);
    EXPECT_EQ(cfg.tls->listen->str(), "127.0.0.1:6390");
    EXPECT_EQ(cfg.tls->client_certs, ServerTlsConfig::ClientCerts::kRequire) << "a CA means client certificates are required";
    ASSERT_TRUE(cfg.backends[0].tls);
    EXPECT_TRUE(cfg.backends[0].tls->verify) << "verification is on by default";
    EXPECT_TRUE(cfg.backends[0].tls->ca.empty()) << "the system's CAs by default";
    ASSERT_TRUE(cfg.backends[1].tls);
    EXPECT_FALSE(cfg.backends[1].tls->verify);
    EXPECT_EQ(cfg.backends[1].tls->server_name, "redis.example");
    EXPECT_FALSE(cfg.backends[2].tls);
    EXPECT_FALSE(loadString(kMinimal, "x").tls) << "plain TCP unless configured";
}

TEST(ConfigTest, RejectsBadTlsSettingsWithTheirLine) {
    auto f = someFile();
    EXPECT_EQ(errorOf("tls:\n  cert: /nonexistent/c.pem\n  key: " + f + "\n" + kMinimal),
              "laminar.yaml:2: tls.cert: cannot read '/nonexistent/c.pem': No such file or directory");
    EXPECT_EQ(errorOf("tls:\n  cert: " + f + "\n" + kMinimal), "laminar.yaml:2: tls: needs cert and key (the certificate chain and private key laminar presents)");
    EXPECT_EQ(errorOf("tls:\n  cert: " + f + "\n  key: " + f + "\n  client_certs: require\n" + kMinimal),
              "laminar.yaml:4: tls.client_certs: needs tls.ca, the CA client certificates are checked against");
    EXPECT_EQ(errorOf("listen: 127.0.0.1:7000\ntls:\n  listen: 127.0.0.1:7000\n  cert: " + f + "\n  key: " + f + "\n" + kMinimal),
              "laminar.yaml:3: tls.listen: must differ from listen (leave it out to make listen itself TLS)");
    EXPECT_EQ(errorOf("backends:\n  old: {address: 127.0.0.1:6379, tls: maybe}\nroutes:\n  - {name: d, strategy: old}\n"),
              "laminar.yaml:2: backends.old.tls: must be true or a mapping {ca, cert, key, verify, server_name}, got 'maybe'");
    EXPECT_EQ(errorOf("backends:\n  old: {address: 127.0.0.1:6379, tls: {cert: " + f + "}}\nroutes:\n  - {name: d, strategy: old}\n"),
              "laminar.yaml:2: backends.old.tls: cert and key go together (a client certificate needs its key)");
    EXPECT_EQ(errorOf("backends:\n  m: {type: memcached, servers: [127.0.0.1:11211], tls: true}\nroutes:\n  - {name: d, strategy: m}\n"),
              "laminar.yaml:2: backends.m.tls: TLS to memcached is not supported (libmemcached 1.1 has no TLS); use a TLS tunnel");
}

TEST(ConfigTest, ReadsARedisClusterBackend) {
    auto cfg = loadString("backends:\n  cl: {type: redis_cluster, seeds: [127.0.0.1:7000, 127.0.0.1:7001], password: pw, retry_window: 5s}\n"
                          "routes:\n  - {name: d, strategy: cl}\n",
                          "x");
    const auto& b = cfg.backends[0];
    EXPECT_EQ(b.type, BackendConfig::Type::kRedisCluster);
    EXPECT_STREQ(b.typeName(), "redis_cluster");
    EXPECT_EQ(b.where(), "127.0.0.1:7000,127.0.0.1:7001");
    EXPECT_EQ(b.retry_window.count(), 5000);
    EXPECT_EQ(errorOf("backends:\n  cl: {type: redis_cluster}\nroutes:\n  - {name: d, strategy: cl}\n"),
              "laminar.yaml:2: backends.cl.seeds: must list at least one host:port of a cluster node");
    EXPECT_EQ(errorOf("backends:\n  cl: {type: redis_cluster, seeds: [127.0.0.1:7000], db: 2}\nroutes:\n  - {name: d, strategy: cl}\n"),
              "laminar.yaml:2: backends.cl.db: a Redis Cluster has only database 0");
    EXPECT_EQ(errorOf("backends:\n  cl: {type: redis_cluster, seeds: [127.0.0.1:7000], address: 127.0.0.1:1}\nroutes:\n  - {name: d, strategy: cl}\n"),
              "laminar.yaml:2: backends.cl.address: unknown key");
}

TEST(ConfigTest, ReadsEveryClientSetting) {
    auto cfg = loadString(std::string("client: {password: pw, max_clients: 5, idle_timeout: 30s, max_bulk: 1kb, max_output: 2mb, allow_admin: true}\n") + kMinimal, "x");
    EXPECT_EQ(*cfg.client.password, "pw");
    EXPECT_EQ(cfg.client.max_clients, 5u);
    EXPECT_EQ(cfg.client.idle_timeout.count(), 30000);
    EXPECT_EQ(cfg.client.max_bulk, 1024u);
    EXPECT_EQ(cfg.client.max_output, 2u << 20);
    EXPECT_TRUE(cfg.client.allow_admin);
}

TEST(ConfigTest, NamesFileLineAndPathOfAnUnknownKey) {
    EXPECT_EQ(errorOf(std::string("client:\n  max_clientz: 5\n") + kMinimal), "laminar.yaml:2: client.max_clientz: unknown key");
}

TEST(ConfigTest, RejectsARouteListWithoutAFinalCatchAll) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    match: {keys: ['a:*']}\n    strategy: old\n");
    EXPECT_NE(err.find("routes[0].match: the last route is the catch-all"), std::string::npos) << err;
}

TEST(ConfigTest, RejectsACatchAllBeforeTheLastRoute) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: old\n  - name: b\n    strategy: old\n");
    EXPECT_NE(err.find("routes[0].match: only the last route may be a catch-all"), std::string::npos) << err;
}

TEST(ConfigTest, RejectsWrongTypesWithTheValueSeen) {
    EXPECT_NE(errorOf(std::string("threads: many\n") + kMinimal).find("threads: must be an integer, got 'many'"), std::string::npos);
    EXPECT_NE(errorOf(std::string("client: {idle_timeout: 5}\n") + kMinimal).find("client.idle_timeout: must be a duration"), std::string::npos);
    EXPECT_NE(errorOf(std::string("client: {max_bulk: lots}\n") + kMinimal).find("client.max_bulk: must be a size"), std::string::npos);
    EXPECT_NE(errorOf(std::string("listen: nowhere\n") + kMinimal).find("listen: must be host:port"), std::string::npos);
    EXPECT_NE(errorOf(std::string("log: {format: xml}\n") + kMinimal).find("log.format: must be text or json"), std::string::npos);
}

TEST(ConfigTest, RejectsAZeroBackendTimeout) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1, timeout: 0s}\nroutes:\n  - name: a\n    strategy: old\n");
    EXPECT_EQ(err, "laminar.yaml:2: backends.old.timeout: must be positive, got 0s");
}

TEST(ConfigTest, ReadsAMemcachedBackend) {
    auto cfg = loadString("backends:\n  mc: {type: memcached, servers: [127.0.0.1:11211, 127.0.0.1:11212], timeout: 200ms, "
                          "binary_protocol: true, key_hash: true, max_value: 2mb, pool: 8}\n"
                          "routes:\n  - name: a\n    strategy: mc\n",
                          "x");
    const auto& b = cfg.backends[0];
    EXPECT_EQ(b.type, BackendConfig::Type::kMemcached);
    ASSERT_EQ(b.servers.size(), 2u);
    EXPECT_EQ(b.where(), "127.0.0.1:11211,127.0.0.1:11212");
    EXPECT_EQ(b.timeout.count(), 200);
    EXPECT_TRUE(b.binary_protocol);
    EXPECT_TRUE(b.key_hash);
    EXPECT_EQ(b.max_value, 2u << 20);
    EXPECT_EQ(b.pool, 8);
}

TEST(ConfigTest, RejectsAMemcachedBackendWithoutServersOrWithRedisKeys) {
    const char* routes = "routes:\n  - name: a\n    strategy: mc\n";
    EXPECT_NE(errorOf(std::string("backends:\n  mc: {type: memcached}\n") + routes).find("backends.mc.servers: must list at least one host:port"),
              std::string::npos);
    EXPECT_EQ(errorOf(std::string("backends:\n  mc: {type: memcached, servers: [127.0.0.1:1], db: 2}\n") + routes),
              "laminar.yaml:2: backends.mc.db: unknown key");
    EXPECT_NE(errorOf(std::string("backends:\n  mc: {type: memcached, servers: [nowhere]}\n") + routes).find("backends.mc.servers[0]: must be host:port"),
              std::string::npos);
    EXPECT_NE(errorOf(std::string("backends:\n  r: {address: 127.0.0.1:1, pool: 2}\n") + "routes:\n  - name: a\n    strategy: r\n").find("backends.r.pool: unknown key"),
              std::string::npos);
}

TEST(ConfigTest, RejectsMalformedYamlWithItsLine) {
    auto err = errorOf("backends: {old: [\n");
    EXPECT_EQ(err.rfind("laminar.yaml:", 0), 0u) << err;
}

// Found by fuzz_config: YAML allows a list or mapping as a key (`? {a: b}`), and yaml-cpp's
// conversion of one to a name threw past ConfigError, ending --check-config and a reload with
// `terminate`.
TEST(ConfigTest, RejectsAListOrMappingAsAKeyWithItsLine) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: old\n    ? after: new\n");
    EXPECT_NE(err.find("laminar.yaml:6: routes[0]: a key must be a name, not a list or mapping"), std::string::npos) << err;
    err = errorOf("backends:\n  ? [old, new]: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    strategy: old\n");
    EXPECT_NE(err.find("laminar.yaml:2: backends: a key must be a name, not a list or mapping"), std::string::npos) << err;
}

TEST(ConfigTest, RejectsDuplicateRouteNames) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n    match: {keys: ['x*']}\n    strategy: old\n  - name: a\n    strategy: old\n");
    EXPECT_NE(err.find("duplicate route name 'a'"), std::string::npos) << err;
}

TEST(ConfigTest, RequiresExactlyOneOfStrategyAndMigration) {
    auto err = errorOf("backends:\n  old: {address: 127.0.0.1:1}\nroutes:\n  - name: a\n");
    EXPECT_NE(err.find("routes[0].strategy: a route needs exactly one of strategy or migration"), std::string::npos) << err;
}

TEST(ConfigTest, HashChangesWithTheFileAndOnlyWithIt) {
    auto a = loadString(kMinimal, "x"), b = loadString(kMinimal, "y");
    auto c = loadString(std::string("threads: 1\n") + kMinimal, "x");
    EXPECT_EQ(a.hash, b.hash);
    EXPECT_NE(a.hash, c.hash);
}

}  // namespace
}  // namespace laminar::config

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/node/node.h>

namespace laminar::config {

using Millis = std::chrono::milliseconds;

// A configuration that cannot be used. what() is "file:line: yaml.path: message", the form
// `laminar --check-config` prints and a failed reload logs.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Endpoint {
    std::string host;
    uint16_t port = 0;
    std::string str() const;
    bool operator==(const Endpoint&) const = default;
};

// Fields marked restart-only are read once at start; a reload that changes them is reported and
// otherwise ignored. Everything else takes effect on reload.
struct LogConfig {
    std::string level = "info";   // trace | debug | info | warn | error | off
    std::string format = "text";  // text | json
    Millis summary_every{10000};  // sync failure summary lines, per direction with failures
    // A backend's up/down lines beyond the first two in this long are summed up, one line per
    // interval (backend/flap_damper.h); 0 logs every transition.
    Millis flap_interval{10000};
};

// A named client user (AUTH name password): what it may do on each route, and whether it may run
// admin commands (LAMINAR ..., and what client.allow_admin passes to backends).
struct UserConfig {
    enum class Access { kNone, kRead, kWrite };
    std::string name;
    std::string password;
    Access access = Access::kWrite;             // on routes not listed in `routes`
    std::map<std::string, Access> routes;       // by route name
    bool admin = false;
    Access on(const std::string& route) const {
        auto it = routes.find(route);
        return it == routes.end() ? access : it->second;
    }
    bool operator==(const UserConfig&) const = default;
};

struct ClientConfig {
    std::optional<std::string> password;   // the default user's; when set, clients must AUTH first
    std::vector<UserConfig> users;         // named users; with any, clients must AUTH first
    uint64_t max_clients = 10000;
    Millis idle_timeout{0};                // 0 = never
    uint64_t max_bulk = 512ull << 20;      // largest bulk string accepted
    uint64_t max_output = 64ull << 20;     // pending reply bytes before the client is disconnected
    bool allow_admin = false;              // pass CONFIG, FLUSHALL, DEBUG... to backends
};

struct AdminConfig {
    std::optional<Endpoint> metrics;  // restart-only; HTTP /metrics, /healthz, /readyz; none = off
};

// The durable write queue of queued_write routes (restart-only: opened once, at start or at the
// first reload that brings a queued_write route).
struct QueueConfig {
    enum class Fsync { kAlways, kEverySec, kNo };
    enum class WhenFull { kReject, kBlock, kSync };
    std::string dir = "/var/lib/laminar/queue";
    Fsync fsync = Fsync::kEverySec;
    uint64_t max_bytes = 1ull << 30;       // unapplied bytes (the slowest target's backlog)
    WhenFull when_full = WhenFull::kReject;
    uint64_t segment_bytes = 64ull << 20;  // segment file size
    Millis block_timeout{5000};            // when_full: block waits this long, then refuses
    bool operator==(const QueueConfig&) const = default;
};

// Canaries: a key with a short TTL written and read back through each path, so a path that stops
// working is seen before the application sees it. Off unless configured.
struct CanaryConfig {
    Millis every{0};       // 0 = off
    Millis ttl{30000};     // the canary keys' TTL
    Millis stale{0};       // a queue canary older than this is stale; 0 = 3 x every
    bool operator==(const CanaryConfig&) const = default;
};

// TLS towards a backend: the server's certificate is verified (chain and name) unless told not to.
struct BackendTlsConfig {
    std::string ca;           // CA file the server's certificate must chain to; empty = the system's
    std::string cert, key;    // a client certificate, for servers that ask for one (mutual TLS)
    bool verify = true;       // false: accept any certificate (test setups only)
    std::string server_name;  // SNI and the name checked; empty = the address's host
    bool operator==(const BackendTlsConfig&) const = default;
};

// TLS for clients (restart-only, except that a reload re-reads the certificate files).
struct ServerTlsConfig {
    enum class ClientCerts { kNone, kOptional, kRequire };
    std::optional<Endpoint> listen;  // a TLS port beside `listen`; none = `listen` itself is TLS
    std::string cert, key;           // the certificate chain and private key laminar presents
    std::string ca;                  // CA for client certificates
    ClientCerts client_certs = ClientCerts::kNone;
    bool operator==(const ServerTlsConfig&) const = default;
};

struct BackendConfig {
    enum class Type { kRedis, kMemcached, kRedisCluster };
    std::string name;
    Type type = Type::kRedis;
    Endpoint address;             // redis
    std::vector<Endpoint> servers;  // memcached: keys spread by consistent hashing; redis_cluster: the seeds
    std::optional<std::string> username;
    std::optional<std::string> password;
    int db = 0;
    Millis connect_timeout{500};
    Millis timeout{1000};         // a command without a reply for this long fails the connection
    // redis: how long commands wait behind a script or function the server says it is running
    // (it answers -BUSY to a probe), and how long SCRIPT KILL / FUNCTION KILL wait for an answer.
    Millis busy_timeout{30000};
    int connections = 1;          // redis: shared connections per I/O thread
    std::optional<BackendTlsConfig> tls;  // redis, redis_cluster: none = plain TCP
    // redis_cluster: how long a command keeps being retried through a failover or a resharding
    // (CLUSTERDOWN, TRYAGAIN, a master gone) before its client gets the error.
    Millis retry_window{3000};
    // memcached
    bool binary_protocol = false;
    bool key_hash = false;              // store keys memcached cannot hold under a digest
    uint64_t max_value = 1 << 20;       // the servers' item size limit (memcached -I)
    int pool = 2;                       // threads running libmemcached calls

    const char* typeName() const { return type == Type::kRedis ? "redis" : type == Type::kMemcached ? "memcached" : "redis_cluster"; }
    // "127.0.0.1:6379", or memcached's servers (a cluster's seeds) joined by commas.
    std::string where() const;

    bool operator==(const BackendConfig&) const = default;
};

struct MatchConfig {
    std::vector<std::string> keys;      // globs; empty = any key
    std::vector<std::string> commands;  // "read", "write" or command names; empty = any
};

// A route's strategy as written: compiled (and validated field by field) by the policy layer,
// whose make-functions know each strategy's fields.
struct StrategyConfig {
    YAML::Node node;          // a mapping with `type`, or a bare backend name ("proxy to it")
    std::string yaml_path;    // "routes[2].strategy", for messages
    bool migration = false;   // written as the `migration: {from, to, phase}` shorthand
};

struct RouteConfig {
    std::string name;
    std::optional<MatchConfig> match;   // none = catch-all (only the last route)
    StrategyConfig strategy;
    bool force = false;  // a reload may take this route past the phase guardrails
};

// How the I/O threads ask the kernel to schedule them (io/scheduling.h has why and the rule).
enum class IoScheduling { kAdaptive, kBatch, kNormal };
inline const char* name(IoScheduling m) { return m == IoScheduling::kAdaptive ? "adaptive" : m == IoScheduling::kBatch ? "batch" : "normal"; }

struct Config {
    std::string source;                  // file name, for messages
    std::string hash;                    // of the file's bytes, hex
    Endpoint listen{"127.0.0.1", 6380};  // restart-only
    std::optional<ServerTlsConfig> tls;  // clients over TLS; none = plain TCP only
    int threads = 0;                     // restart-only; 0 = one per core
    Millis shutdown_timeout{5000};       // restart-only; bounded drain on SIGTERM
    std::string state_dir;               // restart-only; where migrations are remembered ("" = in memory only)
    IoScheduling io_scheduling = IoScheduling::kAdaptive;
    LogConfig log;
    ClientConfig client;
    AdminConfig admin;
    QueueConfig queue;
    CanaryConfig canary;
    std::vector<BackendConfig> backends;
    std::vector<RouteConfig> routes;

    const BackendConfig* backend(const std::string& name) const;
    int backendIndex(const std::string& name) const;
};

// Loads and validates. Throws ConfigError naming the file, line and YAML path of the first problem.
Config loadFile(const std::string& path);
Config loadString(const std::string& text, const std::string& source_name);

}  // namespace laminar::config

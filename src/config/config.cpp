// SPDX-License-Identifier: Apache-2.0
#include "config/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/units.h"
#include "config/yaml_reader.h"

namespace laminar::config {
namespace {

bool parseEndpoint(const std::string& text, Endpoint& out) {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    auto ps = std::string_view(text).substr(colon + 1);
    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ec != std::errc() || p != ps.data() + ps.size() || port == 0 || port > 65535) return false;
    out.host = host;
    out.port = static_cast<uint16_t>(port);
    return true;
}

bool isIpAddress(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return host == "localhost" || ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Endpoint endpoint(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
    Endpoint e;
    if (!n.IsScalar() || !parseEndpoint(n.Scalar(), e))
        ctx.fail(n, path, fmt::format("must be host:port, got '{}'", n.IsScalar() ? n.Scalar() : "?"));
    return e;
}

// A certificate, key or CA file: checked readable here, so --check-config finds a wrong path.
std::string readableFile(const Ctx& ctx, MapReader& r, const std::string& key) {
    auto path = r.string(key, "");
    if (path.empty()) return path;
    std::ifstream f(path);
    if (!f) ctx.fail(r.take(key), r.path(key), fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    return path;
}

BackendTlsConfig parseBackendTls(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
    BackendTlsConfig t;
    if (n.IsScalar()) {  // tls: true (the system's CAs, verification on)
        if (n.Scalar() == "true" || n.Scalar() == "yes" || n.Scalar() == "on") return t;
        ctx.fail(n, path, fmt::format("must be true or a mapping {{ca, cert, key, verify, server_name}}, got '{}'", n.Scalar()));
    }
    MapReader r(ctx, n, path);
    t.ca = readableFile(ctx, r, "ca");
    t.cert = readableFile(ctx, r, "cert");
    t.key = readableFile(ctx, r, "key");
    if (t.cert.empty() != t.key.empty()) ctx.fail(n, path, "cert and key go together (a client certificate needs its key)");
    t.verify = r.boolean("verify", true);
    t.server_name = r.string("server_name", "");
    r.finish();
    return t;
}

ServerTlsConfig parseServerTls(const Ctx& ctx, const YAML::Node& n, const Endpoint& listen) {
    ServerTlsConfig t;
    MapReader r(ctx, n, "tls");
    if (auto l = r.take("listen"); l.IsDefined() && !l.IsNull()) {
        t.listen = endpoint(ctx, l, "tls.listen");
        if (*t.listen == listen) ctx.fail(l, "tls.listen", "must differ from listen (leave it out to make listen itself TLS)");
    }
    t.cert = readableFile(ctx, r, "cert");
    t.key = readableFile(ctx, r, "key");
    if (t.cert.empty() || t.key.empty()) ctx.fail(n, "tls", "needs cert and key (the certificate chain and private key laminar presents)");
    t.ca = readableFile(ctx, r, "ca");
    using Certs = ServerTlsConfig::ClientCerts;
    t.client_certs = r.choice<Certs>("client_certs", t.ca.empty() ? Certs::kNone : Certs::kRequire,
                                     {{"none", Certs::kNone}, {"optional", Certs::kOptional}, {"require", Certs::kRequire}});
    if (t.client_certs != ServerTlsConfig::ClientCerts::kNone && t.ca.empty())
        ctx.fail(r.take("client_certs"), "tls.client_certs", "needs tls.ca, the CA client certificates are checked against");
    r.finish();
    return t;
}

BackendConfig parseBackend(const Ctx& ctx, const std::string& name, const YAML::Node& node, const std::string& path) {
    MapReader r(ctx, node, path);
    BackendConfig b;
    b.name = name;
    using Type = BackendConfig::Type;
    b.type = r.choice<Type>("type", Type::kRedis, {{"redis", Type::kRedis}, {"redis_cluster", Type::kRedisCluster}, {"memcached", Type::kMemcached}});
    b.connect_timeout = r.duration("connect_timeout", b.connect_timeout, false);
    b.timeout = r.duration("timeout", b.timeout, false);
    b.busy_timeout = r.duration("busy_timeout", b.busy_timeout, false);
    if (b.type == BackendConfig::Type::kMemcached) {
        auto servers = r.take("servers");
        if (!servers.IsDefined() || !servers.IsSequence() || servers.size() == 0)
            ctx.fail(servers.IsDefined() ? servers : node, r.path("servers"), "must list at least one host:port for a memcached backend");
        for (size_t i = 0; i < servers.size(); ++i)
            b.servers.push_back(endpoint(ctx, servers[i], r.path("servers") + "[" + std::to_string(i) + "]"));
        b.binary_protocol = r.boolean("binary_protocol", false);
        b.key_hash = r.boolean("key_hash", false);
        b.max_value = r.size("max_value", b.max_value, 1024);
        b.pool = static_cast<int>(r.integer("pool", b.pool, 1, 256));
        if (auto t = r.take("tls"); t.IsDefined() && !t.IsNull())
            ctx.fail(t, r.path("tls"), "TLS to memcached is not supported (libmemcached 1.1 has no TLS); use a TLS tunnel");
        r.finish();
        return b;
    }
    if (b.type == BackendConfig::Type::kRedisCluster) {
        auto seeds = r.take("seeds");
        if (!seeds.IsDefined() || !seeds.IsSequence() || seeds.size() == 0)
            ctx.fail(seeds.IsDefined() ? seeds : node, r.path("seeds"), "must list at least one host:port of a cluster node");
        for (size_t i = 0; i < seeds.size(); ++i)
            b.servers.push_back(endpoint(ctx, seeds[i], r.path("seeds") + "[" + std::to_string(i) + "]"));
        b.address = b.servers.front();
        if (auto db = r.take("db"); db.IsDefined() && !(db.IsScalar() && db.Scalar() == "0"))
            ctx.fail(db, r.path("db"), "a Redis Cluster has only database 0");
        b.retry_window = r.duration("retry_window", b.retry_window, true);
    } else {
        auto addr = r.take("address");
        if (!addr.IsDefined()) ctx.fail(node, r.path("address"), "is required for a redis backend");
        b.address = endpoint(ctx, addr, r.path("address"));
        b.db = static_cast<int>(r.integer("db", 0, 0, 1 << 20));
    }
    b.username = r.optString("username");
    b.password = r.optString("password");
    b.connections = static_cast<int>(r.integer("connections", 1, 1, 64));
    if (auto t = r.take("tls"); t.IsDefined() && !t.IsNull()) {
        auto s = t.IsScalar() ? t.Scalar() : std::string();
        if (s != "false" && s != "no" && s != "off") b.tls = parseBackendTls(ctx, t, r.path("tls"));
    }
    r.finish();
    return b;
}

void validateGlob(const Ctx& ctx, const YAML::Node& near, const std::string& path, const std::string& glob) {
    if (glob.empty()) ctx.fail(near, path, "a key glob must not be empty");
    int depth = 0;
    for (size_t i = 0; i < glob.size(); ++i) {
        if (glob[i] == '\\') ++i;
        else if (glob[i] == '[') ++depth;
        else if (glob[i] == ']' && depth > 0) --depth;
    }
    if (depth != 0) ctx.fail(near, path, fmt::format("unbalanced '[' in key glob '{}'", glob));
}

RouteConfig parseRoute(const Ctx& ctx, const YAML::Node& node, const std::string& path) {
    MapReader r(ctx, node, path);
    RouteConfig route;
    route.name = r.string("name", "");
    if (route.name.empty()) ctx.fail(node, r.path("name"), "is required");
    auto match = r.take("match");
    if (match.IsDefined() && !match.IsNull()) {
        MapReader m(ctx, match, r.path("match"));
        MatchConfig mc;
        mc.keys = m.strings("keys");
        for (size_t i = 0; i < mc.keys.size(); ++i)
            validateGlob(ctx, m.take("keys")[i], fmt::format("{}[{}]", m.path("keys"), i), mc.keys[i]);
        mc.commands = m.strings("commands");
        m.finish();
        if (mc.keys.empty() && mc.commands.empty()) ctx.fail(match, r.path("match"), "needs keys or commands");
        route.match = mc;
    }
    auto strategy = r.take("strategy");
    auto migration = r.take("migration");
    if (strategy.IsDefined() == migration.IsDefined())
        ctx.fail(node, r.path("strategy"), "a route needs exactly one of strategy or migration");
    route.strategy.migration = migration.IsDefined();
    route.strategy.node = migration.IsDefined() ? migration : strategy;
    route.strategy.yaml_path = r.path(migration.IsDefined() ? "migration" : "strategy");
    route.force = r.boolean("force", false);
    r.finish();
    return route;
}

std::string hashHex(const std::string& bytes) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return fmt::format("{:016x}", h);
}

void parseLog(const Ctx& ctx, const YAML::Node& n, LogConfig& log) {
    MapReader r(ctx, n, "log");
    log.level = std::string(r.choice<std::string_view>(
        "level", log.level, {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"}, {"off", "off"}}));
    log.format = std::string(r.choice<std::string_view>("format", log.format, {{"text", "text"}, {"json", "json"}}));
    log.summary_every = r.duration("summary_every", log.summary_every, false);
    log.flap_interval = r.duration("flap_interval", log.flap_interval, true);
    r.finish();
}

UserConfig::Access parseAccess(const Ctx& ctx, const YAML::Node& n, const std::string& path) {
    using Access = UserConfig::Access;
    return chooseOne<Access>(ctx, n, path, {{"none", Access::kNone}, {"read", Access::kRead}, {"write", Access::kWrite}});
}

UserConfig parseUser(const Ctx& ctx, const YAML::Node& key, const YAML::Node& node) {
    UserConfig u;
    u.name = key.as<std::string>();
    auto path = "client.users." + u.name;
    if (u.name.empty() || u.name == "default")
        ctx.fail(key, path, "must be a name other than 'default' (the default user's password is client.password)");
    MapReader r(ctx, node, path);
    u.password = r.string("password", "");
    if (u.password.empty()) ctx.fail(node, path + ".password", "is required and must not be empty");
    if (auto a = r.take("access"); a.IsDefined()) u.access = parseAccess(ctx, a, path + ".access");
    if (auto routes = r.take("routes"); routes.IsDefined() && !routes.IsNull()) {
        if (!routes.IsMap()) ctx.fail(routes, path + ".routes", "must be a mapping of route names to none, read or write");
        for (const auto& rv : routes) {
            auto route = rv.first.as<std::string>();
            u.routes[route] = parseAccess(ctx, rv.second, path + ".routes." + route);
        }
    }
    u.admin = r.boolean("admin", false);
    r.finish();
    return u;
}

void parseClient(const Ctx& ctx, const YAML::Node& n, ClientConfig& c) {
    MapReader r(ctx, n, "client");
    c.password = r.optString("password");
    if (c.password && c.password->empty()) ctx.fail(r.take("password"), "client.password", "must not be empty (use null for none)");
    c.max_clients = static_cast<uint64_t>(r.integer("max_clients", static_cast<long long>(c.max_clients), 1, 1'000'000));
    c.idle_timeout = r.duration("idle_timeout", c.idle_timeout, true);
    c.max_bulk = r.size("max_bulk", c.max_bulk, 1);
    c.max_output = r.size("max_output", c.max_output, 1024);
    c.allow_admin = r.boolean("allow_admin", c.allow_admin);
    if (auto users = r.take("users"); users.IsDefined() && !users.IsNull()) {
        if (!users.IsMap()) ctx.fail(users, "client.users", "must be a mapping of user names to {password, access, routes, admin}");
        for (const auto& kv : users) c.users.push_back(parseUser(ctx, kv.first, kv.second));
    }
    r.finish();
}

void parseAdmin(const Ctx& ctx, const YAML::Node& n, Config& cfg) {
    MapReader r(ctx, n, "admin");
    if (auto m = r.take("metrics"); m.IsDefined() && !m.IsNull()) {
        cfg.admin.metrics = endpoint(ctx, m, "admin.metrics");
        // Checked here, not only when binding, so --check-config catches it.
        if (!isIpAddress(cfg.admin.metrics->host))
            ctx.fail(m, "admin.metrics", fmt::format("must be an IP address and port, got '{}'", m.Scalar()));
        if (*cfg.admin.metrics == cfg.listen) ctx.fail(m, "admin.metrics", "must differ from listen");
        if (cfg.tls && cfg.tls->listen == cfg.admin.metrics) ctx.fail(m, "admin.metrics", "must differ from tls.listen");
    }
    r.finish();
}

void parseQueue(const Ctx& ctx, const YAML::Node& n, QueueConfig& q) {
    MapReader r(ctx, n, "queue");
    q.dir = r.string("dir", q.dir);
    if (q.dir.empty()) ctx.fail(r.take("dir"), "queue.dir", "must not be empty");
    using Fsync = QueueConfig::Fsync;
    q.fsync = r.choice<Fsync>("fsync", Fsync::kEverySec, {{"always", Fsync::kAlways}, {"everysec", Fsync::kEverySec}, {"no", Fsync::kNo}});
    q.max_bytes = r.size("max_bytes", q.max_bytes, 1 << 20);
    using WhenFull = QueueConfig::WhenFull;
    q.when_full = r.choice<WhenFull>("when_full", WhenFull::kReject,
                                     {{"reject", WhenFull::kReject}, {"block", WhenFull::kBlock}, {"sync", WhenFull::kSync}});
    q.segment_bytes = r.size("segment_bytes", q.segment_bytes, 4096);
    q.block_timeout = r.duration("block_timeout", q.block_timeout, false);
    r.finish();
}

void parseCanary(const Ctx& ctx, const YAML::Node& n, CanaryConfig& c) {
    MapReader r(ctx, n, "canary");
    c.every = r.duration("every", Millis(5000), false);
    c.ttl = r.duration("ttl", c.ttl, false);
    c.stale = r.duration("stale", Millis(0), true);
    if (c.stale.count() == 0) c.stale = 3 * c.every;
    if (c.ttl < c.every) ctx.fail(n, "canary.ttl", "must be at least canary.every (a canary must outlive the next one)");
    r.finish();
}

void parseRoutes(const Ctx& ctx, const YAML::Node& root, const YAML::Node& routes, Config& cfg) {
    if (!routes.IsDefined() || !routes.IsSequence() || routes.size() == 0)
        ctx.fail(routes.IsDefined() ? routes : root, "routes", "must be a list with at least the catch-all route");
    std::set<std::string> names;
    for (size_t i = 0; i < routes.size(); ++i) {
        auto path = fmt::format("routes[{}]", i);
        cfg.routes.push_back(parseRoute(ctx, routes[i], path));
        const auto& route = cfg.routes.back();
        if (!names.insert(route.name).second) ctx.fail(routes[i]["name"], path + ".name", fmt::format("duplicate route name '{}'", route.name));
        bool last = i + 1 == routes.size();
        if (last && route.match) ctx.fail(routes[i], path + ".match", "the last route is the catch-all and must have no match");
        if (!last && !route.match) ctx.fail(routes[i], path + ".match", "only the last route may be a catch-all (no match)");
    }
    // Routes a user's rights name must exist (the users were read before the routes).
    if (auto client = root["client"]; client.IsMap() && client["users"].IsMap())
        for (const auto& kv : client["users"]) {
            auto routes_node = kv.second.IsMap() ? kv.second["routes"] : YAML::Node();
            if (!routes_node.IsMap()) continue;
            for (const auto& rv : routes_node) {
                auto name = rv.first.as<std::string>();
                if (!names.count(name))
                    ctx.fail(rv.first, "client.users." + kv.first.as<std::string>() + ".routes." + name, fmt::format("no route named '{}'", name));
            }
        }
}

Config parse(const std::string& text, const std::string& source) {
    Ctx ctx{source};
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw ConfigError(fmt::format("{}:{}: {}", source, e.mark.line + 1, e.msg));
    }
    if (!root.IsDefined() || root.IsNull()) throw ConfigError(fmt::format("{}: the file is empty", source));
    Config cfg;
    cfg.source = source;
    cfg.hash = hashHex(text);
    MapReader top(ctx, root, "");
    auto section = [&](const char* key) {  // a top-level mapping, absent or null: left at its defaults
        auto n = top.take(key);
        return n.IsDefined() && !n.IsNull() ? std::optional<YAML::Node>(n) : std::nullopt;
    };

    if (auto n = top.take("listen"); n.IsDefined()) cfg.listen = endpoint(ctx, n, "listen");
    cfg.threads = static_cast<int>(top.integer("threads", 0, 0, 256));
    cfg.shutdown_timeout = top.duration("shutdown_timeout", cfg.shutdown_timeout, true);
    cfg.state_dir = top.string("state_dir", cfg.state_dir);
    cfg.io_scheduling = top.choice<IoScheduling>(
        "io_scheduling", IoScheduling::kAdaptive, {{"adaptive", IoScheduling::kAdaptive}, {"batch", IoScheduling::kBatch}, {"normal", IoScheduling::kNormal}});
    if (auto n = section("tls")) cfg.tls = parseServerTls(ctx, *n, cfg.listen);
    if (auto n = section("log")) parseLog(ctx, *n, cfg.log);
    if (auto n = section("client")) parseClient(ctx, *n, cfg.client);
    if (auto n = section("admin")) parseAdmin(ctx, *n, cfg);
    if (auto n = section("queue")) parseQueue(ctx, *n, cfg.queue);
    if (auto n = section("canary")) parseCanary(ctx, *n, cfg.canary);

    auto backends = top.take("backends");
    if (!backends.IsDefined() || backends.IsNull() || !backends.IsMap() || backends.size() == 0)
        ctx.fail(backends.IsDefined() ? backends : root, "backends", "must name at least one backend");
    for (const auto& kv : backends) {
        auto name = ctx.keyName(kv.first, "backends");
        cfg.backends.push_back(parseBackend(ctx, name, kv.second, "backends." + name));
    }
    parseRoutes(ctx, root, top.take("routes"), cfg);
    top.finish();
    return cfg;
}

}  // namespace

std::string Endpoint::str() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string BackendConfig::where() const {
    if (type == Type::kRedis) return address.str();  // memcached's servers, a cluster's seeds:
    std::string out;
    for (const auto& s : servers) out += (out.empty() ? "" : ",") + s.str();
    return out;
}

const BackendConfig* Config::backend(const std::string& name) const {
    int i = backendIndex(name);
    return i < 0 ? nullptr : &backends[static_cast<size_t>(i)];
}

int Config::backendIndex(const std::string& name) const {
    for (size_t i = 0; i < backends.size(); ++i)
        if (backends[i].name == name) return static_cast<int>(i);
    return -1;
}

Config loadString(const std::string& text, const std::string& source_name) { return parse(text, source_name); }

Config loadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path);
}

}  // namespace laminar::config

// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/libmemcached_store.h"

#include <libmemcached/memcached.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include <fmt/format.h>

namespace laminar::backend::memcached {
namespace {

constexpr long long kThirtyDays = 30LL * 24 * 3600;

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

uint64_t micros(config::Millis ms) { return static_cast<uint64_t>(ms.count()) * 1000; }

// The servers, and how keys are spread over them: the same in every handle, so every handle finds
// a key on the same server.
void distribute(memcached_st* mc, const config::BackendConfig& cfg) {
    for (const auto& s : cfg.servers) memcached_server_add(mc, s.host.c_str(), s.port);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
}

}  // namespace

std::vector<CanaryKey> keyPerServer(const config::BackendConfig& cfg, const std::string& base) {
    memcached_st* mc = memcached_create(nullptr);
    distribute(mc, cfg);
    std::map<std::string, std::string> by_server;
    for (int i = 0; by_server.size() < cfg.servers.size() && i < 100000; ++i) {
        auto key = base + ":" + std::to_string(i);
        memcached_return_t rc;
        if (const memcached_instance_st* inst = memcached_server_by_key(mc, key.data(), key.size(), &rc))
            by_server.emplace(fmt::format("{}:{}", memcached_server_name(inst), memcached_server_port(inst)), key);
    }
    memcached_free(mc);
    std::vector<CanaryKey> keys;
    for (auto& [server, key] : by_server) keys.push_back({std::move(key), "server " + server});
    return keys;
}

LibmemcachedStore::LibmemcachedStore(const config::BackendConfig& cfg) : cfg_(cfg), mc_(memcached_create(nullptr)) {
    distribute(mc_, cfg_);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, cfg_.binary_protocol ? 1 : 0);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, static_cast<uint64_t>(cfg_.connect_timeout.count()));
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, static_cast<uint64_t>(cfg_.timeout.count()));
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_SND_TIMEOUT, micros(cfg_.timeout));
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, micros(cfg_.timeout));
    // A dead server fails fast for a second, then is tried again; keys never move to another
    // server (that would answer misses for keys that exist).
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0);
    // setMany reads back through a key on every server: find one for each.
    for (auto& [key, server] : keyPerServer(cfg_, "laminar:probe")) probe_keys_.push_back(std::move(key));
    buffered_ = memcached_clone(nullptr, mc_);
    memcached_behavior_set(buffered_, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
}

LibmemcachedStore::~LibmemcachedStore() {
    memcached_free(buffered_);
    memcached_free(mc_);
    for (auto& [server, fd] : meta_fds_) ::close(fd);
}

Status LibmemcachedStore::status(int code) { return status(mc_, code); }

Status LibmemcachedStore::status(memcached_st* handle, int code) {
    auto rc = static_cast<memcached_return_t>(code);
    switch (rc) {
        case MEMCACHED_SUCCESS:
        case MEMCACHED_STORED:
        case MEMCACHED_DELETED:
        case MEMCACHED_END: return Status::kOk;
        case MEMCACHED_NOTFOUND: return Status::kMiss;
        case MEMCACHED_NOTSTORED: return Status::kNotStored;
        case MEMCACHED_DATA_EXISTS: return Status::kExists;
        case MEMCACHED_E2BIG: return Status::kTooLarge;
        default: break;
    }
    // libmemcached's message reads "(0x55d0) CONNECTION FAILURE(Connection refused),  host: h:p -> io.cc:145":
    // keep what an operator needs, "CONNECTION FAILURE(Connection refused), host: h:p".
    const char* detail = memcached_last_error_message(handle);
    std::string text = detail && *detail ? detail : memcached_strerror(handle, rc);
    if (text.starts_with("(0x")) text.erase(0, text.find(") ") == std::string::npos ? 0 : text.find(") ") + 2);
    if (auto arrow = text.find(" -> "); arrow != std::string::npos) text.resize(arrow);
    if (auto gap = text.find(",  "); gap != std::string::npos) text.erase(gap + 1, 1);
    error_ = text;
    return Status::kError;
}

Status LibmemcachedStore::get(std::string_view key, Item& item) {
    const char* keys[] = {key.data()};
    size_t lens[] = {key.size()};
    Status st = status(memcached_mget(mc_, keys, lens, 1));
    if (st != Status::kOk) return st;
    memcached_return_t rc;
    bool found = false;
    while (memcached_result_st* r = memcached_fetch_result(mc_, nullptr, &rc)) {
        item.value.assign(memcached_result_value(r), memcached_result_length(r));
        item.cas = memcached_result_cas(r);
        found = true;
        memcached_result_free(r);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS) return status(rc);
    return found ? Status::kOk : Status::kMiss;
}

Status LibmemcachedStore::getMany(std::span<const std::string> keys, std::vector<std::optional<std::string>>& out) {
    return fetchMany(mc_, keys, out);
}

Status LibmemcachedStore::fetchMany(memcached_st* handle, std::span<const std::string> keys, std::vector<std::optional<std::string>>& out) {
    out.assign(keys.size(), std::nullopt);
    if (keys.empty()) return Status::kOk;
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    std::unordered_map<std::string_view, std::vector<size_t>> where;
    for (size_t i = 0; i < keys.size(); ++i) {
        auto& slots = where[keys[i]];
        if (slots.empty()) {
            ptrs.push_back(keys[i].data());
            lens.push_back(keys[i].size());
        }
        slots.push_back(i);
    }
    Status st = status(handle, memcached_mget(handle, ptrs.data(), lens.data(), ptrs.size()));
    if (st != Status::kOk) return st;
    memcached_return_t rc;
    while (memcached_result_st* r = memcached_fetch_result(handle, nullptr, &rc)) {
        std::string_view k(memcached_result_key_value(r), memcached_result_key_length(r));
        if (auto it = where.find(k); it != where.end())
            for (size_t i : it->second) out[i].emplace(memcached_result_value(r), memcached_result_length(r));
        memcached_result_free(r);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS) return status(handle, rc);
    return Status::kOk;
}

Status LibmemcachedStore::store(Mode mode, std::string_view key, std::string_view value, time_t exptime, uint64_t cas) {
    const char* k = key.data();
    const char* v = value.data();
    switch (mode) {
        case Mode::kSet: return status(memcached_set(mc_, k, key.size(), v, value.size(), exptime, 0));
        case Mode::kAdd: return status(memcached_add(mc_, k, key.size(), v, value.size(), exptime, 0));
        case Mode::kReplace: return status(memcached_replace(mc_, k, key.size(), v, value.size(), exptime, 0));
        case Mode::kCas: {
            Status st = status(memcached_cas(mc_, k, key.size(), v, value.size(), exptime, 0, cas));
            return st == Status::kNotStored ? Status::kExists : st;  // the binary protocol says so for a changed item
        }
        case Mode::kAppend: return status(memcached_append(mc_, k, key.size(), v, value.size(), 0, 0));
    }
    return Status::kError;
}

// libmemcached buffers the sets (on a handle of their own: switching buffering on or off makes
// libmemcached close its connections) and writes them together; the read that follows makes it
// consume every set's reply first (get.cc purges what is pending on each server before a get), so
// a lost connection shows as an error here. A set memcached refuses without failing the connection (only
// "SERVER_ERROR out of memory", with memcached -M) is not seen: documented in docs/backends.md.
Status LibmemcachedStore::setMany(std::span<const std::pair<std::string, std::string_view>> items) {
    Status st = Status::kOk;
    for (const auto& [key, value] : items) {
        auto rc = memcached_set(buffered_, key.data(), key.size(), value.data(), value.size(), 0, 0);
        if (rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS) {
            st = status(buffered_, rc);
            break;
        }
    }
    Status flushed = status(buffered_, memcached_flush_buffers(buffered_));
    if (st != Status::kOk) return st;
    if (flushed != Status::kOk) return flushed;
    // On the same connections, so it is answered after every set: once it is, the sets are applied.
    std::vector<std::optional<std::string>> ignored;
    return fetchMany(buffered_, probe_keys_, ignored);
}

Status LibmemcachedStore::incr(std::string_view key, bool decrement, uint64_t delta, uint64_t& result) {
    auto fn = decrement ? memcached_decrement_by_key : memcached_increment_by_key;
    return status(fn(mc_, key.data(), key.size(), key.data(), key.size(), delta, &result));
}

Status LibmemcachedStore::remove(std::string_view key) { return status(memcached_delete(mc_, key.data(), key.size(), 0)); }

Status LibmemcachedStore::touch(std::string_view key, time_t exptime) {
    return status(memcached_touch(mc_, key.data(), key.size(), exptime));
}

Status LibmemcachedStore::flush() { return status(memcached_flush(mc_, 0)); }

Status LibmemcachedStore::ping() {
    Item item;
    Status st = get("laminar:probe", item);
    return st == Status::kMiss ? Status::kOk : st;
}

Status LibmemcachedStore::metaFailed(const std::string& server, std::string why) {
    if (auto it = meta_fds_.find(server); it != meta_fds_.end()) {
        ::close(it->second);
        meta_fds_.erase(it);
    }
    error_ = fmt::format("{}: {}", server, why);
    return Status::kError;
}

int LibmemcachedStore::metaConnection(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return -1;
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if ((rc != 0 && errno != EINPROGRESS) ||
            (rc != 0 && (::poll(&p, 1, static_cast<int>(cfg_.connect_timeout.count())) != 1 ||
                         getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0))) {
            ::close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int LibmemcachedStore::metaFd(const std::string& host, int port, std::string& server) {
    server = fmt::format("{}:{}", host, port);
    auto it = meta_fds_.find(server);
    if (it != meta_fds_.end()) return it->second;
    int fd = metaConnection(host, port);
    if (fd < 0) {
        metaFailed(server, "cannot connect for the meta protocol");
        return -1;
    }
    meta_fds_.emplace(server, fd);
    return fd;
}

bool LibmemcachedStore::metaExchange(int fd, const std::string& server, const std::string& request, std::chrono::milliseconds timeout,
                                     const std::function<bool(std::string_view line)>& last) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto wait = [&](short events) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{fd, events, 0};
        return left > 0 && ::poll(&p, 1, static_cast<int>(left)) == 1;
    };
    for (size_t sent = 0; sent < request.size();) {
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<size_t>(n);
        else if (n < 0 && errno == EAGAIN && wait(POLLOUT)) continue;
        else return metaFailed(server, "send failed"), false;
    }
    std::string buf;
    char chunk[16384];
    size_t scanned = 0;
    for (;;) {
        size_t eol;
        while ((eol = buf.find('\n', scanned)) != std::string::npos) {
            std::string_view line(buf.data() + scanned, eol - scanned);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            scanned = eol + 1;
            if (last(line)) return true;
        }
        if (scanned > 0) {
            buf.erase(0, scanned);
            scanned = 0;
        }
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) buf.append(chunk, static_cast<size_t>(n));
        else if (n < 0 && errno == EAGAIN && wait(POLLIN)) continue;
        else return metaFailed(server, n == 0 ? "connection closed" : "timed out reading a meta reply"), false;
        if (buf.size() > (1u << 20)) return metaFailed(server, "meta reply line too long"), false;
    }
}

namespace {
long long wallMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

int LibmemcachedStore::metaFdFor(std::string_view key, std::string& server) {
    memcached_return_t rc;
    const memcached_instance_st* inst = memcached_server_by_key(mc_, key.data(), key.size(), &rc);
    if (!inst) {
        error_ = memcached_strerror(mc_, rc);
        return -1;
    }
    return metaFd(memcached_server_name(inst), memcached_server_port(inst), server);
}

bool LibmemcachedStore::exchangeWithClock(int fd, const std::string& server, const std::string& request,
                                          const std::function<void(std::string_view line)>& line, long long& server_now) {
    long long before = wallMillis();
    bool in_stats = false;
    server_now = 0;
    bool ok = metaExchange(fd, server, request, cfg_.timeout, [&](std::string_view l) {
        if (!in_stats && !l.starts_with("STAT ")) {
            line(l);
            return false;
        }
        in_stats = true;
        if (l.starts_with("STAT time ")) server_now = std::strtoll(std::string(l.substr(10)).c_str(), nullptr, 10);
        return l == "END" || l.starts_with("ERROR");
    });
    if (!ok || server_now == 0) return false;
    long long after = wallMillis();
    auto steady = std::chrono::steady_clock::now();
    auto& clock = clocks_[server];
    long long lo = server_now * 1000 - after, hi = server_now * 1000 + 1000 - before;
    if (clock.known) {
        // Its tick drifts against ours a little (a timer re-armed after each tick): an old
        // interval widens by 5 ms a second before it narrows the new one.
        long long drift = 5 * std::chrono::duration_cast<std::chrono::seconds>(steady - clock.read).count();
        long long old_lo = clock.lo - drift, old_hi = clock.hi + drift;
        if (old_lo < hi && lo < old_hi) {
            lo = std::max(lo, old_lo);
            hi = std::min(hi, old_hi);
        }
    }
    clock = {lo, hi, true, steady};
    return true;
}

long long LibmemcachedStore::serverTime(std::string_view key, long long now_ms) {
    std::string server;
    int fd = metaFdFor(key, server);
    if (fd < 0) return now_ms / 1000;
    auto& clock = clocks_[server];
    if (!clock.known || std::chrono::steady_clock::now() - clock.read > std::chrono::seconds(10)) {
        long long ignored;
        exchangeWithClock(fd, server, "stats\r\n", [](std::string_view) {}, ignored);
    }
    const auto& c = clocks_[server];
    if (!c.known) return now_ms / 1000;
    long long at = now_ms + (c.lo + c.hi) / 2;
    return at >= 0 ? at / 1000 : (at - 999) / 1000;
}

namespace {
// `mg <key> t` answers "HD t<seconds>" (-1: no expiry) or "EN" (no such key).
Status parseTtl(const std::string& reply, long long& seconds) {
    if (reply == "EN") return Status::kMiss;
    if (reply.starts_with("HD")) {
        auto t = reply.find(" t");
        if (t != std::string::npos) {
            seconds = std::strtoll(reply.c_str() + t + 2, nullptr, 10);
            return Status::kOk;
        }
    }
    return Status::kError;
}
}  // namespace

Status LibmemcachedStore::ttl(std::string_view key, long long& seconds) {
    std::string server;
    int fd = metaFdFor(key, server);
    if (fd < 0) return Status::kError;
    std::string reply;
    if (!metaExchange(fd, server, fmt::format("mg {} t\r\n", key), cfg_.timeout, [&](std::string_view line) {
            reply.assign(line);
            return true;
        }))
        return Status::kError;
    Status st = parseTtl(reply, seconds);
    // An old memcached (before 1.6) answers "ERROR": it has no way to tell a key's time to live.
    if (st == Status::kError)
        return metaFailed(server, fmt::format("unexpected meta reply '{}' (memcached >= 1.6 is needed for TTL)", reply));
    return st;
}

// Up to 30 days the time left is the exptime that keeps the expiry: memcached adds it to the clock
// it subtracted it from. Beyond, the exptime is a unix time on the server's clock: the time left
// plus that clock, read in the same round trip (`stats` right behind `mg`), so a key rewritten
// again and again keeps its expiry to the second instead of drifting by a clock reading each time.
Status LibmemcachedStore::keptExptime(std::string_view key, time_t& exptime) {
    long long t = -1;
    if (Status st = ttl(key, t); st != Status::kOk) return st;
    if (t < 0) return exptime = 0, Status::kOk;
    if (t <= kThirtyDays) return exptime = static_cast<time_t>(std::max<long long>(t, 1)), Status::kOk;
    std::string server;
    int fd = metaFdFor(key, server);
    if (fd < 0) return Status::kError;
    std::string reply;
    long long server_now = 0;
    if (!exchangeWithClock(fd, server, fmt::format("mg {} t\r\nstats\r\n", key), [&](std::string_view line) { reply.assign(line); },
                           server_now))
        return metaFailed(server, "no clock in its stats");
    Status st = parseTtl(reply, t);
    if (st != Status::kOk) return st == Status::kError ? metaFailed(server, fmt::format("unexpected meta reply '{}'", reply)) : st;
    if (t < 0) exptime = 0;
    else if (t <= kThirtyDays) exptime = static_cast<time_t>(std::max<long long>(t, 1));
    else exptime = static_cast<time_t>(std::min<long long>(server_now + t, INT32_MAX));
    return Status::kOk;
}

// `lru_crawler metadump hash` (walking the hash table, which unlike `all` does not skip items moving between LRUs) lists every item as "key=<uri-encoded> exp=... la=... ..." lines,
// then END. The dump of a large cache is large: it gets a minute, not the command timeout.
Status LibmemcachedStore::keys(std::vector<std::string>& out) {
    for (const auto& s : cfg_.servers) {
        std::string server;
        int fd = metaFd(s.host, s.port, server);
        if (fd < 0) return Status::kError;
        std::string failure;
        bool ok = metaExchange(fd, server, "lru_crawler metadump hash\r\n", std::max<std::chrono::milliseconds>(cfg_.timeout, std::chrono::minutes(1)),
                               [&](std::string_view line) {
                                   if (line == "END") return true;
                                   if (!line.starts_with("key=")) {
                                       failure.assign(line);
                                       return true;
                                   }
                                   line.remove_prefix(4);
                                   line = line.substr(0, line.find(' '));
                                   std::string key;
                                   for (size_t i = 0; i < line.size(); ++i) {
                                       int hi, lo;
                                       if (line[i] == '%' && i + 2 < line.size() && (hi = hexDigit(line[i + 1])) >= 0 &&
                                           (lo = hexDigit(line[i + 2])) >= 0) {
                                           key.push_back(static_cast<char>(hi * 16 + lo));
                                           i += 2;
                                       } else {
                                           key.push_back(line[i]);
                                       }
                                   }
                                   out.push_back(std::move(key));
                                   return false;
                               });
        if (!ok) return Status::kError;
        if (!failure.empty()) {
            error_ = fmt::format("{}: lru_crawler metadump: {}", server, failure);
            return Status::kError;
        }
    }
    return Status::kOk;
}

}  // namespace laminar::backend::memcached

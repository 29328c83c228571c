// SPDX-License-Identifier: Apache-2.0
#include "tools/sync_client.h"

#include <hiredis/hiredis.h>
#include <fmt/format.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "backend/cluster/slots.h"
#include "backend/memcached/commands.h"
#include "backend/memcached/libmemcached_store.h"
#include "io/socket_io.h"
#include "io/tls.h"
#include "resp/command_table.h"
#include "resp/numbers.h"

namespace laminar::tools {
namespace {

Value fromHiredis(const redisReply* r) {
    Value v;
    switch (r->type) {
        case REDIS_REPLY_STRING: v.kind = Value::Kind::kString; v.str.assign(r->str, r->len); break;
        case REDIS_REPLY_STATUS: v.kind = Value::Kind::kStatus; v.str.assign(r->str, r->len); break;
        case REDIS_REPLY_ERROR: v.kind = Value::Kind::kError; v.str.assign(r->str, r->len); break;
        case REDIS_REPLY_INTEGER: v.kind = Value::Kind::kInteger; v.integer = r->integer; break;
        case REDIS_REPLY_ARRAY:
            v.kind = Value::Kind::kArray;
            for (size_t i = 0; i < r->elements; ++i) v.elems.push_back(fromHiredis(r->element[i]));
            break;
        default: v.kind = Value::Kind::kNil; break;
    }
    return v;
}

// One blocking connection, plain or TLS: laminar's own socket and TLS layer (hiredis 0.14 has no
// TLS), with hiredis formatting commands and framing replies.
class RedisClient final : public SyncClient {
public:
    explicit RedisClient(const config::BackendConfig& cfg) {
        name_ = cfg.name;
        where_ = cfg.address.str();
        connect(cfg);
        if (cfg.password) {
            std::vector<std::string> auth = {"AUTH"};
            if (cfg.username) auth.push_back(*cfg.username);
            auth.push_back(*cfg.password);
            if (auto v = call(auth); v.isError()) fail("AUTH: " + v.str);
        }
        if (cfg.db != 0)
            if (auto v = call({"SELECT", std::to_string(cfg.db)}); v.isError()) fail("SELECT: " + v.str);
    }
    Value call(const std::vector<std::string>& argv) override { return callMany({argv}).front(); }

    std::vector<Value> callMany(const std::vector<std::vector<std::string>>& commands) override {
        std::string out;
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        for (const auto& argv : commands) {
            ptrs.clear();
            lens.clear();
            for (const auto& a : argv) {
                ptrs.push_back(a.data());
                lens.push_back(a.size());
            }
            char* cmd = nullptr;
            int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
            if (n < 0) fail("out of memory");
            out.append(cmd, static_cast<size_t>(n));
            redisFreeCommand(cmd);
        }
        size_t off = 0;
        if (auto st = tls_ ? tls_->send(out, off) : io::sendPending(fd_, out, off); st != io::IoStatus::kDone) ioFailed(st, "write");
        std::vector<Value> replies;
        while (replies.size() < commands.size()) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader_.get(), &reply) != REDIS_OK) fail(std::string("protocol error: ") + reader_->errstr);
            if (reply) {
                replies.push_back(fromHiredis(static_cast<redisReply*>(reply)));
                freeReplyObject(reply);
                continue;
            }
            bool drained = false;
            in_.consume(in_.size());
            if (auto st = tls_ ? tls_->recv(in_, 64 * 1024, 0, drained) : io::recvSome(fd_, in_, 64 * 1024, 0, drained);
                st != io::IoStatus::kDone)
                ioFailed(st, "read");
            redisReaderFeed(reader_.get(), in_.data().data(), in_.size());
        }
        return replies;
    }

private:
    void connect(const config::BackendConfig& cfg) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        auto host = cfg.address.host == "localhost" ? std::string("127.0.0.1") : cfg.address.host;
        if (int rc = ::getaddrinfo(host.c_str(), std::to_string(cfg.address.port).c_str(), &hints, &found); rc != 0)
            fail(std::string("cannot resolve: ") + ::gai_strerror(rc));
        std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
        fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd_ < 0) fail(std::strerror(errno));
        if (::connect(fd_, found->ai_addr, found->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) fail(std::strerror(errno));
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(cfg.connect_timeout.count())) != 1)
                fail("connect timed out after " + std::to_string(cfg.connect_timeout.count()) + "ms");
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) fail(std::strerror(err));
        }
        // Blocking from here, with a timeout on every read and write: copies of big keys take
        // longer than one proxied command, so at least 30 s.
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL, 0) & ~O_NONBLOCK);
        long long ms = std::max<long long>(cfg.timeout.count(), 30000);
        timeval io{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &io, sizeof io);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &io, sizeof io);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!cfg.tls) return;
        try {
            tls_ = std::make_unique<io::TlsChannel>(io::TlsContext::client(*cfg.tls, cfg.address.host), fd_);
        } catch (const std::exception& e) {
            fail(e.what());
        }
        if (auto st = tls_->handshake(); st != io::IoStatus::kDone) ioFailed(st, "TLS handshake");
    }

    [[noreturn]] void ioFailed(io::IoStatus st, const char* what) {
        if (st == io::IoStatus::kClosed) fail("connection closed by server");
        if (st == io::IoStatus::kWouldBlock) fail(std::string(what) + " timed out");
        if (tls_ && !tls_->error().empty()) fail(tls_->error());
        fail(std::string(what) + ": " + std::strerror(errno));
    }
    [[noreturn]] void fail(const std::string& why) { throw Unreachable(fmt::format("backend '{}' ({}): {}", name_, where_, why)); }

    // Members, so that a constructor that throws closes the socket too; the TLS state goes first.
    struct Socket {
        int fd = -1;
        ~Socket() {
            if (fd >= 0) ::close(fd);
        }
    } socket_;
    int& fd_ = socket_.fd;
    std::unique_ptr<io::TlsChannel> tls_;
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader_{redisReaderCreate(), &redisReaderFree};
    io::Buffer in_{64 * 1024};
    std::string where_;
};

// A Redis Cluster, as the tools need it: each command goes to the master of its key's slot
// (MOVED and ASK followed), SCAN walks every master (the cursor carries which one, as the
// daemon's), DBSIZE and KEYS add up every master's.
class ClusterClient final : public SyncClient {
public:
    explicit ClusterClient(const config::BackendConfig& cfg) : cfg_(cfg) {
        name_ = cfg.name;
        std::string why;
        for (const auto& seed : cfg.servers) {
            try {
                if (loadMap(seed)) return;
                why = seed.str() + ": " + map_error_;
            } catch (const Unreachable& e) {
                why = e.what();
            }
        }
        throw Unreachable(fmt::format("backend '{}' (redis_cluster, seeds {}): no slot map: {}", cfg.name, cfg.where(), why));
    }

    Value call(const std::vector<std::string>& argv) override { return callMany({argv}).front(); }

    std::vector<Value> callMany(const std::vector<std::vector<std::string>>& commands) override {
        // Pipelined per master, in order within each; replies put back in the callers' order.
        std::vector<Value> out(commands.size());
        std::map<std::string, std::vector<size_t>> by_node;
        std::vector<config::Endpoint> where(commands.size());
        for (size_t i = 0; i < commands.size(); ++i) {
            auto slot = slotOf(commands[i]);
            if (!slot) {
                out[i] = keyless(commands[i]);
                continue;
            }
            where[i] = master(*slot);
            by_node[where[i].str()].push_back(i);
        }
        for (auto& [at, indices] : by_node) {
            std::vector<std::vector<std::string>> batch;
            for (size_t i : indices) batch.push_back(commands[i]);
            auto replies = node(where[indices.front()]).callMany(batch);
            for (size_t j = 0; j < indices.size(); ++j) out[indices[j]] = std::move(replies[j]);
        }
        // Redirected or refused for a moment (resharding, failover): one at a time, until settled.
        for (size_t i = 0; i < commands.size(); ++i)
            if (auto slot = slotOf(commands[i])) out[i] = settle(commands[i], *slot, std::move(out[i]));
        return out;
    }

private:
    static std::optional<uint16_t> slotOf(const std::vector<std::string>& argv) {
        std::vector<std::string_view> views(argv.begin(), argv.end());
        const auto* cmd = resp::lookupCommand(views);
        std::vector<int> keys;
        if (cmd) resp::keyIndices(*cmd, views, keys);
        if (keys.empty()) return std::nullopt;
        return backend::cluster::keySlot(views[static_cast<size_t>(keys.front())]);
    }

    Value settle(const std::vector<std::string>& argv, uint16_t slot, Value v) {
        auto deadline = std::chrono::steady_clock::now() + std::max(cfg_.retry_window, std::chrono::milliseconds(1000));
        for (int redirects = 0; v.isError() && redirects < 16; ++redirects) {
            auto redirect = backend::cluster::parseRedirect("-" + v.str + "\r\n", master(slot));
            if (redirect.kind == backend::cluster::Redirect::Kind::kMoved) {
                map_.owner[redirect.slot] = map_.indexOf(redirect.to);
                v = node(redirect.to).call(argv);
            } else if (redirect.kind == backend::cluster::Redirect::Kind::kAsk) {
                auto replies = node(redirect.to).callMany({{"ASKING"}, argv});
                v = std::move(replies[1]);
            } else if ((v.str.starts_with("TRYAGAIN") || v.str.starts_with("CLUSTERDOWN")) && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                loadMap(master(slot));
                v = node(master(slot)).call(argv);
            } else {
                break;
            }
        }
        return v;
    }

    Value keyless(const std::vector<std::string>& argv) {
        std::string name = argv.empty() ? "" : argv[0];
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name == "scan") return scan(argv);
        auto masters = map_.masters;
        if (name == "dbsize") {
            Value sum;
            sum.kind = Value::Kind::kInteger;
            for (const auto& m : masters) {
                auto v = node(m).call(argv);
                if (v.kind != Value::Kind::kInteger) return v;
                sum.integer += v.integer;
            }
            return sum;
        }
        if (name == "keys") {
            Value all;
            all.kind = Value::Kind::kArray;
            for (const auto& m : masters) {
                auto v = node(m).call(argv);
                if (v.kind != Value::Kind::kArray) return v;
                for (auto& e : v.elems) all.elems.push_back(std::move(e));
            }
            return all;
        }
        return node(masters.front()).call(argv);
    }

    // The daemon's SCAN cursor (backend/cluster/slots.h): node cursor * kScanMasters + master index.
    Value scan(std::vector<std::string> argv) {
        using backend::cluster::kScanMasters;
        uint64_t cursor = 0;
        if (argv.size() < 2 || std::from_chars(argv[1].data(), argv[1].data() + argv[1].size(), cursor).ec != std::errc() ||
            cursor % kScanMasters >= map_.masters.size()) {
            Value e;
            e.kind = Value::Kind::kError;
            e.str = "ERR invalid cursor";
            return e;
        }
        size_t m = cursor % kScanMasters;
        argv[1] = std::to_string(cursor / kScanMasters);
        Value v = node(map_.masters[m]).call(argv);
        if (v.kind != Value::Kind::kArray || v.elems.size() != 2) return v;
        uint64_t node_cursor = std::strtoull(v.elems[0].str.c_str(), nullptr, 10);
        v.elems[0].str = std::to_string(backend::cluster::nextScanCursor(node_cursor, m, map_.masters.size()));
        return v;
    }

    const config::Endpoint& master(uint16_t slot) {
        if (const auto* m = map_.master(slot)) return *m;
        throw Unreachable(fmt::format("backend '{}' (redis_cluster): no master serves slot {}", cfg_.name, slot));
    }

    bool loadMap(const config::Endpoint& from) {
        backend::cluster::SlotMap next;
        if (!backend::cluster::parseClusterSlots(node(from).call({"CLUSTER", "SLOTS"}), from, next, map_error_) || next.covered() == 0) {
            if (map_error_.empty()) map_error_ = "no slot is served";
            return false;
        }
        map_ = std::move(next);
        return true;
    }

    SyncClient& node(const config::Endpoint& at) {
        auto& c = nodes_[at.str()];
        if (!c) c = std::make_unique<RedisClient>(backend::cluster::nodeConfig(cfg_, at));
        return *c;
    }

    config::BackendConfig cfg_;
    backend::cluster::SlotMap map_;
    std::string map_error_;
    std::map<std::string, std::unique_ptr<SyncClient>> nodes_;
};

class MemcachedClient final : public SyncClient {
public:
    explicit MemcachedClient(const config::BackendConfig& cfg)
        : store_(cfg), translator_(store_, {cfg.name, cfg.key_hash, cfg.max_value}) {
        name_ = cfg.name;
        if (store_.ping() != backend::memcached::Status::kOk)
            throw Unreachable(fmt::format("backend '{}' ({}): {}", cfg.name, cfg.where(), store_.error()));
    }
    Value call(const std::vector<std::string>& argv) override {
        std::vector<std::string_view> views(argv.begin(), argv.end());
        auto r = translator_.execute(views);
        if (r.failed) throw Unreachable(r.reply.substr(1, r.reply.size() >= 3 ? r.reply.size() - 3 : 0));
        size_t pos = 0;
        return parseReply(r.reply, pos);
    }

private:
    backend::memcached::LibmemcachedStore store_;
    backend::memcached::Translator translator_;
};

}  // namespace

std::unique_ptr<SyncClient> SyncClient::open(const config::BackendConfig& cfg) {
    if (cfg.type == config::BackendConfig::Type::kMemcached) return std::make_unique<MemcachedClient>(cfg);
    if (cfg.type == config::BackendConfig::Type::kRedisCluster) return std::make_unique<ClusterClient>(cfg);
    return std::make_unique<RedisClient>(cfg);
}

std::vector<Value> SyncClient::callMany(const std::vector<std::vector<std::string>>& commands) {
    std::vector<Value> out;
    for (const auto& c : commands) out.push_back(call(c));
    return out;
}

}  // namespace laminar::tools

// SPDX-License-Identifier: Apache-2.0
#include "tools/blocking_client.h"

#include <hiredis/hiredis.h>
#include <fmt/format.h>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backend/memcached/commands.h"
#include "backend/memcached/libmemcached_store.h"
#include "net/socket_io.h"
#include "net/tls.h"
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
class RedisClient final : public BlockingClient {
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
        if (auto st = tls_ ? tls_->send(out, off) : net::sendPending(fd_, out, off); st != net::IoStatus::kDone) ioFailed(st, "write");
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
            if (auto st = tls_ ? tls_->recv(in_, 64 * 1024, 0, drained) : net::recvSome(fd_, in_, 64 * 1024, 0, drained);
                st != net::IoStatus::kDone)
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
            tls_ = std::make_unique<net::TlsChannel>(net::TlsContext::client(*cfg.tls, cfg.address.host), fd_);
        } catch (const std::exception& e) {
            fail(e.what());
        }
        if (auto st = tls_->handshake(); st != net::IoStatus::kDone) ioFailed(st, "TLS handshake");
    }

    [[noreturn]] void ioFailed(net::IoStatus st, const char* what) {
        if (st == net::IoStatus::kClosed) fail("connection closed by server");
        if (st == net::IoStatus::kWouldBlock) fail(std::string(what) + " timed out");
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
    std::unique_ptr<net::TlsChannel> tls_;
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader_{redisReaderCreate(), &redisReaderFree};
    net::Buffer in_{64 * 1024};
    std::string where_;
};

class MemcachedClient final : public BlockingClient {
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

std::unique_ptr<BlockingClient> BlockingClient::open(const config::BackendConfig& cfg) {
    if (cfg.type == config::BackendConfig::Type::kMemcached) return std::make_unique<MemcachedClient>(cfg);
    return std::make_unique<RedisClient>(cfg);
}

std::vector<Value> BlockingClient::callMany(const std::vector<std::vector<std::string>>& commands) {
    std::vector<Value> out;
    for (const auto& c : commands) out.push_back(call(c));
    return out;
}

Value parseReply(std::string_view raw, size_t& pos) {
    Value v;
    auto bad = [&] {
        v = Value{};
        v.kind = Value::Kind::kError;
        v.str = "malformed reply";
        pos = raw.size();
        return v;
    };
    if (pos >= raw.size()) return bad();
    auto eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) return bad();
    char type = raw[pos];
    std::string_view line = raw.substr(pos + 1, eol - pos - 1);
    pos = eol + 2;
    long long n = 0;
    switch (type) {
        case '+': v.kind = Value::Kind::kStatus; v.str.assign(line); return v;
        case '-': v.kind = Value::Kind::kError; v.str.assign(line); return v;
        case ':':
            if (!resp::parseLongLong(line.data(), line.size(), n)) return bad();
            v.kind = Value::Kind::kInteger;
            v.integer = n;
            return v;
        case '$':
            if (!resp::parseLongLong(line.data(), line.size(), n)) return bad();
            if (n < 0) return v;
            if (pos + static_cast<size_t>(n) + 2 > raw.size()) return bad();
            v.kind = Value::Kind::kString;
            v.str.assign(raw.substr(pos, static_cast<size_t>(n)));
            pos += static_cast<size_t>(n) + 2;
            return v;
        case '*':
            if (!resp::parseLongLong(line.data(), line.size(), n)) return bad();
            if (n < 0) return v;
            v.kind = Value::Kind::kArray;
            for (long long i = 0; i < n; ++i) {
                v.elems.push_back(parseReply(raw, pos));
                if (pos > raw.size()) return bad();
            }
            return v;
        default: return bad();
    }
}

}  // namespace laminar::tools

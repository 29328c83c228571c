// SPDX-License-Identifier: Apache-2.0
#include "tools/blocking_client.h"

#include <hiredis/hiredis.h>
#include <fmt/format.h>

#include "backend/memcached/commands.h"
#include "backend/memcached/libmemcached_store.h"
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

class RedisClient final : public BlockingClient {
public:
    explicit RedisClient(const config::BackendConfig& cfg) {
        name_ = cfg.name;
        where_ = cfg.address.str();
        timeval tv{static_cast<time_t>(cfg.connect_timeout.count() / 1000), static_cast<suseconds_t>((cfg.connect_timeout.count() % 1000) * 1000)};
        ctx_.reset(redisConnectWithTimeout(cfg.address.host.c_str(), cfg.address.port, tv));
        if (!ctx_ || ctx_->err) fail(ctx_ ? ctx_->errstr : "out of memory");
        // Copies of big keys take longer than one proxied command: at least 30 s.
        long long ms = std::max<long long>(cfg.timeout.count(), 30000);
        timeval io{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
        redisSetTimeout(ctx_.get(), io);
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
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        for (const auto& argv : commands) {
            ptrs.clear();
            lens.clear();
            for (const auto& a : argv) {
                ptrs.push_back(a.data());
                lens.push_back(a.size());
            }
            redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data());
        }
        std::vector<Value> out;
        for (size_t i = 0; i < commands.size(); ++i) {
            void* reply = nullptr;
            if (redisGetReply(ctx_.get(), &reply) != REDIS_OK || !reply) fail(ctx_->errstr);
            out.push_back(fromHiredis(static_cast<redisReply*>(reply)));
            freeReplyObject(reply);
        }
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& why) { throw Unreachable(fmt::format("backend '{}' ({}): {}", name_, where_, why)); }
    // Freed also when the constructor throws (connect, AUTH or SELECT failed).
    std::unique_ptr<redisContext, decltype(&redisFree)> ctx_{nullptr, &redisFree};
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

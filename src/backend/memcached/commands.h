// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/memcached/store.h"

namespace laminar::backend::memcached {

// Answers Redis string commands from a memcached Store, with the reply redis-server would give
// for the same sequence of commands (see the memcached command table in docs/backends.md). A command that
// memcached cannot answer truthfully gets an error naming the command and the backend.
//
// Redis semantics the memcached protocol lacks are emulated: signed 64-bit counters (memcached's
// are unsigned and pad with spaces when they shrink) through gets + cas, keeping the key's
// time to live; NX/XX/GET through add/replace/cas; expiry in absolute time (EXAT, PXAT,
// EXPIREAT) and memcached's rule that an exptime over 30 days is a unix time.
class Translator {
public:
    struct Options {
        std::string backend;          // its name, for error messages
        bool key_hash = false;        // store keys memcached cannot hold under a digest
        uint64_t max_value = 1 << 20; // the server's item size limit
    };
    struct Result {
        std::string reply;    // one RESP reply
        bool failed = false;  // memcached could not be reached: the reply is laminar's error
    };
    using Clock = std::function<long long()>;  // unix time in milliseconds

    Translator(Store& store, Options options, Clock now_ms = {});
    Result execute(std::span<const std::string_view> argv);
    // GET of each key, in one memcached round trip: the replies of that many GET commands.
    std::vector<Result> getMany(std::span<const std::string_view> keys);
    // argv is a plain GET (what getMany answers).
    static bool isGet(std::span<const std::string_view> argv);
    // SET key value of several commands, written together: the replies of those commands.
    std::vector<Result> setMany(std::span<const std::span<const std::string_view>> commands);
    // argv is SET key value without options (what setMany answers).
    static bool isPlainSet(std::span<const std::string_view> argv);

    // The key memcached stores for a Redis key: itself when memcached can hold it, a digest
    // ("laminar:" + 32 hex digits of XXH3-128) with key_hash, else empty (refused).
    static std::string storageKey(std::string_view key, bool key_hash);

private:
    struct Ctx;
    using Handler = void (Translator::*)(Ctx&);
    static Handler handler(std::string_view lowercase_name);

    void get(Ctx&);
    void set(Ctx&);
    void setnx(Ctx&);
    void setex(Ctx&);
    void getset(Ctx&);
    void getdel(Ctx&);
    void getex(Ctx&);
    void mget(Ctx&);
    void mset(Ctx&);
    void msetnx(Ctx&);
    void del(Ctx&);
    void exists(Ctx&);
    void type(Ctx&);
    void incr(Ctx&);
    void append(Ctx&);
    void strlen(Ctx&);
    void getrange(Ctx&);
    void expire(Ctx&);
    void persist(Ctx&);
    void ttl(Ctx&);
    void dump(Ctx&);
    void restore(Ctx&);
    void flush(Ctx&);
    void ping(Ctx&);
    void echo(Ctx&);
    void info(Ctx&);
    void scan(Ctx&);

    // SET with its parsed options; `get_old`: reply with the previous value (SET ... GET, GETSET).
    struct SetArgs;
    void doSet(Ctx& c, std::string_view key, std::string_view value, const SetArgs& a);
    void incrBy(Ctx& c, std::string_view key, long long delta);

    // Throws (caught by execute) on kError and kTooLarge; returns the other statuses.
    Status check(Status s);
    std::string mapKey(std::string_view key) const;
    void checkValue(size_t size) const;
    // memcached's exptime for `key` to expire at a deadline in unix ms (> now).
    time_t exptimeFor(std::string_view key, long long deadline_ms, long long now) const;

    Store& store_;
    Options opt_;
    Clock now_ms_;
    // SCAN: memcached lists every key at once (metadump); cursors walk that list. Per Translator
    // (one per pool lane), which a client's commands always reach.
    struct Listing {
        std::vector<std::string> keys;
        size_t next = 0;
    };
    std::map<uint64_t, Listing> listings_;
    uint64_t next_cursor_ = 0;
};

}  // namespace laminar::backend::memcached

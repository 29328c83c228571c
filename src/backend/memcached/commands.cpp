// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/commands.h"

#include <chrono>
#include <climits>
#include <unordered_map>

#include <fmt/format.h>
#include <xxhash.h>

#include "backend/backend.h"
#include "backend/memcached/dump_payload.h"
#include "resp/glob.h"
#include "resp/numbers.h"
#include "resp/writer.h"

namespace laminar::backend::memcached {
namespace {

constexpr size_t kMaxKey = 250;
constexpr long long kThirtyDays = 30LL * 24 * 3600;  // memcached: larger exptimes are unix times
constexpr int kAttempts = 100;                        // cas retries against concurrent writers
constexpr uint64_t kMaxString = 512ull << 20;         // Redis's proto-max-bulk-len default

// A reply that ends the command early (a Redis error, or memcached unreachable).
struct Stop {
    std::string reply;
    bool failed = false;
};

[[noreturn]] void fail(std::string_view msg) {
    std::string r;
    resp::appendError(r, msg);
    throw Stop{std::move(r), false};
}

bool parseLL(std::string_view s, long long& v) { return resp::parseLongLong(s.data(), s.size(), v); }

long long integerArg(std::string_view s) {
    long long v;
    if (!parseLL(s, v)) fail("ERR value is not an integer or out of range");
    return v;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

bool parseUnsigned(std::string_view s, unsigned long long& v) {
    if (s.empty() || s.size() > 20) return false;
    v = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') return false;
        unsigned d = static_cast<unsigned>(ch - '0');
        if (v > (ULLONG_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    return true;
}

// "laminar:" + 32 hex digits: a key stored under its digest (key_hash), or laminar's probe.
bool isDigestKey(std::string_view k) {
    if (k.starts_with("laminar:probe")) return true;
    if (k.size() != 40 || !k.starts_with("laminar:")) return false;
    return k.substr(8).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

long long systemMillis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Translator::Ctx {
    std::span<const std::string_view> argv;
    std::string name;  // lowercase
    std::string out;
    long long now = 0;
};

// SET's options as Redis parses them (t_string.c, parseExtendedStringArgumentsOrReply).
struct Translator::SetArgs {
    enum Unit { kNone, kEx, kPx, kExat, kPxat };
    bool nx = false, xx = false, get = false, keepttl = false, persist = false;
    Unit unit = kNone;
    std::string_view expire;

    // `set`: SET's options (NX XX GET KEEPTTL EX PX EXAT PXAT); else GETEX's (EX PX EXAT PXAT PERSIST).
    void parse(std::span<const std::string_view> args, bool set) {
        for (size_t j = 0; j < args.size(); ++j) {
            std::string_view opt = args[j];
            bool next = j + 1 < args.size();
            bool timed = unit != kNone;
            if (set && ieq(opt, "nx") && !xx) nx = true;
            else if (set && ieq(opt, "xx") && !nx) xx = true;
            else if (set && ieq(opt, "get")) get = true;
            else if (set && ieq(opt, "keepttl") && !persist && !timed) keepttl = true;
            else if (!set && ieq(opt, "persist") && !timed && !keepttl) persist = true;
            else if (!keepttl && !persist && next && unitOf(opt) != kNone && (unit == kNone || unit == unitOf(opt))) {
                unit = unitOf(opt);
                expire = args[++j];
            } else {
                fail("ERR syntax error");
            }
        }
    }
    static Unit unitOf(std::string_view o) {
        if (ieq(o, "ex")) return kEx;
        if (ieq(o, "px")) return kPx;
        if (ieq(o, "exat")) return kExat;
        if (ieq(o, "pxat")) return kPxat;
        return kNone;
    }
    // The deadline in unix ms, validated as Redis does (getExpireMillisecondsOrReply).
    long long deadline(std::string_view command, long long now) const {
        long long ms = integerArg(expire);
        bool seconds = unit == kEx || unit == kExat;
        auto invalid = [&] { fail(fmt::format("ERR invalid expire time in '{}' command", command)); };
        if (ms <= 0 || (seconds && ms > LLONG_MAX / 1000)) invalid();
        if (seconds) ms *= 1000;
        if (unit == kEx || unit == kPx) {
            if (ms > LLONG_MAX - now) invalid();
            ms += now;
        }
        return ms;
    }
};

Translator::Translator(Store& store, Options options, Clock now_ms)
    : store_(store), opt_(std::move(options)), now_ms_(now_ms ? std::move(now_ms) : Clock(systemMillis)) {}

std::string Translator::storageKey(std::string_view key, bool key_hash) {
    bool ok = !key.empty() && key.size() <= kMaxKey;
    for (size_t i = 0; ok && i < key.size(); ++i) {
        auto c = static_cast<unsigned char>(key[i]);
        ok = c > 0x20 && c != 0x7f;
    }
    if (ok) return std::string(key);
    if (!key_hash) return {};
    XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
    return fmt::format("laminar:{:016x}{:016x}", h.high64, h.low64);
}

std::string Translator::mapKey(std::string_view key) const {
    auto k = storageKey(key, opt_.key_hash);
    if (k.empty()) {
        const char* why = key.empty() ? "it is empty" : key.size() > kMaxKey ? "it is longer than 250 bytes" : "it contains a space or control character";
        fail(fmt::format("ERR laminar: memcached backend '{}' cannot store this key: {} (set key_hash: true to store such keys under a digest)",
                         opt_.backend, why));
    }
    return k;
}

void Translator::checkValue(size_t size) const {
    if (size > opt_.max_value)
        fail(fmt::format("ERR laminar: value of {} bytes is over memcached backend '{}' item size limit ({} bytes)", size, opt_.backend,
                         opt_.max_value));
}

Status Translator::check(Status s) {
    if (s == Status::kError) throw Stop{unavailableError(opt_.backend, store_.error()), true};
    if (s == Status::kTooLarge)
        fail(fmt::format("ERR laminar: value is over memcached backend '{}' item size limit (max_value: {} bytes)", opt_.backend, opt_.max_value));
    return s;
}

// Up to 30 days, the seconds left, rounded up; beyond, memcached wants a unix time on its own
// clock: the same seconds counted from that clock's now, so a long expiry is as exact as a short one.
time_t Translator::exptimeFor(std::string_view key, long long deadline_ms, long long now) const {
    // Without overflowing for deadlines near LLONG_MAX (PXAT 9223372036854775807).
    long long left = deadline_ms - now;
    long long secs = left / 1000 + (left % 1000 != 0);
    if (secs <= kThirtyDays) return static_cast<time_t>(secs);
    if (secs > INT32_MAX) fail(fmt::format("ERR laminar: memcached backend '{}' cannot store an expiry after 2038-01-19", opt_.backend));
    long long at = store_.serverTime(key, now) + secs;
    if (at > INT32_MAX)  // memcached reads exptime as a 32-bit number
        fail(fmt::format("ERR laminar: memcached backend '{}' cannot store an expiry after 2038-01-19", opt_.backend));
    return static_cast<time_t>(at);
}

Translator::Handler Translator::handler(std::string_view name) {
    static const std::unordered_map<std::string_view, Handler> kTable = {
        {"get", &Translator::get},         {"set", &Translator::set},           {"setnx", &Translator::setnx},
        {"setex", &Translator::setex},     {"psetex", &Translator::setex},      {"getset", &Translator::getset},
        {"getdel", &Translator::getdel},   {"getex", &Translator::getex},       {"mget", &Translator::mget},
        {"mset", &Translator::mset},       {"msetnx", &Translator::msetnx},     {"del", &Translator::del},
        {"unlink", &Translator::del},      {"exists", &Translator::exists},     {"touch", &Translator::exists},
        {"type", &Translator::type},       {"incr", &Translator::incr},         {"decr", &Translator::incr},
        {"incrby", &Translator::incr},     {"decrby", &Translator::incr},       {"append", &Translator::append},
        {"strlen", &Translator::strlen},   {"getrange", &Translator::getrange}, {"substr", &Translator::getrange},
        {"expire", &Translator::expire},   {"pexpire", &Translator::expire},    {"expireat", &Translator::expire},
        {"pexpireat", &Translator::expire}, {"persist", &Translator::persist},  {"ttl", &Translator::ttl},
        {"pttl", &Translator::ttl},        {"dump", &Translator::dump},         {"restore", &Translator::restore},
        {"flushall", &Translator::flush},  {"flushdb", &Translator::flush},     {"ping", &Translator::ping},
        {"echo", &Translator::echo},       {"info", &Translator::info},         {"scan", &Translator::scan},
    };
    auto it = kTable.find(name);
    return it == kTable.end() ? nullptr : it->second;
}

Translator::Result Translator::execute(std::span<const std::string_view> argv) {
    Ctx c;
    c.argv = argv;
    if (argv.empty()) return {"-ERR empty command\r\n", false};
    c.name.resize(argv[0].size());
    for (size_t i = 0; i < argv[0].size(); ++i) c.name[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(argv[0][i])));
    try {
        Handler h = handler(c.name);
        if (!h)
            fail(fmt::format("ERR laminar: '{}' is not supported by memcached backend '{}' (memcached stores plain strings; see the "
                             "memcached command table in docs/backends.md)",
                             c.name, opt_.backend));
        // Arity as in Redis's command table: the session checks it before routing; this guards
        // commands that strategies build themselves.
        static const std::unordered_map<std::string_view, int> kArity = {
            {"get", 2},     {"set", -3},     {"setnx", 3},     {"setex", 4},     {"psetex", 4},     {"getset", 3},
            {"getdel", 2},  {"getex", -2},   {"mget", -2},     {"mset", -3},     {"msetnx", -3},    {"del", -2},
            {"unlink", -2}, {"exists", -2},  {"touch", -2},    {"type", 2},      {"incr", 2},       {"decr", 2},
            {"incrby", 3},  {"decrby", 3},   {"append", 3},    {"strlen", 2},    {"getrange", 4},   {"substr", 4},
            {"expire", -3}, {"pexpire", -3}, {"expireat", -3}, {"pexpireat", -3}, {"persist", 2},   {"ttl", 2},
            {"pttl", 2},    {"dump", 2},     {"restore", -4},  {"flushall", -1}, {"flushdb", -1},   {"ping", -1},
            {"echo", 2},    {"info", -1},    {"scan", -2}};
        int arity = kArity.at(c.name);
        auto n = static_cast<int>(argv.size());
        if (arity > 0 ? n != arity : n < -arity) fail(fmt::format("ERR wrong number of arguments for '{}' command", c.name));
        c.now = now_ms_();
        (this->*h)(c);
    } catch (Stop& s) {
        return {std::move(s.reply), s.failed};
    }
    return {std::move(c.out), false};
}

bool Translator::isGet(std::span<const std::string_view> argv) { return argv.size() == 2 && ieq(argv[0], "get"); }

std::vector<Translator::Result> Translator::getMany(std::span<const std::string_view> keys) {
    std::vector<Result> out(keys.size());
    std::vector<std::string> stored;
    std::vector<size_t> where;
    for (size_t i = 0; i < keys.size(); ++i) {
        auto k = storageKey(keys[i], opt_.key_hash);
        if (k.empty()) {
            std::vector<std::string_view> argv = {"get", keys[i]};
            out[i] = execute(argv);  // the key's refusal
            continue;
        }
        stored.push_back(std::move(k));
        where.push_back(i);
    }
    std::vector<std::optional<std::string>> values;
    Status st = store_.getMany(stored, values);
    for (size_t j = 0; j < where.size(); ++j) {
        Result& r = out[where[j]];
        if (st == Status::kError) r = {unavailableError(opt_.backend, store_.error()), true};
        else if (values[j]) resp::appendBulk(r.reply, *values[j]);
        else resp::appendNull(r.reply);
    }
    return out;
}

bool Translator::isPlainSet(std::span<const std::string_view> argv) { return argv.size() == 3 && ieq(argv[0], "set"); }

std::vector<Translator::Result> Translator::setMany(std::span<const std::span<const std::string_view>> commands) {
    std::vector<Result> out(commands.size());
    std::vector<std::pair<std::string, std::string_view>> items;
    std::vector<size_t> where;
    for (size_t i = 0; i < commands.size(); ++i) {
        auto k = storageKey(commands[i][1], opt_.key_hash);
        if (k.empty() || commands[i][2].size() > opt_.max_value) {
            out[i] = execute(commands[i]);  // its refusal
            continue;
        }
        items.emplace_back(std::move(k), commands[i][2]);
        where.push_back(i);
    }
    Status st = store_.setMany(items);
    for (size_t i : where) {
        if (st == Status::kOk) out[i].reply = "+OK\r\n";
        else if (st == Status::kTooLarge) out[i].reply = fmt::format("-ERR laminar: value is over memcached backend '{}' item size limit (max_value: {} bytes)\r\n", opt_.backend, opt_.max_value);
        else out[i] = {unavailableError(opt_.backend, store_.error()), true};
    }
    return out;
}

void Translator::get(Ctx& c) {
    Item item;
    if (check(store_.get(mapKey(c.argv[1]), item)) == Status::kOk) resp::appendBulk(c.out, item.value);
    else resp::appendNull(c.out);
}

void Translator::set(Ctx& c) {
    SetArgs a;
    a.parse(c.argv.subspan(3), true);
    doSet(c, c.argv[1], c.argv[2], a);
}

void Translator::getset(Ctx& c) {
    SetArgs a;
    a.get = true;
    doSet(c, c.argv[1], c.argv[2], a);
}

void Translator::doSet(Ctx& c, std::string_view rkey, std::string_view value, const SetArgs& a) {
    long long deadline = a.unit == SetArgs::kNone ? 0 : a.deadline(c.name, c.now);
    auto key = mapKey(rkey);
    checkValue(value.size());
    const bool past = a.unit != SetArgs::kNone && deadline <= c.now;
    const time_t exptime = a.unit == SetArgs::kNone || past ? 0 : exptimeFor(key, deadline, c.now);
    // KEEPTTL: the key's expiry, read just before the write.
    auto keptTtl = [&](bool& found) {
        time_t kept = 0;
        found = check(store_.keptExptime(key, kept)) == Status::kOk;
        return kept;
    };

    if (!a.get) {
        Status st;
        if (past) {  // set, then expired at once: what remains is the existence check
            Item old;
            bool found = check(store_.get(key, old)) == Status::kOk;
            if ((a.nx && found) || (a.xx && !found)) return resp::appendNull(c.out);
            if (found) check(store_.remove(key));
            return resp::appendSimple(c.out, "OK");
        }
        if (a.nx) {
            st = check(store_.store(Store::Mode::kAdd, key, value, exptime));
        } else if (a.keepttl) {
            bool found;
            time_t kept = keptTtl(found);
            if (!found && a.xx) return resp::appendNull(c.out);
            st = check(store_.store(a.xx ? Store::Mode::kReplace : Store::Mode::kSet, key, value, found ? kept : 0));
        } else {
            st = check(store_.store(a.xx ? Store::Mode::kReplace : Store::Mode::kSet, key, value, exptime));
        }
        if (st == Status::kOk) resp::appendSimple(c.out, "OK");
        else resp::appendNull(c.out);
        return;
    }
    // With GET: read the old value and write only if it is still that one (cas), or still absent (add).
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        Item old;
        bool found = check(store_.get(key, old)) == Status::kOk;
        auto replyOld = [&] { found ? resp::appendBulk(c.out, old.value) : resp::appendNull(c.out); };
        if ((a.nx && found) || (a.xx && !found)) return replyOld();
        if (past) {
            if (found) check(store_.remove(key));
            return replyOld();
        }
        time_t ex = exptime;
        if (a.keepttl && found) {
            bool still;
            ex = keptTtl(still);
            if (!still) continue;
        }
        Status st = found ? check(store_.store(Store::Mode::kCas, key, value, ex, old.cas))
                          : check(store_.store(Store::Mode::kAdd, key, value, ex));
        if (st == Status::kOk) return replyOld();
    }
    fail(fmt::format("ERR laminar: memcached backend '{}': the key kept changing under '{}', try again", opt_.backend, c.name));
}

void Translator::setnx(Ctx& c) {
    auto key = mapKey(c.argv[1]);
    checkValue(c.argv[2].size());
    resp::appendInteger(c.out, check(store_.store(Store::Mode::kAdd, key, c.argv[2], 0)) == Status::kOk ? 1 : 0);
}

void Translator::setex(Ctx& c) {
    SetArgs a;
    a.unit = c.name == "setex" ? SetArgs::kEx : SetArgs::kPx;
    a.expire = c.argv[2];
    doSet(c, c.argv[1], c.argv[3], a);
}

void Translator::getdel(Ctx& c) {
    auto key = mapKey(c.argv[1]);
    Item item;
    if (check(store_.get(key, item)) != Status::kOk) return resp::appendNull(c.out);
    check(store_.remove(key));
    resp::appendBulk(c.out, item.value);
}

void Translator::getex(Ctx& c) {
    SetArgs a;
    a.parse(c.argv.subspan(2), false);
    auto key = mapKey(c.argv[1]);
    Item item;
    if (check(store_.get(key, item)) != Status::kOk) return resp::appendNull(c.out);
    long long deadline = a.unit == SetArgs::kNone ? 0 : a.deadline(c.name, c.now);
    if (a.unit != SetArgs::kNone && deadline <= c.now) check(store_.remove(key));
    else if (a.unit != SetArgs::kNone) check(store_.touch(key, exptimeFor(key, deadline, c.now)));
    else if (a.persist) check(store_.touch(key, 0));
    resp::appendBulk(c.out, item.value);
}

void Translator::mget(Ctx& c) {
    std::vector<std::string> keys;
    for (auto k : c.argv.subspan(1)) keys.push_back(mapKey(k));
    std::vector<std::optional<std::string>> values;
    check(store_.getMany(keys, values));
    resp::appendArrayHeader(c.out, values.size());
    for (const auto& v : values) v ? resp::appendBulk(c.out, *v) : resp::appendNull(c.out);
}

void Translator::mset(Ctx& c) {
    if (c.argv.size() % 2 == 0) fail(fmt::format("ERR wrong number of arguments for '{}' command", c.name));
    std::vector<std::string> keys;
    for (size_t i = 1; i < c.argv.size(); i += 2) {
        keys.push_back(mapKey(c.argv[i]));
        checkValue(c.argv[i + 1].size());
    }
    for (size_t i = 0; i < keys.size(); ++i) check(store_.store(Store::Mode::kSet, keys[i], c.argv[2 * i + 2], 0));
    resp::appendSimple(c.out, "OK");
}

// Not atomic across keys as in Redis: a writer that bypasses laminar may add one of the keys
// between the check and the adds; laminar then removes the keys it added and answers 0.
void Translator::msetnx(Ctx& c) {
    if (c.argv.size() % 2 == 0) fail(fmt::format("ERR wrong number of arguments for '{}' command", c.name));
    std::vector<std::string> keys;
    for (size_t i = 1; i < c.argv.size(); i += 2) {
        keys.push_back(mapKey(c.argv[i]));
        checkValue(c.argv[i + 1].size());
    }
    std::vector<std::optional<std::string>> values;
    check(store_.getMany(keys, values));
    for (const auto& v : values)
        if (v) return resp::appendInteger(c.out, 0);
    std::vector<std::string> added;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (std::find(added.begin(), added.end(), keys[i]) != added.end()) {  // MSETNX k 1 k 2: the last wins
            check(store_.store(Store::Mode::kSet, keys[i], c.argv[2 * i + 2], 0));
            continue;
        }
        if (check(store_.store(Store::Mode::kAdd, keys[i], c.argv[2 * i + 2], 0)) != Status::kOk) {
            for (const auto& k : added) check(store_.remove(k));
            return resp::appendInteger(c.out, 0);
        }
        added.push_back(keys[i]);
    }
    resp::appendInteger(c.out, 1);
}

void Translator::del(Ctx& c) {
    std::vector<std::string> keys;
    for (auto k : c.argv.subspan(1)) keys.push_back(mapKey(k));
    long long n = 0;
    for (const auto& k : keys) n += check(store_.remove(k)) == Status::kOk;
    resp::appendInteger(c.out, n);
}

// EXISTS, and TOUCH (which in Redis only counts the keys that exist and updates their access time).
void Translator::exists(Ctx& c) {
    std::vector<std::string> keys;
    for (auto k : c.argv.subspan(1)) keys.push_back(mapKey(k));
    std::vector<std::optional<std::string>> values;
    check(store_.getMany(keys, values));
    long long n = 0;
    for (const auto& v : values) n += v.has_value();
    resp::appendInteger(c.out, n);
}

void Translator::type(Ctx& c) {
    Item item;
    resp::appendSimple(c.out, check(store_.get(mapKey(c.argv[1]), item)) == Status::kOk ? "string" : "none");
}

void Translator::incr(Ctx& c) {
    long long delta = 1;
    if (c.name == "incrby" || c.name == "decrby") delta = integerArg(c.argv[2]);
    if (c.name == "decrby" && delta == LLONG_MIN) fail("ERR decrement would overflow");
    if (c.name == "decr" || c.name == "decrby") delta = -delta;
    incrBy(c, c.argv[1], delta);
}

void Translator::incrBy(Ctx& c, std::string_view rkey, long long delta) {
    auto key = mapKey(rkey);
    auto digits = [](long long v) { return std::to_string(v).size(); };
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        Item item;
        if (check(store_.get(key, item)) == Status::kMiss) {
            if (check(store_.store(Store::Mode::kAdd, key, std::to_string(delta), 0)) == Status::kOk)
                return resp::appendInteger(c.out, delta);
            continue;
        }
        long long v;
        if (!parseLL(item.value, v)) fail("ERR value is not an integer or out of range");
        if ((delta < 0 && v < 0 && delta < LLONG_MIN - v) || (delta > 0 && v > 0 && delta > LLONG_MAX - v))
            fail("ERR increment or decrement would overflow");
        long long r = v + delta;
        // memcached's own incr/decr keeps the expiry and is atomic, but its counters are unsigned
        // and a decrement that loses a digit leaves trailing spaces: use it only where neither shows.
        if (v >= 0 && r >= 0 && (delta >= 0 || digits(r) == digits(v))) {
            uint64_t out = 0;
            uint64_t magnitude = delta >= 0 ? static_cast<uint64_t>(delta) : 0 - static_cast<uint64_t>(delta);
            Status st = check(store_.incr(key, delta < 0, magnitude, out));
            if (st == Status::kOk && out <= static_cast<uint64_t>(LLONG_MAX)) return resp::appendInteger(c.out, static_cast<long long>(out));
            continue;
        }
        time_t ex = 0;
        if (check(store_.keptExptime(key, ex)) != Status::kOk) continue;
        if (check(store_.store(Store::Mode::kCas, key, std::to_string(r), ex, item.cas)) == Status::kOk)
            return resp::appendInteger(c.out, r);
    }
    fail(fmt::format("ERR laminar: memcached backend '{}': the key kept changing under '{}', try again", opt_.backend, c.name));
}

void Translator::append(Ctx& c) {
    auto key = mapKey(c.argv[1]);
    std::string_view tail = c.argv[2];
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        Item item;
        if (check(store_.get(key, item)) == Status::kMiss) {
            checkValue(tail.size());
            if (check(store_.store(Store::Mode::kAdd, key, tail, 0)) == Status::kOk)
                return resp::appendInteger(c.out, static_cast<long long>(tail.size()));
            continue;
        }
        uint64_t total = item.value.size() + tail.size();
        if (total > kMaxString) fail("ERR string exceeds maximum allowed size (512MB)");
        checkValue(total);
        if (check(store_.store(Store::Mode::kAppend, key, tail, 0)) == Status::kOk)
            return resp::appendInteger(c.out, static_cast<long long>(total));
    }
    fail(fmt::format("ERR laminar: memcached backend '{}': the key kept changing under '{}', try again", opt_.backend, c.name));
}

void Translator::strlen(Ctx& c) {
    Item item;
    bool found = check(store_.get(mapKey(c.argv[1]), item)) == Status::kOk;
    resp::appendInteger(c.out, found ? static_cast<long long>(item.value.size()) : 0);
}

// GETRANGE's index rules (t_string.c getrangeCommand).
void Translator::getrange(Ctx& c) {
    long long start = integerArg(c.argv[2]), end = integerArg(c.argv[3]);
    Item item;
    bool found = check(store_.get(mapKey(c.argv[1]), item)) == Status::kOk;
    auto len = static_cast<long long>(item.value.size());
    if (start < 0 && end < 0 && start > end) return resp::appendBulk(c.out, "");
    if (start < 0) start = len + start;
    if (end < 0) end = len + end;
    if (start < 0) start = 0;
    if (end < 0) end = 0;
    if (end >= len) end = len - 1;
    if (!found || start > end || len == 0) return resp::appendBulk(c.out, "");
    resp::appendBulk(c.out, std::string_view(item.value).substr(static_cast<size_t>(start), static_cast<size_t>(end - start + 1)));
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX | XX | GT | LT (expire.c expireGenericCommand).
void Translator::expire(Ctx& c) {
    bool nx = false, xx = false, gt = false, lt = false;
    for (auto opt : c.argv.subspan(3)) {
        if (ieq(opt, "nx")) nx = true;
        else if (ieq(opt, "xx")) xx = true;
        else if (ieq(opt, "gt")) gt = true;
        else if (ieq(opt, "lt")) lt = true;
        else fail(fmt::format("ERR Unsupported option {}", opt));
    }
    if (nx && (xx || gt || lt)) fail("ERR NX and XX, GT or LT options at the same time are not compatible");
    if (gt && lt) fail("ERR GT and LT options at the same time are not compatible");
    long long when = integerArg(c.argv[2]);
    auto invalid = [&] { fail(fmt::format("ERR invalid expire time in '{}' command", c.name)); };
    if (c.name == "expire" || c.name == "expireat") {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) invalid();
        when *= 1000;
    }
    long long base = c.name == "expire" || c.name == "pexpire" ? c.now : 0;
    if (when > LLONG_MAX - base) invalid();
    when += base;
    auto key = mapKey(c.argv[1]);
    long long t = -1;
    if (check(store_.ttl(key, t)) != Status::kOk) return resp::appendInteger(c.out, 0);
    long long current = t < 0 ? -1 : c.now + t * 1000;
    if ((nx && current != -1) || (xx && current == -1) || (gt && (when <= current || current == -1)) || (lt && current != -1 && when >= current))
        return resp::appendInteger(c.out, 0);
    if (when <= c.now) {
        check(store_.remove(key));
        return resp::appendInteger(c.out, 1);
    }
    resp::appendInteger(c.out, check(store_.touch(key, exptimeFor(key, when, c.now))) == Status::kOk ? 1 : 0);
}

void Translator::persist(Ctx& c) {
    auto key = mapKey(c.argv[1]);
    long long t = -1;
    if (check(store_.ttl(key, t)) != Status::kOk || t < 0) return resp::appendInteger(c.out, 0);
    resp::appendInteger(c.out, check(store_.touch(key, 0)) == Status::kOk ? 1 : 0);
}

// memcached keeps expiry in whole seconds: PTTL is TTL * 1000.
void Translator::ttl(Ctx& c) {
    long long t = -1;
    if (check(store_.ttl(mapKey(c.argv[1]), t)) != Status::kOk) return resp::appendInteger(c.out, -2);
    if (t < 0) return resp::appendInteger(c.out, -1);
    resp::appendInteger(c.out, c.name == "pttl" ? t * 1000 : t);
}

void Translator::dump(Ctx& c) {
    Item item;
    if (check(store_.get(mapKey(c.argv[1]), item)) != Status::kOk) return resp::appendNull(c.out);
    resp::appendBulk(c.out, encodeStringDump(item.value));
}

// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] (cluster.c restoreCommand).
void Translator::restore(Ctx& c) {
    bool replace = false, absttl = false;
    long long idle = -1, freq = -1;
    for (size_t j = 4; j < c.argv.size(); ++j) {
        size_t more = c.argv.size() - j - 1;
        if (ieq(c.argv[j], "replace")) replace = true;
        else if (ieq(c.argv[j], "absttl")) absttl = true;
        else if (ieq(c.argv[j], "idletime") && more >= 1 && freq == -1) {
            idle = integerArg(c.argv[++j]);
            if (idle < 0) fail("ERR Invalid IDLETIME value, must be >= 0");
        } else if (ieq(c.argv[j], "freq") && more >= 1 && idle == -1) {
            freq = integerArg(c.argv[++j]);
            if (freq < 0 || freq > 255) fail("ERR Invalid FREQ value, must be >= 0 and <= 255");
        } else {
            fail("ERR syntax error");
        }
    }
    auto key = mapKey(c.argv[1]);
    Item old;
    if (!replace && check(store_.get(key, old)) == Status::kOk) fail("BUSYKEY Target key name already exists.");
    long long ttl = integerArg(c.argv[2]);
    if (ttl < 0) fail("ERR Invalid TTL value, must be >= 0");
    std::string value, why;
    if (!decodeStringDump(c.argv[3], value, why)) {
        if (why.starts_with("memcached")) fail(fmt::format("ERR laminar: backend '{}': {}", opt_.backend, why));
        fail("ERR " + why);
    }
    checkValue(value.size());
    if (ttl && !absttl) ttl = ttl > LLONG_MAX - c.now ? LLONG_MAX : ttl + c.now;
    if (ttl && ttl <= c.now) {  // already expired: nothing to store
        if (replace) check(store_.remove(key));
        return resp::appendSimple(c.out, "OK");
    }
    time_t ex = ttl ? exptimeFor(key, ttl, c.now) : 0;
    if (check(store_.store(replace ? Store::Mode::kSet : Store::Mode::kAdd, key, value, ex)) != Status::kOk)
        fail("BUSYKEY Target key name already exists.");
    resp::appendSimple(c.out, "OK");
}

void Translator::flush(Ctx& c) {
    if (c.argv.size() > 2 || (c.argv.size() == 2 && !ieq(c.argv[1], "async") && !ieq(c.argv[1], "sync"))) fail("ERR syntax error");
    check(store_.flush());
    resp::appendSimple(c.out, "OK");
}

void Translator::ping(Ctx& c) {
    if (c.argv.size() > 2) fail("ERR wrong number of arguments for 'ping' command");
    if (c.argv.size() == 2) resp::appendBulk(c.out, c.argv[1]);
    else resp::appendSimple(c.out, "PONG");
}

void Translator::echo(Ctx& c) { resp::appendBulk(c.out, c.argv[1]); }

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]. Cursor 0 lists every key (lru_crawler
// metadump); the cursors after it walk that list, so keys written after the SCAN began may be
// missed, as Redis allows. Keys laminar stored under a digest (key_hash) cannot be listed by
// their Redis name and are left out.
void Translator::scan(Ctx& c) {
    std::string_view match;
    long long count = 10;
    bool strings = true;
    for (size_t j = 2; j < c.argv.size(); j += 2) {
        if (j + 1 >= c.argv.size()) fail("ERR syntax error");
        if (ieq(c.argv[j], "match")) match = c.argv[j + 1];
        else if (ieq(c.argv[j], "count")) {
            count = integerArg(c.argv[j + 1]);
            if (count < 1) fail("ERR syntax error");
        } else if (ieq(c.argv[j], "type")) strings = ieq(c.argv[j + 1], "string");
        else fail("ERR syntax error");
    }
    unsigned long long cursor = 0;
    if (!parseUnsigned(c.argv[1], cursor)) fail("ERR invalid cursor");
    if (cursor == 0) {
        Listing listing;
        check(store_.keys(listing.keys));
        std::erase_if(listing.keys, [](const std::string& k) { return isDigestKey(k); });
        if (listings_.size() >= 16) listings_.erase(listings_.begin());  // abandoned scans
        cursor = ++next_cursor_;
        listings_[cursor] = std::move(listing);
    }
    auto it = listings_.find(cursor);
    if (it == listings_.end()) fail("ERR invalid cursor");
    Listing& l = it->second;
    std::vector<std::string_view> page;
    for (long long n = 0; l.next < l.keys.size() && n < count; ++n, ++l.next) {
        const std::string& k = l.keys[l.next];
        if (strings && (match.empty() || resp::globMatch(match, k))) page.push_back(k);
    }
    bool done = l.next >= l.keys.size();
    resp::appendArrayHeader(c.out, 2);
    resp::appendBulk(c.out, done ? "0" : std::to_string(cursor));
    resp::appendArrayHeader(c.out, page.size());
    for (auto k : page) resp::appendBulk(c.out, k);
    if (done) listings_.erase(it);
}

// What clients look for in INFO (the server's version and mode); laminar adds its own sections.
void Translator::info(Ctx& c) {
    resp::appendBulk(c.out, fmt::format("# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\nlaminar_backend:memcached\r\n"
                                        "laminar_backend_name:{}\r\n",
                                        opt_.backend));
}

}  // namespace laminar::backend::memcached

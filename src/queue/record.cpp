// SPDX-License-Identifier: Apache-2.0
#include "queue/record.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "resp/numbers.h"
#include "resp/writer.h"

namespace laminar::queue {
namespace {

// [u8 kind][u8 n targets]{[u8 len][name]}...: the head of every record.
void putHead(std::string& out, QueuedRecord::Kind kind, std::span<const std::string> targets) {
    out.push_back(static_cast<char>(kind));
    out.push_back(static_cast<char>(targets.size()));
    for (const auto& t : targets) {
        out.push_back(static_cast<char>(t.size()));
        out.append(t);
    }
}

void putU32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct Reader {
    std::string_view in;
    bool ok = true;
    uint32_t u8() {
        if (in.empty()) return ok = false, 0;
        auto v = static_cast<unsigned char>(in[0]);
        in.remove_prefix(1);
        return v;
    }
    uint32_t u32() {
        if (in.size() < 4) return ok = false, 0;
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[static_cast<size_t>(i)])) << (8 * i);
        in.remove_prefix(4);
        return v;
    }
    std::string_view bytes(size_t n) {
        if (in.size() < n) return ok = false, std::string_view();
        auto v = in.substr(0, n);
        in.remove_prefix(n);
        return v;
    }
};

bool ieq(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x | 0x20) == (y | 0x20);
           });
}

// An expiry argument Redis accepts (t_string.c getExpireMillisecondsOrReply): a positive integer
// whose milliseconds, added to now for EX/PX, do not overflow.
std::optional<long long> deadline(std::string_view arg, bool seconds, bool absolute, const std::function<int64_t()>& now) {
    long long v;
    if (!resp::parseLongLong(arg, v) || v <= 0) return std::nullopt;
    if (seconds) {
        if (v > LLONG_MAX / 1000) return std::nullopt;
        v *= 1000;
    }
    if (!absolute) {
        int64_t now_ms = now();
        if (v > LLONG_MAX - now_ms) return std::nullopt;
        v += now_ms;
    }
    return v;
}

}  // namespace

bool QueuedRecord::addressedTo(std::string_view target) const {
    return std::find(targets.begin(), targets.end(), target) != targets.end();
}

std::string encodeCommandRecord(std::span<const std::string> targets, std::string_view resp) {
    std::string out;
    putHead(out, QueuedRecord::Kind::kCommand, targets);
    out.append(resp);
    return out;
}

std::string encodeKeysRecord(std::string_view from, std::span<const std::string> targets, std::span<const std::string_view> keys) {
    std::string out;
    putHead(out, QueuedRecord::Kind::kKeys, targets);
    out.push_back(static_cast<char>(from.size()));
    out.append(from);
    putU32(out, static_cast<uint32_t>(keys.size()));
    for (auto k : keys) {
        putU32(out, static_cast<uint32_t>(k.size()));
        out.append(k);
    }
    return out;
}

std::optional<QueuedRecord> decodeRecord(std::string_view data) {
    Reader r{data};
    QueuedRecord rec;
    auto kind = static_cast<char>(r.u8());
    if (kind != 'C' && kind != 'K') return std::nullopt;
    rec.kind = static_cast<QueuedRecord::Kind>(kind);
    uint32_t n = r.u8();
    for (uint32_t i = 0; i < n && r.ok; ++i) rec.targets.push_back(r.bytes(r.u8()));
    if (rec.kind == QueuedRecord::Kind::kCommand) {
        rec.command = r.in;
    } else {
        rec.from = r.bytes(r.u8());
        uint32_t keys = r.u32();
        if (keys > r.in.size()) return std::nullopt;
        for (uint32_t i = 0; i < keys && r.ok; ++i) rec.keys.push_back(r.bytes(r.u32()));
        if (!r.in.empty()) return std::nullopt;
    }
    if (!r.ok) return std::nullopt;
    return rec;
}

namespace {

// The arguments of a RESP array command, as many as are whole.
std::vector<std::string_view> leadingArgs(std::string_view in) {
    std::vector<std::string_view> args;
    auto line = [&](char type, long long& n) {
        if (in.empty() || in[0] != type) return false;
        auto end = in.substr(0, 24).find("\r\n");  // a length has at most 20 digits
        if (end == std::string_view::npos || !resp::parseLongLong(in.substr(1, end - 1), n) || n < 0) return false;
        in.remove_prefix(end + 2);
        return true;
    };
    long long n = 0;
    if (!line('*', n)) return args;
    for (long long i = 0; i < n; ++i) {
        long long len = 0;
        if (!line('$', len) || in.size() < static_cast<size_t>(len)) break;
        args.push_back(in.substr(0, static_cast<size_t>(len)));
        in.remove_prefix(static_cast<size_t>(len));
        if (in.starts_with("\r\n")) in.remove_prefix(2);
        else break;
    }
    return args;
}

}  // namespace

std::optional<std::vector<std::string>> keysOfDamagedRecord(std::string_view data) {
    Reader r{data};
    auto kind = static_cast<char>(r.u8());
    if (kind != 'C' && kind != 'K') return std::nullopt;
    uint32_t n = r.u8();
    for (uint32_t i = 0; i < n && r.ok; ++i) r.bytes(r.u8());
    if (!r.ok) return std::nullopt;
    std::vector<std::string> keys;
    if (kind == 'K') {
        r.bytes(r.u8());
        uint32_t count = r.u32();
        for (uint32_t i = 0; i < count && r.ok; ++i) {
            auto k = r.bytes(r.u32());
            if (r.ok) keys.emplace_back(k);
        }
        return keys;
    }
    return keysOfDamagedCommand(r.in);
}

std::optional<std::vector<std::string>> keysOfDamagedCommand(std::string_view resp) {
    std::vector<std::string> keys;
    auto args = leadingArgs(resp);
    if (args.empty()) return std::nullopt;
    if (ieq(args[0], "mset")) {
        for (size_t i = 1; i < args.size(); i += 2) keys.emplace_back(args[i]);
    } else if (ieq(args[0], "set") || ieq(args[0], "setex") || ieq(args[0], "psetex")) {
        if (args.size() < 2) return std::nullopt;
        keys.emplace_back(args[1]);
    } else {
        return std::nullopt;
    }
    return keys;
}

std::optional<std::string> fixedReplyCommand(std::span<const std::string_view> argv, const std::function<int64_t()>& now_ms) {
    if (argv.empty()) return std::nullopt;
    std::string out;
    std::string at;
    auto name = argv[0];
    if (ieq(name, "mset")) {
        if (argv.size() < 3 || argv.size() % 2 == 0) return std::nullopt;
        resp::appendCommand(out, argv);
        return out;
    }
    if (ieq(name, "setex") || ieq(name, "psetex")) {
        if (argv.size() != 4) return std::nullopt;
        auto when = deadline(argv[2], ieq(name, "setex"), false, now_ms);
        if (!when) return std::nullopt;
        at = std::to_string(*when);
        resp::appendCommand(out, {"SET", argv[1], argv[3], "PXAT", at});
        return out;
    }
    if (!ieq(name, "set") || argv.size() < 3) return std::nullopt;
    // SET key value [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]: the options of t_string.c's
    // parseExtendedStringArgumentsOrReply without NX, XX and GET (whose reply depends on the key).
    std::vector<std::string_view> args = {"SET", argv[1], argv[2]};
    bool expiry = false, keepttl = false;
    for (size_t i = 3; i < argv.size(); ++i) {
        auto opt = argv[i];
        if (ieq(opt, "keepttl") && !expiry && !keepttl) {
            keepttl = true;
            args.push_back("KEEPTTL");
            continue;
        }
        bool ex = ieq(opt, "ex"), px = ieq(opt, "px"), exat = ieq(opt, "exat"), pxat = ieq(opt, "pxat");
        if ((ex || px || exat || pxat) && !expiry && !keepttl && i + 1 < argv.size()) {
            auto when = deadline(argv[i + 1], ex || exat, exat || pxat, now_ms);
            if (!when) return std::nullopt;
            expiry = true;
            at = std::to_string(*when);
            args.push_back("PXAT");
            args.push_back(at);
            ++i;
            continue;
        }
        return std::nullopt;  // NX, XX, GET, or what the server would refuse
    }
    resp::appendCommand(out, args);
    return out;
}

}  // namespace laminar::queue

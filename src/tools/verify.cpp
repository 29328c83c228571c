// SPDX-License-Identifier: Apache-2.0
#include "tools/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <ostream>
#include <random>
#include <vector>

#include "tools/sync_client.h"
#include "tools/copy.h"

namespace laminar::tools {
namespace {

// A printable, bounded rendering of bytes for difference reports.
std::string printable(std::string_view s, size_t max = 60) {
    std::string out;
    for (unsigned char c : s.substr(0, max)) {
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') out.push_back(static_cast<char>(c));
        else out += fmt::format("\\x{:02x}", c);
    }
    if (s.size() > max) out += fmt::format("...({} bytes)", s.size());
    return out;
}

// A key's type and value in a form that compares equal when the data is equal.
struct KeyState {
    std::string type = "none";
    std::vector<std::string> items;  // value parts, canonical order
    long long pttl = -2;

    std::string describe() const {
        if (type == "none") return "none";
        std::string v;
        for (size_t i = 0; i < items.size() && i < 6; ++i) v += (i ? ", " : "") + ("'" + printable(items[i], 40) + "'");
        if (items.size() > 6) v += fmt::format(", ... {} items", items.size());
        return fmt::format("{} [{}] ttl {}", type, v, pttl < 0 ? std::string("none") : fmt::format("{} ms", pttl));
    }
};

KeyState readKey(SyncClient& c, const std::string& key) {
    KeyState s;
    auto t = c.call({"TYPE", key});
    if (t.isError()) throw Unreachable(fmt::format("TYPE {} on '{}': {}", key, c.name(), t.str));
    s.type = t.str;
    if (s.type == "none") return s;
    Value v;
    bool sorted = false;
    if (s.type == "string") v = c.call({"GET", key});
    else if (s.type == "hash") v = c.call({"HGETALL", key});
    else if (s.type == "list") v = c.call({"LRANGE", key, "0", "-1"});
    else if (s.type == "set") v = c.call({"SMEMBERS", key}), sorted = true;
    else if (s.type == "zset") v = c.call({"ZRANGE", key, "0", "-1", "WITHSCORES"});
    else if (s.type == "stream") v = c.call({"XRANGE", key, "-", "+"});
    else v = c.call({"DUMP", key});
    if (v.isNil()) {  // gone between TYPE and the read
        s.type = "none";
        return s;
    }
    std::function<void(const Value&)> flatten = [&](const Value& x) {
        if (x.kind == Value::Kind::kArray)
            for (const auto& e : x.elems) flatten(e);
        else s.items.push_back(x.kind == Value::Kind::kInteger ? std::to_string(x.integer) : x.str);
    };
    flatten(v);
    if (s.type == "hash") {  // field/value pairs, in field order
        std::vector<std::pair<std::string, std::string>> pairs;
        for (size_t i = 0; i + 1 < s.items.size(); i += 2) pairs.emplace_back(s.items[i], s.items[i + 1]);
        std::sort(pairs.begin(), pairs.end());
        s.items.clear();
        for (auto& [f, x] : pairs) s.items.push_back(f), s.items.push_back(x);
    }
    if (sorted) std::sort(s.items.begin(), s.items.end());
    auto p = c.call({"PTTL", key});
    s.pttl = p.kind == Value::Kind::kInteger ? p.integer : -1;
    return s;
}

// Every key of one side matching `match` (SCAN).
std::vector<std::string> scanAll(SyncClient& c, const std::string& match) {
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
        std::vector<std::string> scan = {"SCAN", cursor, "COUNT", "500"};
        if (!match.empty()) scan.insert(scan.end(), {"MATCH", match});
        Value r = c.call(scan);
        if (r.kind != Value::Kind::kArray || r.elems.size() != 2) throw Unreachable(fmt::format("SCAN on '{}': {}", c.name(), r.isError() ? r.str : "unexpected reply"));
        for (const auto& k : r.elems[1].elems) keys.push_back(k.str);
        cursor = r.elems[0].str;
    } while (cursor != "0");
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());  // SCAN may return a key twice
    return keys;
}

// --report: the laminar that `cfg` configures is told what was found (LAMINAR VERIFIED), so that
// LAMINAR MIGRATION can show it. A laminar that cannot be told is an error line, not a failure.
void reportToLaminar(const config::Config& cfg, const VerifyOptions& opt, bool equal, uint64_t compared, uint64_t differences,
                     std::ostream& err) {
    config::BackendConfig laminar;
    laminar.name = "laminar";
    laminar.type = config::BackendConfig::Type::kRedis;
    laminar.address = cfg.listen;
    if (laminar.address.host == "0.0.0.0" || laminar.address.host == "::") laminar.address.host = "127.0.0.1";
    laminar.password = cfg.client.password;
    try {
        auto c = SyncClient::open(laminar);
        auto r = c->call({"LAMINAR", "VERIFIED", opt.a, opt.b, opt.match.empty() ? "-" : opt.match, equal ? "equal" : "different",
                          std::to_string(compared), std::to_string(differences)});
        if (r.isError()) err << fmt::format("laminar verify: laminar at {} did not take the report: {}\n", laminar.address.str(), r.str);
    } catch (const std::exception& e) {
        err << fmt::format("laminar verify: cannot report to laminar at {}: {}\n", laminar.address.str(), e.what());
    }
}

}  // namespace

int runVerify(const config::Config& cfg, const VerifyOptions& opt, std::ostream& out, std::ostream& err) {
    const auto* a_cfg = cfg.backend(opt.a);
    const auto* b_cfg = cfg.backend(opt.b);
    if (!a_cfg || !b_cfg || opt.a == opt.b) {
        err << fmt::format("laminar verify: --a and --b must name two different backends of {}\n", cfg.source);
        return kUsage;
    }
    try {
        auto a = SyncClient::open(*a_cfg);
        auto b = SyncClient::open(*b_cfg);
        auto keys = scanAll(*a, opt.match);
        if (opt.sample > 0 && keys.size() > opt.sample) {
            std::mt19937_64 rng(std::random_device{}());
            std::shuffle(keys.begin(), keys.end(), rng);
            keys.resize(opt.sample);
            std::sort(keys.begin(), keys.end());
        }
        uint64_t equal = 0, differ = 0, missing = 0, extra = 0, vanished = 0;
        std::vector<std::string> examples;
        auto example = [&](std::string line) {
            if (examples.size() < opt.examples) examples.push_back(std::move(line));
        };
        for (const auto& k : keys) {
            KeyState sa = readKey(*a, k), sb = readKey(*b, k);
            if (sa.type == "none") {
                ++vanished;  // deleted or expired on a since the SCAN
                continue;
            }
            if (sb.type == "none") {
                ++missing;
                example(fmt::format("{}: {} has {}, {} has nothing", printable(k), opt.a, sa.describe(), opt.b));
                continue;
            }
            bool ttl_ok = (sa.pttl < 0) == (sb.pttl < 0) && std::llabs(sa.pttl - sb.pttl) <= opt.ttl_tolerance_ms;
            if (sa.type == sb.type && sa.items == sb.items && ttl_ok) {
                ++equal;
                continue;
            }
            ++differ;
            example(fmt::format("{}: {} has {}, {} has {}", printable(k), opt.a, sa.describe(), opt.b, sb.describe()));
        }
        if (opt.sample == 0) {
            for (const auto& k : scanAll(*b, opt.match)) {
                if (std::binary_search(keys.begin(), keys.end(), k)) continue;
                if (readKey(*a, k).type != "none") continue;  // written on a after its SCAN
                ++extra;
                example(fmt::format("{}: only on {}", printable(k), opt.b));
            }
        }
        out << fmt::format("verify {} vs {}{}: {} keys compared: {} equal, {} differ, {} missing on {}, {} only on {}, {} gone meanwhile\n", opt.a,
                           opt.b, opt.match.empty() ? "" : " (" + opt.match + ")", equal + differ + missing, equal, differ, missing, opt.b,
                           extra, opt.b, vanished);
        for (const auto& e : examples) out << "  " << e << "\n";
        if (opt.report) reportToLaminar(cfg, opt, differ + missing + extra == 0, equal + differ + missing + extra, differ + missing + extra, err);
        return differ + missing + extra ? kSomeFailed : kOk;
    } catch (const Unreachable& e) {
        err << "laminar verify: " << e.what() << "\n";
        return kUnreachable;
    }
}

}  // namespace laminar::tools

// SPDX-License-Identifier: Apache-2.0
#include "support/policy_support.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <thread>

namespace laminar::test {

std::string twoBackendConfig(int old_port, int new_port, const std::string& routes, int threads, const std::string& extra) {
    return cat("listen: 127.0.0.1:{port}\nthreads: ", threads, "\nlog: {level: info}\n", extra,
               "backends:\n  old: {type: redis, address: 127.0.0.1:", old_port,
               "}\n  new: {type: redis, address: 127.0.0.1:", new_port, "}\nroutes:\n", routes,
               "  - name: default\n    strategy: {type: proxy, target: old}\n");
}

std::string route(const std::string& name, const std::string& glob, const std::string& body) {
    return cat("  - name: ", name, "\n    match: {keys: [\"", glob, "\"]}\n    ", body, "\n");
}

std::string migrationRoute(const std::string& name, const std::string& glob, const std::string& phase) {
    return route(name, glob, cat("migration: {from: old, to: new, phase: ", phase, "}"));
}

std::string forcedMigrationRoute(const std::string& name, const std::string& glob, const std::string& phase) {
    return migrationRoute(name, glob, phase) + "    force: true\n";
}

namespace {
std::string joinSorted(std::vector<std::string> parts, bool sort, const char* open, const char* close) {
    if (sort) std::sort(parts.begin(), parts.end());
    std::string out = open;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i) out += ", ";
        out += parts[i];
    }
    return out + close;
}
}  // namespace

std::string keyState(Client& c, const std::string& key) {
    auto type = c.cmd({"TYPE", key});
    if (type.type != REDIS_REPLY_STATUS) return "TYPE failed: " + show(type);
    const std::string& t = type.str;
    if (t == "none") return "none";
    std::vector<std::string> parts;
    if (t == "string") {
        auto r = c.cmd({"GET", key});
        return "string:" + show(r);
    }
    if (t == "hash") {
        auto r = c.cmd({"HGETALL", key});
        for (size_t i = 0; i + 1 < r.elements.size(); i += 2) parts.push_back(r.elements[i].str + "=" + r.elements[i + 1].str);
        return "hash:" + joinSorted(parts, true, "{", "}");
    }
    if (t == "list") {
        auto r = c.cmd({"LRANGE", key, "0", "-1"});
        for (const auto& e : r.elements) parts.push_back(e.str);
        return "list:" + joinSorted(parts, false, "[", "]");
    }
    if (t == "set") {
        auto r = c.cmd({"SMEMBERS", key});
        for (const auto& e : r.elements) parts.push_back(e.str);
        return "set:" + joinSorted(parts, true, "{", "}");
    }
    if (t == "zset") {
        auto r = c.cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"});
        for (size_t i = 0; i + 1 < r.elements.size(); i += 2) parts.push_back(r.elements[i].str + "=" + r.elements[i + 1].str);
        return "zset:" + joinSorted(parts, false, "[", "]");
    }
    return t + ":?";
}

long long pttl(Client& c, const std::string& key) {
    auto r = c.cmd({"PTTL", key});
    return r.type == REDIS_REPLY_INTEGER ? r.integer : -3;
}

std::vector<std::string> allKeys(int port, const std::string& pattern) {
    Client c(port);
    std::set<std::string> keys;
    std::string cursor = "0";
    do {
        auto r = c.cmd({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (r.type != REDIS_REPLY_ARRAY || r.elements.size() != 2) break;
        cursor = r.elements[0].str;
        for (const auto& k : r.elements[1].elements) keys.insert(k.str);
    } while (cursor != "0");
    return {keys.begin(), keys.end()};
}

std::vector<std::string> diffKeys(int a_port, int b_port, const std::vector<std::string>& keys, std::chrono::milliseconds ttl_slack) {
    Client a(a_port), b(b_port);
    std::vector<std::string> out;
    for (const auto& k : keys) {
        auto sa = keyState(a, k), sb = keyState(b, k);
        if (sa != sb) {
            out.push_back(cat(k, ": ", a_port, " has ", sa.substr(0, 200), " / ", b_port, " has ", sb.substr(0, 200)));
            continue;
        }
        if (sa == "none") continue;
        long long ta = pttl(a, k), tb = pttl(b, k);
        bool ok = (ta < 0 || tb < 0) ? ta == tb : std::llabs(ta - tb) <= ttl_slack.count();
        if (!ok) out.push_back(cat(k, ": pttl ", ta, " on ", a_port, " / ", tb, " on ", b_port));
    }
    return out;
}

std::vector<std::string> diffAll(int a_port, int b_port, const std::string& pattern, std::chrono::milliseconds ttl_slack) {
    auto ka = allKeys(a_port, pattern), kb = allKeys(b_port, pattern);
    std::set<std::string> all(ka.begin(), ka.end());
    all.insert(kb.begin(), kb.end());
    return diffKeys(a_port, b_port, {all.begin(), all.end()}, ttl_slack);
}

std::vector<std::string> waitNoDiff(const std::function<std::vector<std::string>()>& diff, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto d = diff();
        if (d.empty() || std::chrono::steady_clock::now() >= deadline) return d;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string firstLines(const std::vector<std::string>& lines, size_t n) {
    std::string out = cat(lines.size(), " difference(s):\n");
    for (size_t i = 0; i < lines.size() && i < n; ++i) out += "  " + lines[i] + "\n";
    return out;
}

std::map<std::string, std::string> laminarRoute(Client& c, const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"LAMINAR", "ROUTE"};
    full.insert(full.end(), argv.begin(), argv.end());
    auto r = c.cmd(full);
    std::map<std::string, std::string> out;
    if (r.type != REDIS_REPLY_ARRAY) {
        out["error"] = show(r);
        return out;
    }
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) out[r.elements[i].str] = r.elements[i + 1].str;
    return out;
}

std::string laminarStatus(Client& c) {
    auto r = c.cmd({"LAMINAR", "STATUS"});
    return r.type == REDIS_REPLY_STRING ? r.str : "";
}

// A counter of one route in LAMINAR STATUS ("  NAME: strategy\n    counters: a=1 b=2\n"); counters
// that are 0 are not listed, so absent means 0. -1 when the route is not in the status at all.
long long routeCounter(Client& c, const std::string& route_name, const std::string& counter) {
    const std::string status = laminarStatus(c);
    auto pos = status.find("\n  " + route_name + ": ");
    if (pos == std::string::npos) return -1;
    // The route's block: up to the next line indented by exactly two spaces (the next route) or a
    // blank line.
    size_t end = pos + 1;
    for (;;) {
        end = status.find('\n', end);
        if (end == std::string::npos || end + 1 >= status.size()) break;
        if (status.compare(end + 1, 4, "    ") != 0) break;
        ++end;
    }
    const std::string block = status.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    auto counters = block.find("    counters:");
    if (counters == std::string::npos) return 0;
    auto at = block.find(" " + counter + "=", counters);
    if (at == std::string::npos) return 0;
    return std::stoll(block.substr(at + counter.size() + 2));
}

std::string laminarInfo(Client& c, const std::string& field) {
    auto r = c.cmd({"INFO", "laminar"});
    if (r.type != REDIS_REPLY_STRING) return "";
    return infoField(r.str, field);
}

long long laminarInfoNumber(Client& c, const std::string& field) {
    auto v = laminarInfo(c, field);
    if (v.empty()) return -1;
    try {
        return std::stoll(v);
    } catch (...) {
        return -1;
    }
}

bool waitGeneration(Client& c, long long generation, std::chrono::milliseconds timeout) {
    return waitFor([&] { return laminarInfoNumber(c, "config_generation") == generation; }, timeout);
}

bool sighupAndWait(Laminar& l, Client& admin, std::chrono::milliseconds timeout) {
    long long before = laminarInfoNumber(admin, "reloads_ok") + laminarInfoNumber(admin, "reloads_failed");
    l.process().signal(SIGHUP);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        long long now = laminarInfoNumber(admin, "reloads_ok") + laminarInfoNumber(admin, "reloads_failed");
        if (now > before) return true;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return false;
}

std::vector<Reply> pipeline(Client& c, const std::vector<std::vector<std::string>>& commands) {
    for (const auto& cmd : commands) c.append(cmd);
    std::vector<Reply> out;
    out.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) out.push_back(c.read());
    return out;
}

void copyKeys(int from_port, int to_port, const std::vector<std::string>& keys) {
    Client from(from_port), to(to_port);
    for (const auto& k : keys) {
        auto dump = from.cmd({"DUMP", k});
        long long ttl = pttl(from, k);
        if (dump.type != REDIS_REPLY_STRING) {
            to.cmd({"DEL", k});
            continue;
        }
        to.cmd({"RESTORE", k, std::to_string(ttl > 0 ? ttl : 0), dump.str, "REPLACE"});
    }
}

}  // namespace laminar::test

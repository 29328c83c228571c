// SPDX-License-Identifier: Apache-2.0
#include "policy/strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

#include "policy/condition.h"
#include "policy/convert.h"
#include "policy/dual_lookup.h"
#include "policy/dual_write.h"
#include "policy/proxy.h"
#include "policy/queued_write.h"
#include "policy/read_only.h"
#include "policy/shadow.h"
#include "policy/timed_rollover.h"
#include "resp/ascii.h"

namespace laminar::policy {

bool Strategy::serializes(const Request& req) const {
    bool any = false;
    forEachChild([&](const Strategy& c) { any = any || c.serializes(req); });
    return any;
}

std::optional<std::chrono::system_clock::time_point> Strategy::readMovesAt(std::string_view key,
                                                                           std::chrono::system_clock::time_point now) const {
    std::optional<std::chrono::system_clock::time_point> first;
    forEachChild([&](const Strategy& c) {
        auto at = c.readMovesAt(key, now);
        if (at && (!first || *at < *first)) first = at;
    });
    return first;
}

void Strategy::syncPairs(std::vector<std::pair<int, int>>& out) const {
    forEachChild([&](const Strategy& c) { c.syncPairs(out); });
}

bool Strategy::backfillTask(SyncTask& task, std::string& why) const {
    bool found = false;
    forEachChild([&](const Strategy& c) {
        std::string ignored;
        if (!found) found = c.backfillTask(task, ignored);
    });
    if (!found) why = "its strategy is " + describe() + ", not a dual write";
    return found;
}

namespace {
// The first child that holds `s`'s pin target: where a pinned write was applied.
const Strategy* pinHolder(const Strategy& s) {
    const Strategy* holder = nullptr;
    const int pin = s.pinTarget();
    s.forEachChild([&](const Strategy& c) {
        if (!holder && c.pinTarget() == pin) holder = &c;
    });
    return holder;
}
}  // namespace

void Strategy::afterPinnedWrite(std::string_view key, Context& ctx) const {
    if (const Strategy* holder = pinHolder(*this)) holder->afterPinnedWrite(key, ctx);
}

void Strategy::beforePinnedWrite(std::string_view key, Context& ctx) const {
    if (const Strategy* holder = pinHolder(*this)) holder->beforePinnedWrite(key, ctx);
}
using resp::equalsIgnoreCase;

namespace {

constexpr int kMaxDepth = 16;

// A table, not an if/else chain: `type` -> make-function, each validating as it builds.
const std::unordered_map<std::string_view, MakeStrategy>& strategies() {
    static const std::unordered_map<std::string_view, MakeStrategy> table = {
        {"proxy", &makeProxy},
        {"read_only", &makeReadOnly},
        {"dual_lookup", &makeDualLookup},
        {"dual_write", &makeDualWrite},
        {"shadow", &makeShadow},
        {"timed_rollover", &makeTimedRollover},
        {"condition", &makeCondition},
        {"convert", &makeConvert},
        {"queued_write", &makeQueuedWrite},
    };
    return table;
}

std::string knownTypes() {
    std::vector<std::string_view> names;
    for (const auto& [name, make] : strategies()) names.push_back(name);
    std::sort(names.begin(), names.end());
    return fmt::format("{}", fmt::join(names, ", "));
}

// What a write does to its keys' values, by the command's table entry: every write of a route
// that keeps two sides in step asks, so it is one lookup rather than a run of name comparisons.
enum class WriteKind : uint8_t { kOther, kOverwrite, kSet, kDelete };

const resp::PerCommand<WriteKind> kWriteKinds([](const resp::CommandInfo& c) {
    const std::string_view n = c.name;
    if (n == "del" || n == "unlink") return WriteKind::kDelete;
    if (n == "setex" || n == "psetex" || n == "mset") return WriteKind::kOverwrite;
    return n == "set" ? WriteKind::kSet : WriteKind::kOther;
});

WriteKind writeKind(const resp::CommandInfo* cmd) { return kWriteKinds.get(cmd, WriteKind::kOther); }

// SET's options that make it depend on the key's value or state (NX, XX, GET, KEEPTTL). Apart,
// so that a plain SET does not pay for the loop's registers.
[[gnu::noinline]] bool setHasCondition(std::span<const std::string_view> argv) {
    for (std::string_view option : argv.subspan(std::min<size_t>(3, argv.size())))
        for (std::string_view condition : {"NX", "XX", "GET", "KEEPTTL"})
            if (equalsIgnoreCase(option, condition)) return true;
    return false;
}

}  // namespace

bool Request::isDelete() const { return writeKind(cmd) == WriteKind::kDelete; }

bool Request::isPlainOverwrite() const {
    switch (writeKind(cmd)) {
        case WriteKind::kDelete:
        case WriteKind::kOverwrite: return true;
        case WriteKind::kOther: return false;
        case WriteKind::kSet: break;
    }
    return argv.size() <= 3 || !setHasCondition(argv);  // SET key value: no option to look at
}

std::unique_ptr<Strategy> Builder::build(const YAML::Node& node, const std::string& path) {
    if (++depth_ > kMaxDepth) fail(node, path, fmt::format("strategies nested deeper than {} (a cycle through YAML aliases?)", kMaxDepth));
    struct Leave {
        int& d;
        ~Leave() { --d; }
    } leave{depth_};
    if (node.IsScalar()) return proxy(backendIndex(node, path));
    config::MapReader r(ctx_, node, path);
    auto type = r.string("type", "");
    if (type.empty()) fail(node, r.path("type"), "is required");
    auto it = strategies().find(type);
    if (it == strategies().end())
        fail(r.take("type"), r.path("type"), fmt::format("unknown strategy type '{}' (known: {})", type, knownTypes()));
    auto strategy = it->second(r, *this);
    r.finish();
    return strategy;
}

std::unique_ptr<Strategy> Builder::child(config::MapReader& r, const std::string& key) {
    auto n = r.take(key);
    if (!n.IsDefined() || n.IsNull()) fail(r.node(), r.path(key), "is required (a backend name or a strategy)");
    return build(n, r.path(key));
}

int Builder::backend(config::MapReader& r, const std::string& key) {
    auto n = r.take(key);
    if (!n.IsDefined() || n.IsNull()) fail(r.node(), r.path(key), "is required (a backend name)");
    return backendIndex(n, r.path(key));
}

std::unique_ptr<Strategy> Builder::proxy(int backend) {
    auto at = std::lower_bound(reached_.begin(), reached_.end(), backend);
    if (at == reached_.end() || *at != backend) reached_.insert(at, backend);
    return std::make_unique<Proxy>(backend, backendName(backend));
}

int Builder::backendIndex(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) fail(node, path, "must be a backend name");
    int i = cfg_.backendIndex(node.Scalar());
    if (i < 0) fail(node, path, fmt::format("unknown backend '{}'", node.Scalar()));
    return i;
}

}  // namespace laminar::policy

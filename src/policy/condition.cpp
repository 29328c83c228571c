// SPDX-License-Identifier: Apache-2.0
#include "policy/condition.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "obs/logging.h"
#include "policy/sync_engine.h"
#include "config/units.h"
#include "policy/health_view.h"
#include "policy/write_queue.h"

namespace laminar::policy {
namespace {

// all/any/not through YAML aliases could otherwise nest without end.
constexpr int kMaxConditionDepth = 32;

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("policy");
    return l;
}

using Compile = Condition (*)(const YAML::Node& value, const std::string& path, Builder& b, int depth);
Condition compile(const YAML::Node& node, const std::string& path, Builder& b, int depth);

Condition backendState(Condition::Kind kind, const YAML::Node& value, const std::string& path, Builder& b) {
    Condition c{kind};
    c.backend = b.backendIndex(value, path);
    c.backend_name = b.backendName(c.backend);
    return c;
}

Condition compileDown(const YAML::Node& v, const std::string& path, Builder& b, int) {
    return backendState(Condition::Kind::kBackendDown, v, path, b);
}
Condition compileDegraded(const YAML::Node& v, const std::string& path, Builder& b, int) {
    return backendState(Condition::Kind::kBackendDegraded, v, path, b);
}
Condition compileUp(const YAML::Node& v, const std::string& path, Builder& b, int) {
    return backendState(Condition::Kind::kBackendUp, v, path, b);
}

// {BACKEND_KEY: B, FIELD: duration} (latency_above, queue_lag_above): the backend, and the
// duration, which is required and positive.
config::Millis backendAndDuration(Condition& c, const YAML::Node& v, const std::string& path, Builder& b, const char* backend_key,
                                  const char* field, const char* example) {
    config::MapReader r(b.ctx(), v, path);
    c.backend = b.backend(r, backend_key);
    c.backend_name = b.backendName(c.backend);
    auto d = r.take(field);
    if (!d.IsDefined() || d.IsNull()) b.fail(v, r.path(field), fmt::format("is required (a duration like {})", example));
    auto out = r.duration(field, config::Millis(0), false);
    r.finish();
    return out;
}

Condition compileLatency(const YAML::Node& v, const std::string& path, Builder& b, int) {
    Condition c{Condition::Kind::kLatencyAbove};
    c.p99_millis = static_cast<double>(backendAndDuration(c, v, path, b, "backend", "p99", "5ms").count());
    return c;
}

Condition compileQueueStale(const YAML::Node& v, const std::string& path, Builder& b, int) {
    return backendState(Condition::Kind::kQueueStale, v, path, b);
}

Condition compileQueueLag(const YAML::Node& v, const std::string& path, Builder& b, int) {
    Condition c{Condition::Kind::kQueueLagAbove};
    c.lag_seconds = static_cast<double>(backendAndDuration(c, v, path, b, "target", "lag", "10s").count()) / 1000.0;
    return c;
}

Condition compilePercent(const YAML::Node& v, const std::string& path, Builder& b, int) {
    const std::string s = v.IsScalar() ? v.Scalar() : std::string();
    double n = -1;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!v.IsScalar() || s.empty() || ec != std::errc() || p != s.data() + s.size() || !(n >= 0 && n <= 100))
        b.fail(v, path, fmt::format("must be a number from 0 to 100, got '{}'", v.IsScalar() ? s : "?"));
    Condition c{Condition::Kind::kPercent};
    c.percent = n;
    c.buckets = static_cast<uint64_t>(std::llround(n * static_cast<double>(Condition::kPercentBuckets) / 100));
    return c;
}

Condition compileCommands(const YAML::Node& v, const std::string& path, Builder& b, int) {
    if (!v.IsSequence() || v.size() == 0) b.fail(v, path, "must be a non-empty list of read, write or command names");
    Condition c{Condition::Kind::kCommands};
    for (size_t i = 0; i < v.size(); ++i) {
        auto item_path = fmt::format("{}[{}]", path, i);
        if (!v[i].IsScalar()) b.fail(v[i], item_path, "must be read, write or a command name");
        std::string name = v[i].Scalar();
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (name == "read") {
            c.reads = true;
            continue;
        }
        if (name == "write") {
            c.writes = true;
            continue;
        }
        // A typo must not silently match nothing: the name has to be a command (or container|sub).
        std::vector<std::string_view> argv;
        auto bar = name.find('|');
        argv.push_back(std::string_view(name).substr(0, bar));
        if (bar != std::string::npos) argv.push_back(std::string_view(name).substr(bar + 1));
        const resp::CommandInfo* info = resp::lookupCommand(argv);
        if (!info || info->name != name) b.fail(v[i], item_path, fmt::format("unknown command '{}'", v[i].Scalar()));
        c.names.push_back(name);
    }
    return c;
}

Condition compileList(Condition::Kind kind, const YAML::Node& v, const std::string& path, Builder& b, int depth) {
    if (!v.IsSequence() || v.size() == 0) b.fail(v, path, "must be a non-empty list of conditions");
    Condition c{kind};
    for (size_t i = 0; i < v.size(); ++i) c.children.push_back(compile(v[i], fmt::format("{}[{}]", path, i), b, depth + 1));
    return c;
}
Condition compileAll(const YAML::Node& v, const std::string& path, Builder& b, int depth) {
    return compileList(Condition::Kind::kAll, v, path, b, depth);
}
Condition compileAny(const YAML::Node& v, const std::string& path, Builder& b, int depth) {
    return compileList(Condition::Kind::kAny, v, path, b, depth);
}
Condition compileNot(const YAML::Node& v, const std::string& path, Builder& b, int depth) {
    Condition c{Condition::Kind::kNot};
    c.children.push_back(compile(v, path, b, depth + 1));
    return c;
}

const std::unordered_map<std::string_view, Compile>& conditions() {
    static const std::unordered_map<std::string_view, Compile> table = {
        {"backend_down", &compileDown},   {"backend_degraded", &compileDegraded}, {"backend_up", &compileUp},
        {"latency_above", &compileLatency}, {"percent", &compilePercent},       {"commands", &compileCommands},
        {"all", &compileAll},             {"any", &compileAny},                   {"not", &compileNot},
        {"queue_stale", &compileQueueStale}, {"queue_lag_above", &compileQueueLag},
    };
    return table;
}

std::string knownConditions() {
    std::vector<std::string_view> names;
    for (const auto& [name, fn] : conditions()) names.push_back(name);
    std::sort(names.begin(), names.end());
    return fmt::format("{}", fmt::join(names, ", "));
}

// `node` is a mapping with exactly one known key, the condition's name.
Condition compile(const YAML::Node& node, const std::string& path, Builder& b, int depth) {
    if (depth > kMaxConditionDepth)
        b.fail(node, path, fmt::format("conditions nested deeper than {} (a cycle through YAML aliases?)", kMaxConditionDepth));
    if (!node.IsMap() || node.size() != 1)
        b.fail(node, path, fmt::format("must be a mapping with exactly one condition (one of: {})", knownConditions()));
    auto entry = *node.begin();
    auto name = b.ctx().keyName(entry.first, path);
    auto key_path = config::join(path, name);
    auto it = conditions().find(name);
    if (it == conditions().end())
        b.fail(entry.first, key_path, fmt::format("unknown condition '{}' (known: {})", name, knownConditions()));
    return it->second(entry.second, key_path, b, depth);
}

}  // namespace

bool Condition::eval(const Request& req, bool write, const Context& ctx) const {
    switch (kind) {
        case Kind::kBackendDown: return ctx.health.state(backend) == Health::State::kDown;
        case Kind::kBackendDegraded: return ctx.health.state(backend) != Health::State::kUp;
        case Kind::kBackendUp: return ctx.health.state(backend) == Health::State::kUp;
        case Kind::kLatencyAbove: return ctx.health.p99Millis(backend) > p99_millis;
        case Kind::kQueueStale: return !ctx.queue || ctx.queue->canaryStale(backend_name);
        case Kind::kQueueLagAbove: return ctx.queue && ctx.queue->lagSeconds(backend_name) > lag_seconds;
        case Kind::kPercent: {
            if (req.keys.empty()) return false;
            auto key = req.key();
            return XXH64(key.data(), key.size(), 0) % kPercentBuckets < buckets;
        }
        case Kind::kCommands: {
            if (write ? writes : reads) return true;
            std::string_view name = req.cmd->name;
            std::string_view top = name.substr(0, name.find('|'));
            return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n == name || n == top; });
        }
        case Kind::kAll:
            return std::all_of(children.begin(), children.end(), [&](const Condition& c) { return c.eval(req, write, ctx); });
        case Kind::kAny:
            return std::any_of(children.begin(), children.end(), [&](const Condition& c) { return c.eval(req, write, ctx); });
        case Kind::kNot: return !children.front().eval(req, write, ctx);
    }
    return false;
}

std::string Condition::describe() const {
    auto list = [this](const char* name) {
        std::vector<std::string> parts;
        for (const auto& c : children) parts.push_back(c.describe());
        return fmt::format("{}({})", name, fmt::join(parts, ", "));
    };
    switch (kind) {
        case Kind::kBackendDown: return "backend_down(" + backend_name + ")";
        case Kind::kBackendDegraded: return "backend_degraded(" + backend_name + ")";
        case Kind::kBackendUp: return "backend_up(" + backend_name + ")";
        case Kind::kLatencyAbove:
            return fmt::format("latency_above({}, p99={})", backend_name,
                               config::formatDuration(config::Millis(static_cast<long long>(p99_millis))));
        case Kind::kQueueStale: return "queue_stale(" + backend_name + ")";
        case Kind::kQueueLagAbove:
            return fmt::format("queue_lag_above({}, lag={})", backend_name,
                               config::formatDuration(config::Millis(static_cast<long long>(lag_seconds * 1000))));
        case Kind::kPercent: return fmt::format("percent({})", percent);
        case Kind::kCommands: {
            std::vector<std::string> parts;
            if (reads) parts.push_back("read");
            if (writes) parts.push_back("write");
            parts.insert(parts.end(), names.begin(), names.end());
            return fmt::format("commands({})", fmt::join(parts, ", "));
        }
        case Kind::kAll: return list("all");
        case Kind::kAny: return list("any");
        case Kind::kNot: return list("not");
    }
    return "?";
}

bool Condition::stateOnly() const {
    switch (kind) {
        case Kind::kBackendDown:
        case Kind::kBackendDegraded:
        case Kind::kBackendUp:
        case Kind::kLatencyAbove:
        case Kind::kQueueStale:
        case Kind::kQueueLagAbove: return true;
        case Kind::kPercent:
        case Kind::kCommands: return false;
        case Kind::kAll:
        case Kind::kAny:
        case Kind::kNot: return std::all_of(children.begin(), children.end(), [](const Condition& c) { return c.stateOnly(); });
    }
    return false;
}

ConditionStrategy::ConditionStrategy(Condition when, std::unique_ptr<Strategy> then, std::unique_ptr<Strategy> otherwise, std::string route)
    : when_(std::move(when)), route_(std::move(route)), then_(std::move(then)), else_(std::move(otherwise)) {}

void ConditionStrategy::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    bool holds = when_.eval(req, req.isWrite(), ctx);
    if (when_.stateOnly() && noteTransition(holds) && ctx.host) ctx.host->readsMoved();
    (holds ? then_ : else_)->execute(req, sink, ctx);
}

// Every I/O thread evaluates the condition; the exchange makes one of them log each change.
bool ConditionStrategy::noteTransition(bool holds) const {
    int now = holds ? 1 : 0;
    int before = last_.load(std::memory_order_relaxed);
    if (before == now || !last_.compare_exchange_strong(before, now)) return false;
    if (before == -1 && !holds) return false;  // the normal state, first seen: nothing happened
    if (holds)
        log()->warn("route '{}': fail-safe engaged: {} holds, commands go to {}", route_, when_.describe(), then_->describe());
    else
        log()->info("route '{}': fail-safe cleared: {} no longer holds, commands go to {}", route_, when_.describe(), else_->describe());
    return before != -1;  // from a value seen under this configuration: reads moved
}

void ConditionStrategy::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    (when_.eval(req, write, ctx) ? then_ : else_)->targets(req, ctx, write, out);
}

std::string ConditionStrategy::describe() const {
    return "condition(" + when_.describe() + ", then=" + then_->describe() + ", else=" + else_->describe() + ")";
}

std::unique_ptr<Strategy> makeCondition(config::MapReader& r, Builder& b) {
    auto when_node = r.take("when");
    if (!when_node.IsDefined() || when_node.IsNull()) b.fail(r.node(), r.path("when"), "is required (e.g. {backend_down: new})");
    auto when = compile(when_node, r.path("when"), b, 0);
    auto then = b.child(r, "then");
    auto otherwise = b.child(r, "else");
    return std::make_unique<ConditionStrategy>(std::move(when), std::move(then), std::move(otherwise), b.routeName());
}

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/units.h"

namespace laminar::config {

// Where we are in the document, for messages: "routes[2].strategy.window".
struct Ctx {
    std::string source;

    [[noreturn]] void fail(const YAML::Node& near, const std::string& path, const std::string& msg) const {
        int line = near.IsDefined() ? near.Mark().line + 1 : 0;
        if (line <= 0) throw ConfigError(fmt::format("{}: {}: {}", source, path, msg));
        throw ConfigError(fmt::format("{}:{}: {}: {}", source, line, path, msg));
    }

    // The name a key of the mapping at `path` gives. YAML also allows a list or a mapping as a
    // key (`? [a, b]: x`), which yaml-cpp cannot convert to a string: refused here, as a
    // ConfigError, rather than escaping as a yaml-cpp exception.
    std::string keyName(const YAML::Node& key, const std::string& path) const {
        if (!key.IsScalar() && !key.IsNull()) fail(key, path.empty() ? "(top)" : path, "a key must be a name, not a list or mapping");
        return key.as<std::string>();
    }
};

inline std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// One value of an enumerated setting: its name in the file and what it means.
template <class T>
struct Choice {
    std::string_view name;
    T value;
};

// The value `node` (a scalar at `path`) names among `choices`; anything else fails with
// "must be a, b or c, got 'x'", the choices in the order given.
template <class T>
T chooseOne(const Ctx& ctx, const YAML::Node& node, const std::string& path, std::initializer_list<Choice<T>> choices) {
    const std::string v = node.IsScalar() ? node.Scalar() : std::string();
    std::string names;
    size_t i = 0;
    for (const auto& c : choices) {
        if (c.name == v) return c.value;
        names += i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ";
        names += c.name;
        ++i;
    }
    ctx.fail(node, path, fmt::format("must be {}, got '{}'", names, v));
}

// Reads one YAML mapping. Keys taken are known; finish() rejects any other key, so a typo in a
// field name is an error, never a silently ignored setting.
class MapReader {
public:
    MapReader(const Ctx& ctx, const YAML::Node& node, std::string path) : ctx_(ctx), node_(node), path_(std::move(path)) {
        if (!node.IsMap()) ctx_.fail(node, path_.empty() ? "(top)" : path_, "must be a mapping");
    }

    YAML::Node take(const std::string& key) {
        known_.insert(key);
        return node_[key];
    }
    std::string path(const std::string& key) const { return join(path_, key); }
    const YAML::Node& node() const { return node_; }

    void finish() const {
        for (const auto& kv : node_) {
            auto key = ctx_.keyName(kv.first, path_);
            if (!known_.count(key)) ctx_.fail(kv.first, path(key), "unknown key");
        }
    }

    std::string string(const std::string& key, const std::string& def) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        if (!n.IsScalar()) ctx_.fail(n, path(key), "must be a string");
        return n.Scalar();
    }
    std::optional<std::string> optString(const std::string& key) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return std::nullopt;
        if (!n.IsScalar()) ctx_.fail(n, path(key), "must be a string");
        return n.Scalar();
    }
    long long integer(const std::string& key, long long def, long long min, long long max) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        long long v = 0;
        const auto& s = n.IsScalar() ? n.Scalar() : std::string();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (!n.IsScalar() || ec != std::errc() || p != s.data() + s.size())
            ctx_.fail(n, path(key), fmt::format("must be an integer, got '{}'", s));
        if (v < min || v > max) ctx_.fail(n, path(key), fmt::format("must be between {} and {}, got {}", min, max, v));
        return v;
    }
    bool boolean(const std::string& key, bool def) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        const auto& s = n.IsScalar() ? n.Scalar() : std::string();
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
        ctx_.fail(n, path(key), fmt::format("must be true or false, got '{}'", s));
    }
    uint64_t size(const std::string& key, uint64_t def, uint64_t min) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        auto v = n.IsScalar() ? parseSize(n.Scalar()) : std::nullopt;
        if (!v) ctx_.fail(n, path(key), fmt::format("must be a size like 512mb, got '{}'", n.IsScalar() ? n.Scalar() : "?"));
        if (*v < min) ctx_.fail(n, path(key), fmt::format("must be at least {}, got {}", formatSize(min), n.Scalar()));
        return *v;
    }
    Millis duration(const std::string& key, Millis def, bool allow_zero) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        auto v = n.IsScalar() ? parseDuration(n.Scalar()) : std::nullopt;
        if (!v) ctx_.fail(n, path(key), fmt::format("must be a duration like 500ms or 1s, got '{}'", n.IsScalar() ? n.Scalar() : "?"));
        if (!allow_zero && v->count() == 0) ctx_.fail(n, path(key), fmt::format("must be positive, got {}", n.Scalar()));
        return *v;
    }
    // An enumerated setting (see chooseOne): `def` when the key is absent or null.
    template <class T>
    T choice(const std::string& key, T def, std::initializer_list<Choice<T>> choices) {
        auto n = take(key);
        if (!n.IsDefined() || n.IsNull()) return def;
        if (!n.IsScalar()) ctx_.fail(n, path(key), "must be a string");
        return chooseOne(ctx_, n, path(key), choices);
    }
    std::vector<std::string> strings(const std::string& key) {
        auto n = take(key);
        std::vector<std::string> out;
        if (!n.IsDefined() || n.IsNull()) return out;
        if (!n.IsSequence()) ctx_.fail(n, path(key), "must be a list of strings");
        for (size_t i = 0; i < n.size(); ++i) {
            if (!n[i].IsScalar()) ctx_.fail(n[i], fmt::format("{}[{}]", path(key), i), "must be a string");
            out.push_back(n[i].Scalar());
        }
        return out;
    }

private:
    const Ctx& ctx_;
    YAML::Node node_;
    std::string path_;
    std::set<std::string> known_;
};

}  // namespace laminar::config

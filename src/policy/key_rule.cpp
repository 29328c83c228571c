// SPDX-License-Identifier: Apache-2.0
// Under -fsanitize=address GCC 12 reports an uninitialized std::function inside std::regex's
// compiler, a false positive (GCC bug 105562); the key rules' regexes are compiled in this file.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "policy/key_rule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace laminar::policy {
namespace {

// Characters that mean something in an ECMAScript regex outside a character class.
bool regexSyntax(char c) { return std::string_view("^$\\.*+?()[]{}|").find(c) != std::string_view::npos; }

std::string escapeRegex(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (regexSyntax(c)) out += '\\';
        out += c;
    }
    return out;
}

constexpr auto kRegexFlags = std::regex::ECMAScript | std::regex::optimize;

}  // namespace

KeyRule KeyRule::prefix(std::string from, std::string to) {
    KeyRule r;
    r.kind_ = Kind::kPrefix;
    r.from_ = std::move(from);
    r.to_ = std::move(to);
    return r;
}

KeyRule KeyRule::regex(const std::string& pattern, const std::string& to) {
    std::regex forward;
    try {
        forward = std::regex(pattern, kRegexFlags);
    } catch (const std::regex_error& e) {
        throw Invalid("regex", fmt::format("is not a valid regex: {}", e.what()));
    }
    std::vector<std::string> groups;
    auto source_pieces = splitRegex(pattern, groups);
    if (groups.size() > 9) throw Invalid("regex", fmt::format("has {} capture groups; at most 9 ($1..$9)", groups.size()));
    auto target_pieces = parseTemplate(to, groups.size());

    // The inverse: the template as a regex, each $n standing for group n's pattern; and the
    // regex's literal text as the template, its groups renumbered in the order the template has them.
    std::string inverse_pattern;
    std::vector<int> position(groups.size() + 1, 0);
    int next = 0;
    for (const auto& p : target_pieces) {
        if (p.group == 0) {
            inverse_pattern += escapeRegex(p.literal);
        } else {
            inverse_pattern += "(" + groups[static_cast<size_t>(p.group - 1)] + ")";
            position[static_cast<size_t>(p.group)] = ++next;
        }
    }
    for (auto& p : source_pieces)
        if (p.group > 0) p.group = position[static_cast<size_t>(p.group)];
    std::regex backward;
    try {
        backward = std::regex(inverse_pattern, kRegexFlags);
    } catch (const std::regex_error& e) {
        throw Invalid("to", fmt::format("cannot be reversed: '{}' is not a valid regex: {}", inverse_pattern, e.what()));
    }

    KeyRule r;
    r.kind_ = Kind::kRegex;
    r.from_ = pattern;
    r.to_ = to;
    r.forward_ = Direction{std::move(forward), std::move(target_pieces)};
    r.backward_ = Direction{std::move(backward), std::move(source_pieces)};
    return r;
}

std::vector<KeyRule::Piece> KeyRule::splitRegex(const std::string& pattern, std::vector<std::string>& groups) {
    static const std::string kWhy = ": outside its capture groups the regex must be literal text, so that the rule can be reversed";
    std::vector<Piece> pieces;
    auto literal = [&](char c) {
        if (pieces.empty() || pieces.back().group > 0) pieces.emplace_back();
        pieces.back().literal += c;
    };
    size_t i = 0, end = pattern.size();
    if (end > 0 && pattern[0] == '^') i = 1;
    // A final '$' is an anchor unless escaped (preceded by an odd number of backslashes).
    if (end > i && pattern[end - 1] == '$') {
        size_t slashes = 0;
        while (end - 1 - slashes > i && pattern[end - 2 - slashes] == '\\') ++slashes;
        if (slashes % 2 == 0) --end;
    }
    while (i < end) {
        char c = pattern[i];
        if (c == '\\') {
            char e = i + 1 < end ? pattern[i + 1] : '\\';
            if (std::isalnum(static_cast<unsigned char>(e)) || i + 1 >= end)
                throw Invalid("regex", fmt::format("'\\{}' at offset {} is not literal text{}", e, i, kWhy));
            literal(e);
            i += 2;
            continue;
        }
        if (c == '(') {
            if (i + 1 < end && pattern[i + 1] == '?')
                throw Invalid("regex", fmt::format("'(?' at offset {} is not a capture group{}", i, kWhy));
            size_t close = groupEnd(pattern, i, end);
            groups.push_back(pattern.substr(i + 1, close - i - 1));
            pieces.push_back(Piece{"", static_cast<int>(groups.size())});
            i = close + 1;
            if (i < end && std::string_view("*+?{").find(pattern[i]) != std::string_view::npos)
                throw Invalid("regex", fmt::format("capture group {} is followed by the quantifier '{}': a group must match once, "
                                                   "so that the rule can be reversed",
                                                   groups.size(), pattern[i]));
            continue;
        }
        if (regexSyntax(c)) throw Invalid("regex", fmt::format("'{}' at offset {} is outside a capture group{}", c, i, kWhy));
        literal(c);
        ++i;
    }
    return pieces;
}

size_t KeyRule::groupEnd(const std::string& pattern, size_t open, size_t end) {
    int depth = 0;
    for (size_t i = open + 1; i < end; ++i) {
        char c = pattern[i];
        if (c == '\\') {
            if (i + 1 < end && pattern[i + 1] >= '1' && pattern[i + 1] <= '9')
                throw Invalid("regex", fmt::format("the back-reference at offset {} would refer to another group once the rule is "
                                                   "reversed",
                                                   i));
            ++i;
        } else if (c == '[') {
            for (++i; i < end && pattern[i] != ']'; ++i)
                if (pattern[i] == '\\') ++i;
        } else if (c == '(') {
            if (i + 1 >= end || pattern[i + 1] != '?')
                throw Invalid("regex", fmt::format("capture group inside a capture group at offset {}: write the inner one as (?:...)", i));
            ++depth;
        } else if (c == ')') {
            if (depth == 0) return i;
            --depth;
        }
    }
    throw Invalid("regex", fmt::format("the group at offset {} is not closed", open));
}

std::vector<KeyRule::Piece> KeyRule::parseTemplate(const std::string& to, size_t groups) {
    std::vector<Piece> pieces;
    std::vector<int> uses(groups + 1, 0);
    for (size_t i = 0; i < to.size(); ++i) {
        char c = to[i];
        char n = i + 1 < to.size() ? to[i + 1] : '\0';
        if (c == '$' && n >= '1' && n <= '9') {
            auto g = static_cast<size_t>(n - '0');
            if (g > groups)
                throw Invalid("to", fmt::format("uses ${} but the regex has {} capture group{}", g, groups, groups == 1 ? "" : "s"));
            ++uses[g];
            pieces.push_back(Piece{"", static_cast<int>(g)});
            ++i;
            continue;
        }
        if (c == '$' && n != '$') throw Invalid("to", fmt::format("'$' at offset {} must be followed by a group number 1-9, or by '$' for a '$'", i));
        if (c == '$') ++i;
        if (pieces.empty() || pieces.back().group > 0) pieces.emplace_back();
        pieces.back().literal += c;
    }
    for (size_t g = 1; g <= groups; ++g) {
        if (uses[g] == 1) continue;
        auto how = uses[g] == 0 ? fmt::format("does not use ${}", g) : fmt::format("uses ${} {} times", g, uses[g]);
        throw Invalid("to", how + ": each capture group of the regex must appear exactly once, so that the rule can be reversed");
    }
    return pieces;
}

std::optional<std::string> KeyRule::apply(const Direction& d, std::string_view key) {
    if (key.size() > kMaxRegexKey) return std::nullopt;
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(key.begin(), key.end(), m, d.regex)) return std::nullopt;
    std::string out;
    for (const auto& p : d.pieces) {
        if (p.group > 0) out.append(m[p.group].first, m[p.group].second);
        else out += p.literal;
    }
    return out;
}

std::optional<std::string> KeyRule::applyExact(const Direction& there, const Direction& back, std::string_view key) {
    auto out = apply(there, key);
    if (!out) return std::nullopt;
    auto again = apply(back, *out);
    if (!again || *again != key) return std::nullopt;
    return out;
}

std::optional<std::string> KeyRule::toTarget(std::string_view source_key) const {
    switch (kind_) {
        case Kind::kIdentity: return std::string(source_key);
        case Kind::kPrefix:
            if (!source_key.starts_with(from_)) return std::nullopt;
            return to_ + std::string(source_key.substr(from_.size()));
        case Kind::kRegex: return applyExact(forward_, backward_, source_key);
    }
    return std::nullopt;
}

std::optional<std::string> KeyRule::toSource(std::string_view target_key) const {
    switch (kind_) {
        case Kind::kIdentity: return std::string(target_key);
        case Kind::kPrefix:
            if (!target_key.starts_with(to_)) return std::nullopt;
            return from_ + std::string(target_key.substr(to_.size()));
        case Kind::kRegex: return applyExact(backward_, forward_, target_key);
    }
    return std::nullopt;
}

bool KeyRule::renames() const { return kind_ == Kind::kRegex || (kind_ == Kind::kPrefix && from_ != to_); }

std::string KeyRule::describe() const {
    switch (kind_) {
        case Kind::kIdentity: return "same";
        case Kind::kPrefix: return fmt::format("prefix '{}' -> '{}'", from_, to_);
        case Kind::kRegex: return fmt::format("regex '{}' -> '{}'", from_, to_);
    }
    return {};
}

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace laminar::policy {

// How a key is named on each side. Written in the direction data moves, from a source key to its
// target key; a convert route applies it backwards (toSource) to find the source key of a
// client's key, since clients use target names. Three kinds:
//   identity                 the same name on both sides
//   prefix {prefix, to}      "user:42" <-> "u:42": the prefix is replaced, the rest kept
//   regex {regex, to}        regex '^user:(\d+)$', to 'u:$1': a key the regex matches whole
//                            becomes the template with $1..$9 replaced by its groups ($$ is a $)
// A regex rule must be invertible: outside its capture groups the regex is literal text, and the
// template uses each group exactly once. Its inverse is then exact: the template becomes a regex
// (its literal text, each $n replaced by group n's pattern) and the regex's literal text becomes
// the template, so 'u:(\d+)' -> 'user:$1'. A key a rule does not cover has no counterpart.
class KeyRule {
public:
    // A regex rule that cannot be used: `field` is "regex" or "to", `what()` says why.
    class Invalid : public std::runtime_error {
    public:
        Invalid(std::string field, const std::string& msg) : std::runtime_error(msg), field_(std::move(field)) {}
        const std::string& field() const { return field_; }

    private:
        std::string field_;
    };

    // std::regex recurses per character of the key: longer keys are not matched (a client must
    // not be able to exhaust the stack), so a regex rule does not cover them.
    static constexpr size_t kMaxRegexKey = 1024;

    KeyRule() = default;  // identity
    static KeyRule prefix(std::string from, std::string to);
    static KeyRule regex(const std::string& pattern, const std::string& to);  // throws Invalid

    std::optional<std::string> toTarget(std::string_view source_key) const;
    std::optional<std::string> toSource(std::string_view target_key) const;
    // False when every key keeps its name (identity, or a prefix replaced by itself).
    bool renames() const;
    // "same", "prefix 'user:' -> 'u:'", "regex '^user:(\d+)$' -> 'u:$1'".
    std::string describe() const;

private:
    // A literal run of a template, or (group > 0) the text of that capture group.
    struct Piece {
        std::string literal;
        int group = 0;
    };
    // One direction of a regex rule: a key the regex matches whole becomes `pieces`, filled in.
    struct Direction {
        std::regex regex;
        std::vector<Piece> pieces;
    };
    enum class Kind { kIdentity, kPrefix, kRegex };

    // The regex as literal runs and capture groups (each group's pattern appended to `groups`).
    static std::vector<Piece> splitRegex(const std::string& pattern, std::vector<std::string>& groups);
    // The offset of the ')' that closes the capture group opened at `open`.
    static size_t groupEnd(const std::string& pattern, size_t open, size_t end);
    static std::vector<Piece> parseTemplate(const std::string& to, size_t groups);
    static std::optional<std::string> apply(const Direction& d, std::string_view key);
    // `there`, then a check that `back` leads to `key` again: a key whose counterpart would map
    // back to another key (a group that matches differently in the other direction) is not covered.
    static std::optional<std::string> applyExact(const Direction& there, const Direction& back, std::string_view key);

    Kind kind_ = Kind::kIdentity;
    std::string from_, to_;      // as written: the prefixes, or the regex and its template
    Direction forward_, backward_;
};

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
#include "policy/reply_compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "resp/numbers.h"

namespace laminar::policy {
namespace {

constexpr size_t kMaxDepth = 64;
constexpr size_t kExcerpt = 64;       // bytes of one value in a description
constexpr double kTolerance = 1e-9;   // relative, for floats

// ---------------------------------------------------------------- per-command rules

struct Rules {
    bool comparable = true;
    bool unordered_top = false;  // the top-level aggregate is a multiset (rule 6)
    bool pairs_top = false;      // ... of field/value pairs (HGETALL)
    bool floats = false;         // numbers compare by value (rule 4)
    bool ttl_class = false;      // rule 7
};

Rules rulesFor(const resp::CommandInfo& cmd) {
    enum : uint8_t { kNc, kUnordered, kPairs, kFloats, kUnorderedFloats, kTtl };
    static const std::unordered_map<std::string_view, uint8_t> table = {
        // random, cursors, generated or time-dependent, server-specific (rule 8)
        {"srandmember", kNc}, {"spop", kNc}, {"randomkey", kNc}, {"hrandfield", kNc}, {"zrandmember", kNc},
        {"scan", kNc}, {"sscan", kNc}, {"hscan", kNc}, {"zscan", kNc},
        {"xadd", kNc}, {"xclaim", kNc}, {"xautoclaim", kNc}, {"xpending", kNc}, {"xinfo", kNc},
        {"dump", kNc}, {"object", kNc}, {"memory", kNc}, {"debug", kNc},
        // order not meaningful (rule 6)
        {"smembers", kUnordered}, {"sunion", kUnordered}, {"sinter", kUnordered}, {"sdiff", kUnordered},
        {"hkeys", kUnordered}, {"hvals", kUnordered}, {"keys", kUnordered}, {"hgetall", kPairs},
        // floats (rule 4)
        {"zscore", kFloats}, {"zmscore", kFloats}, {"zincrby", kFloats}, {"incrbyfloat", kFloats},
        {"hincrbyfloat", kFloats}, {"zadd", kFloats}, {"geodist", kFloats}, {"geopos", kFloats},
        {"zrange", kFloats}, {"zrangebyscore", kFloats}, {"zrevrange", kFloats}, {"zrevrangebyscore", kFloats},
        {"zunion", kFloats}, {"zinter", kFloats}, {"zdiff", kFloats}, {"zpopmin", kFloats}, {"zpopmax", kFloats},
        {"bzpopmin", kFloats}, {"bzpopmax", kFloats}, {"zmpop", kFloats}, {"bzmpop", kFloats},
        {"georadius", kUnorderedFloats}, {"georadius_ro", kUnorderedFloats}, {"georadiusbymember", kUnorderedFloats},
        {"georadiusbymember_ro", kUnorderedFloats}, {"geosearch", kUnorderedFloats},
        // rule 7
        {"ttl", kTtl}, {"pttl", kTtl}, {"expiretime", kTtl}, {"pexpiretime", kTtl},
    };
    Rules r;
    std::string_view name = cmd.name;
    if (auto bar = name.find('|'); bar != std::string_view::npos) name = name.substr(0, bar);  // "object|encoding"
    if (auto it = table.find(name); it != table.end()) {
        switch (it->second) {
            case kNc: r.comparable = false; break;
            case kUnordered: r.unordered_top = true; break;
            case kPairs: r.unordered_top = r.pairs_top = true; break;
            case kFloats: r.floats = true; break;
            case kUnorderedFloats: r.unordered_top = r.floats = true; break;
            case kTtl: r.ttl_class = true; break;
        }
        return r;
    }
    using namespace resp;
    if (cmd.has(kBlocking) || cmd.has(kPubSub) || cmd.has(kTransaction) || cmd.has(kAdmin) || cmd.has(kNoProxy))
        r.comparable = false;
    else if (cmd.has(kNoKey) && name != "ping" && name != "echo")
        r.comparable = false;
    return r;
}

// ---------------------------------------------------------------- decoding

struct Value {
    enum class Kind : uint8_t { kNull, kString, kError, kInteger, kDouble, kArray, kSet, kMap };
    Kind kind = Kind::kNull;
    char type = '_';           // the RESP type byte it came as, for descriptions
    std::string_view text;     // scalars: the string, error message, digits or double text
    std::vector<Value> items;  // aggregates; a map's are key, value, key, value...

    bool aggregate() const { return kind == Kind::kArray || kind == Kind::kSet || kind == Kind::kMap; }
};

class Decoder {
public:
    explicit Decoder(std::string_view raw) : raw_(raw) {}

    // False when the bytes are not one complete reply.
    bool decode(Value& out) { return value(out, 0) && pos_ == raw_.size(); }

private:
    std::string_view raw_;
    size_t pos_ = 0;

    bool line(std::string_view& out) {
        auto eol = raw_.find("\r\n", pos_);
        if (eol == std::string_view::npos) return false;
        out = raw_.substr(pos_, eol - pos_);
        pos_ = eol + 2;
        return true;
    }

    bool length(std::string_view digits, long long& n) { return resp::parseLongLong(digits, n) && n >= -1; }

    bool value(Value& v, size_t depth) {
        if (depth > kMaxDepth) return false;
        for (;;) {
            std::string_view l;
            if (!line(l) || l.empty()) return false;
            const char t = l[0];
            const std::string_view rest = l.substr(1);
            v.type = t;
            switch (t) {
                case '+': v.kind = Value::Kind::kString; v.text = rest; return true;
                case '-': v.kind = Value::Kind::kError; v.text = rest; return true;
                case ':':
                case '(': v.kind = Value::Kind::kInteger; v.text = rest; return true;
                case ',': v.kind = Value::Kind::kDouble; v.text = rest; return true;
                case '_': v.kind = Value::Kind::kNull; return true;
                case '#':
                    if (rest != "t" && rest != "f") return false;
                    v.kind = Value::Kind::kInteger;
                    v.text = rest == "t" ? "1" : "0";
                    return true;
                case '$':
                case '!':
                case '=': {
                    long long n = 0;
                    if (!length(rest, n)) return false;
                    if (n == -1) {
                        v.kind = Value::Kind::kNull;
                        return true;
                    }
                    if (raw_.size() - pos_ < static_cast<size_t>(n) + 2) return false;
                    std::string_view body = raw_.substr(pos_, static_cast<size_t>(n));
                    if (raw_.substr(pos_ + body.size(), 2) != "\r\n") return false;
                    pos_ += body.size() + 2;
                    if (t == '=' && body.size() >= 4 && body[3] == ':') body.remove_prefix(4);  // "txt:"
                    v.kind = t == '!' ? Value::Kind::kError : Value::Kind::kString;
                    v.text = body;
                    return true;
                }
                case '*':
                case '>':
                case '~':
                case '%': {
                    long long n = 0;
                    if (!length(rest, n)) return false;
                    if (n == -1) {
                        v.kind = Value::Kind::kNull;
                        return true;
                    }
                    v.kind = t == '~' ? Value::Kind::kSet : t == '%' ? Value::Kind::kMap : Value::Kind::kArray;
                    size_t count = static_cast<size_t>(n) * (t == '%' ? 2 : 1);
                    // Every element takes at least 3 bytes: a bad count cannot make us allocate.
                    if (count > (raw_.size() - pos_) / 3) return false;
                    v.items.resize(count);
                    for (auto& item : v.items)
                        if (!value(item, depth + 1)) return false;
                    return true;
                }
                case '|': {  // an attribute: skip its pairs, the value it annotates follows
                    long long n = 0;
                    if (!length(rest, n) || n < 0) return false;
                    for (long long i = 0; i < 2 * n; ++i) {
                        Value skipped;
                        if (!value(skipped, depth + 1)) return false;
                    }
                    continue;
                }
                default: return false;
            }
        }
    }
};

// ---------------------------------------------------------------- comparing

bool parseNumber(std::string_view s, double& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool closeEnough(double x, double y) {
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    if (x == y) return true;  // also equal infinities
    if (std::isinf(x) || std::isinf(y)) return false;
    return std::fabs(x - y) <= kTolerance * std::max(std::fabs(x), std::fabs(y));
}

std::string_view firstWord(std::string_view s) { return s.substr(0, s.find(' ')); }

int ttlClass(std::string_view digits) {
    long long n = 0;
    if (!resp::parseLongLong(digits, n)) return -3;
    return n < -1 ? -2 : n == -1 ? -1 : 0;
}

std::string describeValue(const Value& v) {
    switch (v.kind) {
        case Value::Kind::kNull: return "null";
        case Value::Kind::kString: return "\"" + logExcerpt(v.text, kExcerpt) + "\"";
        case Value::Kind::kError: return "error \"" + logExcerpt(v.text, kExcerpt) + "\"";
        case Value::Kind::kInteger: return "integer " + logExcerpt(v.text, kExcerpt);
        case Value::Kind::kDouble: return "double " + logExcerpt(v.text, kExcerpt);
        case Value::Kind::kArray: return fmt::format("array of {}", v.items.size());
        case Value::Kind::kSet: return fmt::format("set of {}", v.items.size());
        case Value::Kind::kMap: return fmt::format("map of {}", v.items.size() / 2);
    }
    return "?";
}

class Comparer {
public:
    Comparer(const Rules& rules, std::string* why) : rules_(rules), why_(why) {}

    bool same(const Value& a, const Value& b, const std::string& path, bool top) {
        using K = Value::Kind;
        if (a.kind == K::kNull || b.kind == K::kNull) return a.kind == b.kind || differ(path, a, b);
        if (a.kind == K::kDouble || b.kind == K::kDouble || (rules_.floats && a.kind == K::kString && b.kind == K::kString)) {
            if (a.text == b.text && a.kind == b.kind) return true;
            double x = 0, y = 0;
            if (scalar(a) && scalar(b) && parseNumber(a.text, x) && parseNumber(b.text, y)) return closeEnough(x, y) || differ(path, a, b);
            if (a.kind == K::kDouble || b.kind == K::kDouble) return differ(path, a, b);
        }
        if (a.kind == K::kString && b.kind == K::kString) return a.text == b.text || differ(path, a, b);
        if (a.kind == K::kInteger && b.kind == K::kInteger) {
            if (top && rules_.ttl_class) return ttlClass(a.text) == ttlClass(b.text) || differ(path, a, b);
            return a.text == b.text || differ(path, a, b);
        }
        if (a.kind == K::kError && b.kind == K::kError) return firstWord(a.text) == firstWord(b.text) || differ(path, a, b);
        if (!a.aggregate() || !b.aggregate()) return differ(path, a, b);

        if (a.kind == K::kMap || b.kind == K::kMap) {
            if (a.kind == K::kSet || b.kind == K::kSet) return differ(path, a, b);
            return multiset(a, b, path, 2);
        }
        if (a.kind == K::kSet || b.kind == K::kSet) return multiset(a, b, path, 1);
        if (top && rules_.unordered_top) return multiset(a, b, path, rules_.pairs_top ? 2 : 1);
        if (a.items.size() != b.items.size()) return sizes(path, a.items.size(), b.items.size(), "elements");
        for (size_t i = 0; i < a.items.size(); ++i)
            if (!same(a.items[i], b.items[i], fmt::format("{}[{}]", path, i), false)) return false;
        return true;
    }

private:
    const Rules& rules_;
    std::string* why_;

    static bool scalar(const Value& v) { return !v.aggregate() && v.kind != Value::Kind::kError; }

    bool differ(const std::string& path, const Value& a, const Value& b) {
        if (why_) *why_ = fmt::format("{}: {} vs {}", path, describeValue(a), describeValue(b));
        return false;
    }
    bool sizes(const std::string& path, size_t a, size_t b, const char* what) {
        if (why_) *why_ = fmt::format("{}: sizes differ: {} vs {} {}", path, a, b, what);
        return false;
    }

    // A key that sorts equal values (by the rules above) next to each other, so two multisets can
    // be compared by sorting both. Unordered aggregates inside sort their own parts.
    void sortKey(const Value& v, std::string& out) const {
        using K = Value::Kind;
        double x = 0;
        switch (v.kind) {
            case K::kNull: out += 'n'; return;
            case K::kString:
                if (rules_.floats && parseNumber(v.text, x)) break;
                out += 's';
                appendSized(out, v.text);
                return;
            case K::kError: out += 'e'; appendSized(out, firstWord(v.text)); return;
            case K::kInteger: out += 'i'; appendSized(out, v.text); return;
            case K::kDouble:
                if (parseNumber(v.text, x)) break;
                out += 'd';
                appendSized(out, v.text);
                return;
            case K::kArray:
                out += fmt::format("a{}[", v.items.size());
                for (const auto& item : v.items) sortKey(item, out);
                out += ']';
                return;
            case K::kSet:
            case K::kMap: {
                size_t unit = v.kind == K::kMap ? 2 : 1;
                std::vector<std::string> parts;
                for (size_t i = 0; i + unit <= v.items.size(); i += unit) {
                    parts.emplace_back();
                    for (size_t j = 0; j < unit; ++j) sortKey(v.items[i + j], parts.back());
                }
                std::sort(parts.begin(), parts.end());
                out += fmt::format("{}{}{{", v.kind == K::kMap ? 'm' : 'S', parts.size());
                for (const auto& p : parts) out += p;
                out += '}';
                return;
            }
        }
        // A number: rounded below the tolerance, so "1.5" and "1.50" (and 1.5 +- 1e-14) sort together.
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.12g", x);
        out += 'f';
        appendSized(out, buf);
    }

    static void appendSized(std::string& out, std::string_view s) {
        out += std::to_string(s.size());
        out += ':';
        out += s;
    }

    // a and b as multisets of units of `unit` items (2: key/value pairs; a map's items are pairs).
    bool multiset(const Value& a, const Value& b, const std::string& path, size_t unit) {
        if (a.items.size() % unit != 0 || b.items.size() % unit != 0) return differ(path, a, b);
        const char* what = unit == 2 ? "pairs" : "elements";
        if (a.items.size() != b.items.size()) return sizes(path, a.items.size() / unit, b.items.size() / unit, what);
        auto order = [&](const Value& v) {
            std::vector<std::pair<std::string, size_t>> keys;
            keys.reserve(v.items.size() / unit);
            for (size_t i = 0; i < v.items.size(); i += unit) {
                std::string k;
                for (size_t j = 0; j < unit; ++j) sortKey(v.items[i + j], k);
                keys.emplace_back(std::move(k), i);
            }
            std::sort(keys.begin(), keys.end());
            return keys;
        };
        auto ka = order(a), kb = order(b);
        for (size_t i = 0; i < ka.size(); ++i) {
            for (size_t j = 0; j < unit; ++j) {
                const Value& x = a.items[ka[i].second + j];
                const Value& y = b.items[kb[i].second + j];
                std::string where = unit == 2 ? fmt::format("{}{{{}}}", path, logExcerpt(a.items[ka[i].second].text, 32))
                                              : fmt::format("{}(unordered)", path);
                if (!same(x, y, where, false)) return false;
            }
        }
        return true;
    }
};

Verdict run(const resp::CommandInfo& cmd, std::string_view a, std::string_view b, std::string* why) {
    Rules rules = rulesFor(cmd);
    if (!rules.comparable) return Verdict::kNotComparable;
    if (a == b) return Verdict::kEqual;
    Value va, vb;
    if (!Decoder(a).decode(va) || !Decoder(b).decode(vb)) {
        if (why) *why = "a reply does not decode";
        return Verdict::kNotComparable;
    }
    return Comparer(rules, why).same(va, vb, "reply", true) ? Verdict::kEqual : Verdict::kDifferent;
}

}  // namespace

bool repliesComparable(const resp::CommandInfo& cmd) { return rulesFor(cmd).comparable; }

Verdict compareReplies(const resp::CommandInfo& cmd, std::string_view a, std::string_view b) {
    return run(cmd, a, b, nullptr);
}

std::string describeDifference(const resp::CommandInfo& cmd, std::string_view a, std::string_view b) {
    std::string why;
    switch (run(cmd, a, b, &why)) {
        case Verdict::kEqual: return "equal";
        case Verdict::kNotComparable: return why.empty() ? "not comparable" : "not comparable: " + why;
        case Verdict::kDifferent: return why;
    }
    return why;
}

std::string logExcerpt(std::string_view s, size_t max) {
    std::string out;
    std::string_view cut = s.substr(0, std::min(s.size(), max));
    out.reserve(cut.size() + 16);
    for (unsigned char c : cut) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("\\u{:04x}", c);
        }
    }
    if (cut.size() < s.size()) out += fmt::format("...({} bytes)", s.size());
    return out;
}

}  // namespace laminar::policy

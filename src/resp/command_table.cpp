// SPDX-License-Identifier: Apache-2.0
#include "resp/command_table.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "resp/ascii.h"

namespace laminar::resp {
namespace {

// The table: constexpr arrays, so there is no static initialisation to order or to pay for.
#include "command_table_data.inc"

constexpr size_t maxNameLength() {
    size_t longest = 0;
    for (const CommandInfo& c : kCommands) {
        longest = std::max(longest, c.name.size());
        for (const CommandInfo& s : c.subcommands) {
            longest = std::max(longest, s.name.size() - c.name.size() - 1);
        }
    }
    return longest;
}

// A name longer than every command cannot match, so lookups lowercase into a fixed stack buffer.
constexpr size_t kMaxNameLength = maxNameLength();
using NameBuffer = std::array<char, kMaxNameLength>;

// Binary search relies on this; checked at compile time so a hand edit of the .inc cannot break
// lookups silently. Subcommands are "container|sub" and sorted by the part after the '|'.
constexpr bool tableIsSorted() {
    auto byName = [](const CommandInfo& a, const CommandInfo& b) { return a.name < b.name; };
    if (!std::is_sorted(std::begin(kCommands), std::end(kCommands), byName)) return false;
    for (size_t i = 1; i < std::size(kCommands); ++i) {
        if (kCommands[i - 1].name == kCommands[i].name) return false;
    }
    for (const CommandInfo& c : kCommands) {
        for (const CommandInfo& s : c.subcommands) {
            if (s.name.size() <= c.name.size() + 1 || !s.name.starts_with(c.name) ||
                s.name[c.name.size()] != '|') {
                return false;
            }
        }
        if (!std::is_sorted(c.subcommands.begin(), c.subcommands.end(), byName)) return false;
    }
    return true;
}
static_assert(tableIsSorted(), "command_table_data.inc must be sorted by name; regenerate it");

// Lowercases `s` into `buf`. Empty when `s` is empty or too long to be any command's name.
std::string_view lowerInto(std::string_view s, NameBuffer& buf) {
    if (s.empty() || s.size() > buf.size()) return {};
    for (size_t i = 0; i < s.size(); ++i) buf[i] = asciiLower(s[i]);
    return {buf.data(), s.size()};
}

// `prefix` chars of every name are skipped: 0 for top-level commands, "container|" for subs.
const CommandInfo* find(std::span<const CommandInfo> table, size_t prefix, std::string_view lname) {
    if (lname.empty()) return nullptr;
    auto it = std::lower_bound(table.begin(), table.end(), lname,
                               [prefix](const CommandInfo& c, std::string_view n) { return c.name.substr(prefix) < n; });
    if (it == table.end() || it->name.substr(prefix) != lname) return nullptr;
    return &*it;
}

// Redis's string2ll for the numkeys argument: optional '-', digits, no leading zeros or spaces.
bool parseCount(std::string_view s, int64_t& out) {
    if (s.empty() || s.size() > 18) return false;  // 18 digits cannot overflow int64
    bool negative = s[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == s.size() || (s[i] == '0' && s.size() > i + 1)) return false;
    int64_t v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = negative ? -v : v;
    return true;
}

// Pushes first, first+step, ... up to last, stopping at argv's end (malformed calls yield fewer
// keys, never an out-of-range index). 64-bit so a huge numkeys cannot overflow.
void pushRange(int64_t first, int64_t last, int64_t step, int64_t argc, std::vector<int>& out) {
    if (first < 1 || step < 1) return;  // index 0 is the command name; step 0 would never end
    for (int64_t i = first; i <= last && i < argc; i += step) out.push_back(static_cast<int>(i));
}

// The argv index right after the spec's keyword, or 0 when the keyword is absent. Mirrors Redis's
// getKeysUsingKeySpecs: a positive startfrom scans forward up to the next-to-last argument (a
// keyword in last position has no keys after it); a negative one scans backward from argc+startfrom.
int64_t findKeyword(const KeySpec& spec, std::span<const std::string_view> argv, int64_t argc) {
    if (spec.startfrom > 0) {
        for (int64_t i = spec.startfrom; i < argc - 1; ++i) {
            if (equalsIgnoreCase(argv[static_cast<size_t>(i)], spec.keyword)) return i + 1;
        }
    } else if (spec.startfrom < 0) {
        for (int64_t i = argc + spec.startfrom; i >= 1; --i) {
            if (equalsIgnoreCase(argv[static_cast<size_t>(i)], spec.keyword)) return i + 1;
        }
    }
    return 0;
}

void specKeys(const KeySpec& spec, std::span<const std::string_view> argv, int64_t argc, std::vector<int>& out) {
    int64_t first = 0;
    switch (spec.begin) {
        case KeySpec::Begin::kIndex: first = spec.index; break;
        case KeySpec::Begin::kKeyword: first = findKeyword(spec, argv, argc); break;
        case KeySpec::Begin::kUnknown: return;  // only the command's own getkeys logic knows
    }
    if (first < 1 || first >= argc) return;

    switch (spec.find) {
        case KeySpec::Find::kRange: {
            int64_t last;
            if (spec.lastkey >= 0) {
                last = first + spec.lastkey;
            } else if (spec.limit == 0) {
                last = argc + spec.lastkey;
            } else {  // e.g. XREAD STREAMS k1 k2 id1 id2: limit 2 keeps the first half
                last = first + (argc - first) / spec.limit + spec.lastkey;
            }
            pushRange(first, last, spec.keystep, argc, out);
            return;
        }
        case KeySpec::Find::kKeynum: {
            int64_t countAt = first + spec.keynumidx;
            int64_t numkeys = 0;
            if (countAt < 1 || countAt >= argc) return;
            if (!parseCount(argv[static_cast<size_t>(countAt)], numkeys) || numkeys < 0) return;
            int64_t firstKey = first + spec.firstkey;
            pushRange(firstKey, firstKey + numkeys - 1, spec.keystep, argc, out);
            return;
        }
        case KeySpec::Find::kUnknown: return;
    }
}

// Redis's sortGetKeys: the sorted key, plus the argument after the last STORE, found by skipping
// the arguments of LIMIT (2), GET (1) and BY (1) so a pattern spelled "store" is not taken for it.
void sortKeys(std::span<const std::string_view> argv, std::vector<int>& out) {
    const size_t argc = argv.size();
    if (argc < 2) return;
    out.push_back(1);
    size_t store = 0;
    for (size_t i = 2; i < argc; ++i) {
        if (equalsIgnoreCase(argv[i], "limit")) {
            i += 2;
        } else if (equalsIgnoreCase(argv[i], "get") || equalsIgnoreCase(argv[i], "by")) {
            i += 1;
        } else if (equalsIgnoreCase(argv[i], "store") && i + 1 < argc) {
            store = i + 1;  // no skip: Redis re-reads the destination as a possible option too
        }
    }
    if (store != 0) out.push_back(static_cast<int>(store));
}

// MIGRATE host port key db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k...].
// Redis 7.0 takes the key at 3 from the specs and only switches to migrateGetKeys when its
// INCOMPLETE spec matches, i.e. "KEYS" appears searching back from the next-to-last argument.
// migrateGetKeys then scans forward from 6, skipping option arguments (a password may be "keys");
// with KEYS the key slot at 3 must be empty and is not a key.
void migrateKeys(std::span<const std::string_view> argv, std::vector<int>& out) {
    const size_t argc = argv.size();
    bool keysOption = false;
    for (size_t i = 1; i + 1 < argc && !keysOption; ++i) keysOption = equalsIgnoreCase(argv[i], "keys");
    size_t first = 3;
    size_t num = 1;
    for (size_t i = 6; keysOption && i < argc; ++i) {
        if (equalsIgnoreCase(argv[i], "keys")) {
            if (!argv[3].empty()) return;  // Redis refuses the call: no keys
            first = i + 1;
            num = argc - first;
            break;
        }
        if (equalsIgnoreCase(argv[i], "auth")) {
            i += 1;
        } else if (equalsIgnoreCase(argv[i], "auth2")) {
            i += 2;
        }
    }
    for (size_t i = first; i < first + num && i < argc; ++i) out.push_back(static_cast<int>(i));
}

// keyIndices takes a one-spec command by its fast path before it looks for SORT and MIGRATE: that
// holds only while each of them has more than one key spec.
constexpr bool sortAndMigrateHaveSeveralSpecs() {
    for (const CommandInfo& c : kCommands)
        if ((c.name == "sort" || c.name == "migrate") && c.key_specs.size() < 2) return false;
    return true;
}
static_assert(sortAndMigrateHaveSeveralSpecs(), "keyIndices' fast path would take SORT or MIGRATE; check it first again");

// Every command but the common one-key shape: apart, so that the fast path in keyIndices does
// not pay for this one's registers.
[[gnu::noinline]] void keyIndicesBySpecs(const CommandInfo& cmd, std::span<const std::string_view> argv, std::vector<int>& out) {
    // Commands whose key specs are incomplete: Redis itself uses hand-written getkeys procs for
    // them (the generator refuses to emit any other such command). SORT_RO needs nothing special:
    // its unknown specs are skipped below, leaving the sorted key, as Redis's sortROGetKeys does.
    if (cmd.name == "sort") return sortKeys(argv, out);
    if (cmd.name == "migrate") return migrateKeys(argv, out);

    const int64_t argc = static_cast<int64_t>(std::min<size_t>(argv.size(), INT_MAX));
    if (cmd.key_specs.empty()) {
        // Legacy first/last/step, for a command without specs (none in Redis 7.0 itself).
        if (cmd.first_key <= 0) return;
        int64_t last = cmd.last_key < 0 ? argc + cmd.last_key : cmd.last_key;
        pushRange(cmd.first_key, last, cmd.step, argc, out);
        return;
    }
    for (const KeySpec& spec : cmd.key_specs) specKeys(spec, argv, argc, out);
}

// Every command is looked up once per request, so the top-level names are an open-addressed
// table keyed by a case-folding FNV-1a hash: the name is lowercased and hashed in one pass, with
// no copy, no std::hash and no modulo (callgrind, proxy GET: 90 instructions per request fewer
// than a lowercase copy into an unordered_map, itself about 400 fewer than a binary search).
class TopLevelIndex {
public:
    constexpr TopLevelIndex() {
        for (const CommandInfo& c : kCommands) {
            size_t i = hash(c.name) & kMask;
            while (slots_[i] != nullptr) i = (i + 1) & kMask;
            slots_[i] = &c;
        }
    }
    // `name` in any case.
    const CommandInfo* find(std::string_view name) const {
        if (name.empty() || name.size() > kMaxNameLength) return nullptr;
        for (size_t i = hash(name) & kMask;; i = (i + 1) & kMask) {
            const CommandInfo* c = slots_[i];
            if (c == nullptr) return nullptr;
            if (equalsIgnoreCase(c->name, name)) return c;
        }
    }

private:
    static constexpr uint32_t hash(std::string_view name) {
        uint32_t h = 2166136261u;
        for (char ch : name) h = (h ^ static_cast<unsigned char>(asciiLower(ch))) * 16777619u;
        return h;
    }
    // A power of two at least four times the number of commands: short probe runs.
    static constexpr size_t kSlots = std::bit_ceil(std::size(kCommands) * 4);
    static constexpr size_t kMask = kSlots - 1;
    std::array<const CommandInfo*, kSlots> slots_{};
};

// Built by the compiler: no static initialization to order or to pay for.
constexpr TopLevelIndex kTopLevel;

}  // namespace

const CommandInfo* lookupCommand(std::span<const std::string_view> argv) {
    if (argv.empty()) return nullptr;
    const CommandInfo* cmd = kTopLevel.find(argv[0]);
    if (cmd == nullptr || cmd->subcommands.empty() || argv.size() < 2) return cmd;
    NameBuffer buf;
    const CommandInfo* sub = find(cmd->subcommands, cmd->name.size() + 1, lowerInto(argv[1], buf));
    return sub != nullptr ? sub : cmd;
}

std::span<const CommandInfo> allCommands() { return kCommands; }

void keyIndices(const CommandInfo& cmd, std::span<const std::string_view> argv, std::vector<int>& out) {
    // Most commands: one key at a fixed place (GET key, HSET key ...). SORT and MIGRATE have more
    // than one spec each, so neither is taken here.
    if (cmd.key_specs.size() == 1) {
        const KeySpec& spec = cmd.key_specs.front();
        if (spec.begin == KeySpec::Begin::kIndex && spec.find == KeySpec::Find::kRange && spec.lastkey == 0 && spec.keystep >= 1) {
            if (spec.index >= 1 && static_cast<size_t>(spec.index) < argv.size()) out.push_back(spec.index);
            return;
        }
    }
    keyIndicesBySpecs(cmd, argv, out);
}

bool arityOk(const CommandInfo& cmd, size_t argc) {
    if (cmd.arity > 0) return argc == static_cast<size_t>(cmd.arity);
    return argc >= static_cast<size_t>(-static_cast<int64_t>(cmd.arity));
}

}  // namespace laminar::resp

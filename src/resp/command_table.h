// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace laminar::resp {

// What laminar needs to know about a command to route it. Generated from a real Redis 7.0
// `COMMAND` reply by scripts/gen_command_table.py into command_table_data.inc (checked in).
enum CommandFlag : uint32_t {
    kRead = 1u << 0,         // Redis "readonly": reads data, changes nothing
    kWrite = 1u << 1,        // Redis "write": may change data
    kAdmin = 1u << 2,        // refused unless client.allow_admin (CONFIG, FLUSHALL, DEBUG, SCRIPT FLUSH...)
    kBlocking = 1u << 3,     // may block the connection (BLPOP, XREAD, WAIT...)
    kPubSub = 1u << 4,       // pub/sub (SUBSCRIBE, PUBLISH...)
    kTransaction = 1u << 5,  // MULTI/EXEC/DISCARD/WATCH/UNWATCH
    kNoKey = 1u << 6,        // takes no key (PING, DBSIZE, SCAN...)
    kMovableKeys = 1u << 7,  // key positions depend on the arguments (EVAL numkeys, ZUNION...)
    kFast = 1u << 8,         // Redis "fast"
    kNoProxy = 1u << 9,      // makes no sense through a proxy (MONITOR, SYNC, REPLICAOF, SHUTDOWN...)
    kHasSubcommands = 1u << 10,  // a container: look the subcommand up (CONFIG GET, CLIENT ID...)
};

// Redis 7.0 key specifications (COMMAND DOCS "key_specs"), enough to find every key of a command.
struct KeySpec {
    enum class Begin : uint8_t { kIndex, kKeyword, kUnknown };
    enum class Find : uint8_t { kRange, kKeynum, kUnknown };
    Begin begin = Begin::kUnknown;
    int index = 0;                 // kIndex: position of the first key (argv index, command = 0)
    std::string_view keyword;      // kKeyword: the keys follow this word (case-insensitive)
    int startfrom = 0;             // kKeyword: search from this index; negative = from the end
    Find find = Find::kUnknown;
    int lastkey = 0;               // kRange: last key relative to the first; -1 = last arg, -2 = one before...
    int keystep = 1;               // kRange and kKeynum
    int limit = 0;                 // kRange: when lastkey is -1, keys are (args-first)/limit (0 or 1 = all)
    int keynumidx = 0;             // kKeynum: the count is at begin + keynumidx
    int firstkey = 0;              // kKeynum: first key at begin + firstkey
};

struct CommandInfo {
    std::string_view name;  // lowercase; a subcommand is "container|sub", e.g. "config|get"
    int arity = 0;          // Redis arity: n = exactly n args, -n = at least n (command included)
    uint32_t flags = 0;
    int first_key = 0, last_key = 0, step = 0;  // legacy range from COMMAND
    std::span<const KeySpec> key_specs;
    std::span<const CommandInfo> subcommands;

    bool has(CommandFlag f) const { return (flags & f) != 0; }
};

// The command for argv (argv[0] is the name, any case; for a container the subcommand argv[1]
// is looked up too). nullptr when Redis 7.0 has no such command. For a container called without
// a known subcommand, the container itself is returned.
const CommandInfo* lookupCommand(std::span<const std::string_view> argv);

// Every command of the table (top level; subcommands through CommandInfo::subcommands).
std::span<const CommandInfo> allCommands();

// A value per top-level command, computed once from each table entry, for the data path: a lookup
// is an index, not a hash or a run of name comparisons. Define one at namespace scope (built at
// start-up: the table allCommands() returns is constexpr, so it is ready before any dynamic
// initializer runs), not as a function-local static, whose guard and cold path would cost every
// lookup more than the lookup itself.
template <class T>
class PerCommand {
public:
    template <class F>
    explicit PerCommand(F of) : base_(allCommands().data()), size_(allCommands().size()) {
        values_.reserve(size_);
        for (const auto& c : allCommands()) values_.push_back(of(c));
    }
    // The value of `cmd`; null for a subcommand (not a top-level entry).
    const T* find(const CommandInfo* cmd) const {
        if (cmd < base_ || cmd >= base_ + size_) return nullptr;
        return &values_[static_cast<size_t>(cmd - base_)];
    }
    // The value of `cmd`, or `other` for a subcommand.
    T get(const CommandInfo* cmd, T other) const {
        const T* v = find(cmd);
        return v ? *v : other;
    }

private:
    const CommandInfo* base_;
    size_t size_;
    std::vector<T> values_;
};

// Appends to `out` the argv index of every key of this call, in order, following the key specs
// (or the legacy range when there are none). Arguments beyond argv's end are ignored, so a
// malformed call yields fewer keys rather than out-of-range indices.
void keyIndices(const CommandInfo& cmd, std::span<const std::string_view> argv, std::vector<int>& out);

// Checks argv's length against the arity. False: Redis answers
// "ERR wrong number of arguments for '<name>' command".
bool arityOk(const CommandInfo& cmd, size_t argc);

}  // namespace laminar::resp

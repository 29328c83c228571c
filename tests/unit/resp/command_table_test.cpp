// SPDX-License-Identifier: Apache-2.0
#include "resp/command_table.h"

#include <gtest/gtest.h>

#include <cctype>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace laminar::resp {
namespace {

using Argv = std::vector<std::string_view>;

const CommandInfo& mustFind(const Argv& argv) {
    const CommandInfo* cmd = lookupCommand(argv);
    if (cmd == nullptr) {
        ADD_FAILURE() << "no command for " << (argv.empty() ? std::string_view("<empty>") : argv[0]);
        static const CommandInfo kNone{};
        return kNone;
    }
    return *cmd;
}

std::vector<int> keysOf(const Argv& argv) {
    std::vector<int> out;
    keyIndices(mustFind(argv), argv, out);
    return out;
}

using Keys = std::vector<int>;

TEST(CommandTable, GetIsAFastReadWithItsKeyAtOne) {
    const CommandInfo& get = mustFind({"GET", "k"});
    EXPECT_EQ(get.name, "get");
    EXPECT_TRUE(get.has(kRead));
    EXPECT_TRUE(get.has(kFast));
    EXPECT_FALSE(get.has(kWrite));
    EXPECT_FALSE(get.has(kNoKey));
    EXPECT_EQ(keysOf({"GET", "k"}), Keys({1}));
}

TEST(CommandTable, SetIsAWrite) {
    const CommandInfo& set = mustFind({"SET", "k", "v"});
    EXPECT_TRUE(set.has(kWrite));
    EXPECT_FALSE(set.has(kRead));
    EXPECT_EQ(keysOf({"SET", "k", "v", "EX", "10"}), Keys({1}));
}

TEST(CommandTable, MsetKeysAreEveryOtherArgument) {
    EXPECT_EQ(keysOf({"MSET", "a", "1", "b", "2", "c", "3"}), Keys({1, 3, 5}));
}

TEST(CommandTable, MgetKeysAreAllArguments) {
    EXPECT_EQ(keysOf({"MGET", "a", "b", "c", "d"}), Keys({1, 2, 3, 4}));
}

TEST(CommandTable, EvalKeysFollowNumkeys) {
    EXPECT_EQ(keysOf({"EVAL", "return 1", "2", "k1", "k2", "arg"}), Keys({3, 4}));
    EXPECT_EQ(keysOf({"EVAL", "return 1", "0", "arg"}), Keys({}));
    EXPECT_TRUE(mustFind({"EVAL"}).has(kMovableKeys));
}

TEST(CommandTable, EvalWithABadNumkeysHasNoKeys) {
    EXPECT_EQ(keysOf({"EVAL", "s", "-1", "k"}), Keys({}));
    EXPECT_EQ(keysOf({"EVAL", "s", "x", "k"}), Keys({}));
    EXPECT_EQ(keysOf({"EVAL", "s", "01", "k"}), Keys({}));
}

TEST(CommandTable, ZunionstoreKeysAreTheDestinationThenTheNumkeysSources) {
    EXPECT_EQ(keysOf({"ZUNIONSTORE", "dest", "2", "k1", "k2", "WEIGHTS", "1", "2"}), Keys({1, 3, 4}));
}

TEST(CommandTable, XreadKeysAreTheFirstHalfAfterStreams) {
    EXPECT_EQ(keysOf({"XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"}), Keys({4, 5}));
    EXPECT_EQ(keysOf({"XREAD", "BLOCK", "0", "STREAMS", "a", "$"}), Keys({4}));
    EXPECT_TRUE(mustFind({"XREAD"}).has(kBlocking));
}

TEST(CommandTable, XreadgroupKeysAreTheFirstHalfAfterStreams) {
    EXPECT_EQ(keysOf({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"}),
              Keys({7, 8}));
}

TEST(CommandTable, XreadgroupIgnoresAGroupNamedStreams) {
    // startfrom 4 skips GROUP <group> <consumer>, so a group called "streams" is not the keyword.
    EXPECT_EQ(keysOf({"XREADGROUP", "GROUP", "streams", "c", "STREAMS", "a", ">"}), Keys({5}));
}

TEST(CommandTable, SortStoreDestinationIsAKey) {
    EXPECT_EQ(keysOf({"SORT", "src", "BY", "w_*", "LIMIT", "0", "10", "GET", "#", "STORE", "dst"}), Keys({1, 10}));
    EXPECT_EQ(keysOf({"SORT", "src", "ALPHA"}), Keys({1}));
}

TEST(CommandTable, SortPatternsSpelledStoreAreNotTheDestination) {
    EXPECT_EQ(keysOf({"SORT", "src", "GET", "store", "BY", "store"}), Keys({1}));
}

TEST(CommandTable, SortRoHasOnlyTheSortedKey) {
    EXPECT_EQ(keysOf({"SORT_RO", "src", "BY", "w_*", "GET", "o_*"}), Keys({1}));
}

TEST(CommandTable, MigrateOfOneKeyHasItAtThree) {
    EXPECT_EQ(keysOf({"MIGRATE", "host", "6379", "k", "0", "5000"}), Keys({3}));
    EXPECT_TRUE(mustFind({"MIGRATE"}).has(kAdmin));
}

TEST(CommandTable, MigrateWithKeysHasTheKeysAfterTheKeyword) {
    EXPECT_EQ(keysOf({"MIGRATE", "host", "6379", "", "0", "5000", "COPY", "AUTH2", "u", "keys", "KEYS", "a", "b"}),
              Keys({11, 12}));
}

TEST(CommandTable, BlpopKeysAreAllButTheTimeout) {
    EXPECT_EQ(keysOf({"BLPOP", "a", "b", "0"}), Keys({1, 2}));
    EXPECT_TRUE(mustFind({"BLPOP"}).has(kBlocking));
}

TEST(CommandTable, ObjectEncodingIsFoundAsASubcommandWithItsKeyAtTwo) {
    const Argv argv = {"OBJECT", "ENCODING", "k"};
    const CommandInfo& cmd = mustFind(argv);
    EXPECT_EQ(cmd.name, "object|encoding");
    EXPECT_EQ(keysOf(argv), Keys({2}));
}

TEST(CommandTable, ContainerWithoutAKnownSubcommandIsReturnedItself) {
    EXPECT_EQ(mustFind({"OBJECT"}).name, "object");
    EXPECT_EQ(mustFind({"object", "nosuchsub", "k"}).name, "object");
    EXPECT_TRUE(mustFind({"OBJECT"}).has(kHasSubcommands));
    EXPECT_FALSE(arityOk(mustFind({"OBJECT"}), 1));
}

TEST(CommandTable, ConfigGetIsAdmin) {
    const CommandInfo& cmd = mustFind({"config", "get", "maxmemory"});
    EXPECT_EQ(cmd.name, "config|get");
    EXPECT_TRUE(cmd.has(kAdmin));
    EXPECT_TRUE(mustFind({"CONFIG"}).has(kAdmin));
    EXPECT_TRUE(mustFind({"CONFIG", "RESETSTAT"}).has(kAdmin));
}

TEST(CommandTable, FlushallIsAdmin) { EXPECT_TRUE(mustFind({"FLUSHALL"}).has(kAdmin)); }

TEST(CommandTable, DestructiveScriptAndFunctionSubcommandsAreAdmin) {
    EXPECT_TRUE(mustFind({"SCRIPT", "FLUSH"}).has(kAdmin));
    EXPECT_TRUE(mustFind({"FUNCTION", "DELETE", "lib"}).has(kAdmin));
    EXPECT_FALSE(mustFind({"SCRIPT", "EXISTS", "sha"}).has(kAdmin));
    EXPECT_FALSE(mustFind({"FUNCTION", "LIST"}).has(kAdmin));
}

TEST(CommandTable, KeysIsNotAdmin) {
    const CommandInfo& cmd = mustFind({"KEYS", "*"});
    EXPECT_FALSE(cmd.has(kAdmin));
    EXPECT_FALSE(cmd.has(kNoProxy));
}

TEST(CommandTable, MonitorIsNoProxy) { EXPECT_TRUE(mustFind({"MONITOR"}).has(kNoProxy)); }

TEST(CommandTable, ClusterAndItsSubcommandsAreNoProxy) {
    EXPECT_TRUE(mustFind({"CLUSTER"}).has(kNoProxy));
    EXPECT_TRUE(mustFind({"CLUSTER", "INFO"}).has(kNoProxy));
    EXPECT_TRUE(mustFind({"CLIENT", "KILL", "ID", "1"}).has(kNoProxy));
    EXPECT_FALSE(mustFind({"CLIENT", "SETNAME", "x"}).has(kNoProxy));
}

TEST(CommandTable, SubscribeIsPubSub) {
    EXPECT_TRUE(mustFind({"SUBSCRIBE", "ch"}).has(kPubSub));
    EXPECT_TRUE(mustFind({"SUBSCRIBE", "ch"}).has(kNoKey));
}

TEST(CommandTable, ShardChannelsAreNotKeys) {
    // Redis's COMMAND GETKEYS SPUBLISH says "no key arguments": its channel spec is NOT_KEY.
    EXPECT_TRUE(mustFind({"SPUBLISH", "ch", "m"}).has(kNoKey));
    EXPECT_EQ(keysOf({"SPUBLISH", "ch", "m"}), Keys({}));
}

TEST(CommandTable, MultiIsATransactionCommand) {
    for (std::string_view name : {"MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"}) {
        EXPECT_TRUE(mustFind({name}).has(kTransaction)) << name;
    }
    EXPECT_FALSE(mustFind({"GET"}).has(kTransaction));
}

TEST(CommandTable, PingTakesNoKey) {
    EXPECT_TRUE(mustFind({"PING"}).has(kNoKey));
    EXPECT_EQ(keysOf({"PING", "hello"}), Keys({}));
}

TEST(CommandTable, LookupIgnoresCase) {
    for (std::string_view name : {"get", "GET", "gEt"}) {
        const CommandInfo* cmd = lookupCommand(Argv{name, "k"});
        ASSERT_NE(cmd, nullptr) << name;
        EXPECT_EQ(cmd->name, "get");
    }
    const CommandInfo* sub = lookupCommand(Argv{"CoNfIg", "gEt", "x"});
    ASSERT_NE(sub, nullptr);
    EXPECT_EQ(sub->name, "config|get");
}

TEST(CommandTable, EveryTopLevelCommandIsFoundByItsNameInAnyCase) {
    for (const auto& c : allCommands()) {
        std::string upper(c.name), mixed(c.name);
        for (size_t i = 0; i < upper.size(); ++i) {
            upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
            if (i % 2 == 0) mixed[i] = upper[i];
        }
        for (const std::string& name : {std::string(c.name), upper, mixed}) {
            std::vector<std::string_view> argv{name};
            EXPECT_EQ(lookupCommand(argv), &c) << name;
        }
    }
}

TEST(CommandTable, UnknownCommandIsNull) {
    EXPECT_EQ(lookupCommand(Argv{"nosuchcommand"}), nullptr);
    EXPECT_EQ(lookupCommand(Argv{"ge"}), nullptr);
    EXPECT_EQ(lookupCommand(Argv{""}), nullptr);
    EXPECT_EQ(lookupCommand(Argv{}), nullptr);
    EXPECT_EQ(lookupCommand(Argv{std::string_view("get\0", 4)}), nullptr);
    const std::string longName(4096, 'g');
    EXPECT_EQ(lookupCommand(Argv{longName}), nullptr);
    // A pipe is not a way to name a subcommand directly.
    EXPECT_EQ(lookupCommand(Argv{"config|get"}), nullptr);
}

TEST(CommandTable, MalformedShortArgvYieldsNoOutOfRangeIndex) {
    const std::vector<Argv> calls = {
        {"GET"},
        {"MSET", "a"},
        {"EVAL", "s", "5", "k1"},
        {"EVAL", "s"},
        {"ZUNIONSTORE", "d", "3", "a"},
        {"XREAD", "STREAMS"},
        {"XREAD", "STREAMS", "a"},
        {"SORT"},
        {"SORT", "k", "STORE"},
        {"MIGRATE", "h", "p"},
        {"MIGRATE", "h", "p", "", "0", "5", "KEYS"},
        {"OBJECT", "ENCODING"},
        {"BLPOP"},
        {"EVAL", "s", "99999999999999999", "k"},
    };
    for (const Argv& argv : calls) {
        std::vector<int> out;
        keyIndices(mustFind(argv), argv, out);
        for (int i : out) {
            EXPECT_GE(i, 1) << argv[0];
            EXPECT_LT(static_cast<size_t>(i), argv.size()) << argv[0];
        }
    }
    EXPECT_EQ(keysOf({"EVAL", "s", "5", "k1"}), Keys({3}));
}

TEST(CommandTable, ArityOfGetIsExactlyTwo) {
    const CommandInfo& get = mustFind({"GET"});
    EXPECT_EQ(get.arity, 2);
    EXPECT_FALSE(arityOk(get, 1));
    EXPECT_TRUE(arityOk(get, 2));
    EXPECT_FALSE(arityOk(get, 3));
}

TEST(CommandTable, ArityOfSetIsAtLeastThree) {
    const CommandInfo& set = mustFind({"SET"});
    EXPECT_EQ(set.arity, -3);
    EXPECT_FALSE(arityOk(set, 2));
    EXPECT_TRUE(arityOk(set, 3));
    EXPECT_TRUE(arityOk(set, 7));
}

TEST(CommandTable, TableIsSortedAndComplete) {
    const auto all = allCommands();
    EXPECT_GT(all.size(), 200u);
    for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].name, all[i].name);
    size_t subs = 0;
    for (const CommandInfo& c : all) {
        EXPECT_EQ(c.has(kHasSubcommands), !c.subcommands.empty()) << c.name;
        EXPECT_EQ(lookupCommand(Argv{c.name}), &c) << c.name;
        for (const CommandInfo& s : c.subcommands) {
            const std::string_view sub = s.name.substr(c.name.size() + 1);
            EXPECT_EQ(lookupCommand(Argv{c.name, sub}), &s) << s.name;
            ++subs;
        }
    }
    EXPECT_GT(subs, 100u);
}

TEST(CommandTable, EveryCommandYieldsInRangeKeysForTenArguments) {
    // Synthetic argv: numbers where a numkeys could sit, keywords where a spec looks for one.
    for (const CommandInfo& top : allCommands()) {
        std::vector<const CommandInfo*> cmds = {&top};
        for (const CommandInfo& s : top.subcommands) cmds.push_back(&s);
        for (const CommandInfo* cmd : cmds) {
            for (std::string_view filler : {"3", "STREAMS", "KEYS", "x", "-1", "STORE"}) {
                for (size_t argc = 0; argc <= 10; ++argc) {
                    Argv argv(argc, filler);
                    if (argc > 0) argv[0] = cmd->name;
                    std::vector<int> out;
                    keyIndices(*cmd, argv, out);
                    for (int i : out) {
                        EXPECT_GE(i, 1) << cmd->name << " argc " << argc;
                        EXPECT_LT(static_cast<size_t>(i), argc) << cmd->name << " argc " << argc;
                    }
                }
            }
        }
    }
}

TEST(CommandTable, EveryCommandWithKeySpecsFindsItsFirstKeyInAFullCall) {
    // A call of 10 arguments with numkeys 1 everywhere names at least one key for each command
    // whose first spec starts at a fixed index (keyword specs need their keyword, skipped).
    for (const CommandInfo& top : allCommands()) {
        std::vector<const CommandInfo*> cmds = {&top};
        for (const CommandInfo& s : top.subcommands) cmds.push_back(&s);
        for (const CommandInfo* cmd : cmds) {
            if (cmd->key_specs.empty() || cmd->key_specs[0].begin != KeySpec::Begin::kIndex) continue;
            Argv argv(10, "1");
            std::vector<int> out;
            keyIndices(*cmd, argv, out);
            EXPECT_FALSE(out.empty()) << cmd->name;
        }
    }
}

TEST(CommandTable, ACommandWithOneKeyAtAFixedPlaceHasThatKeyAndNoOther) {
    // The common case keyIndices answers first (GET key, HSET key f v, ...): the spec's index,
    // when the call is long enough to have it, whatever follows.
    size_t seen = 0;
    for (const CommandInfo& top : allCommands()) {
        std::vector<const CommandInfo*> cmds = {&top};
        for (const CommandInfo& s : top.subcommands) cmds.push_back(&s);
        for (const CommandInfo* cmd : cmds) {
            if (cmd->key_specs.size() != 1) continue;
            const KeySpec& spec = cmd->key_specs[0];
            if (spec.begin != KeySpec::Begin::kIndex || spec.find != KeySpec::Find::kRange || spec.lastkey != 0) continue;
            if (cmd->name == "sort" || cmd->name == "migrate") continue;
            ++seen;
            for (size_t argc = 1; argc <= 8; ++argc) {
                Argv argv(argc, "k");
                std::vector<int> out;
                keyIndices(*cmd, argv, out);
                if (static_cast<size_t>(spec.index) < argc)
                    EXPECT_EQ(out, std::vector<int>{spec.index}) << cmd->name << " argc " << argc;
                else
                    EXPECT_TRUE(out.empty()) << cmd->name << " argc " << argc;
            }
        }
    }
    EXPECT_GT(seen, 100u) << "most of Redis's keyed commands are of this shape";
    std::vector<int> out;
    Argv get = {"GET", "user:1"};
    keyIndices(mustFind(get), get, out);
    EXPECT_EQ(out, std::vector<int>{1});
}

// Built at namespace scope, as the data path's tables are: allCommands() is usable during static
// initialization.
const PerCommand<size_t> kNameLengths([](const CommandInfo& c) { return c.name.size(); });

TEST(PerCommand, EveryTopLevelCommandHasItsValueAndASubcommandHasNone) {
    for (const auto& c : allCommands()) {
        ASSERT_NE(kNameLengths.find(&c), nullptr) << c.name;
        EXPECT_EQ(*kNameLengths.find(&c), c.name.size()) << c.name;
    }
    EXPECT_EQ(kNameLengths.get(&mustFind({"get", "k"}), 0), 3u);
    const CommandInfo& sub = mustFind({"CLIENT", "KILL", "ID", "1"});
    ASSERT_EQ(sub.name, "client|kill");
    EXPECT_EQ(kNameLengths.find(&sub), nullptr);
    EXPECT_EQ(kNameLengths.get(&sub, 99), 99u);
    const CommandInfo elsewhere{};
    EXPECT_EQ(kNameLengths.find(&elsewhere), nullptr) << "an entry outside the table";
}

}  // namespace
}  // namespace laminar::resp

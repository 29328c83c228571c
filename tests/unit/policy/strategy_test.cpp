// SPDX-License-Identifier: Apache-2.0
// Request's write classification, which dual_write and dual_lookup route by: deletes go to both
// sides, plain overwrites may be sent to both as they are, anything else builds on the value.
#include "policy/strategy.h"

#include <gtest/gtest.h>

#include "fakes.h"  // tests/unit/policy/fakes.h

namespace laminar::policy {
namespace {

using testing::Cmd;

bool isDelete(std::vector<std::string> args) { return Cmd(std::move(args)).request().isDelete(); }
bool isPlainOverwrite(std::vector<std::string> args) { return Cmd(std::move(args)).request().isPlainOverwrite(); }

TEST(RequestTest, DelAndUnlinkAreDeletesInAnyCase) {
    EXPECT_TRUE(isDelete({"DEL", "k"}));
    EXPECT_TRUE(isDelete({"unlink", "a", "b"}));
    EXPECT_TRUE(isDelete({"Del", "k"}));
    EXPECT_FALSE(isDelete({"GETDEL", "k"}));
    EXPECT_FALSE(isDelete({"SET", "k", "v"}));
    EXPECT_FALSE(isDelete({"GET", "k"}));
    EXPECT_FALSE(isDelete({"CLIENT", "KILL", "ID", "1"})) << "a subcommand is never a delete";
}

TEST(RequestTest, OverwritesThatDoNotDependOnTheValueArePlain) {
    EXPECT_TRUE(isPlainOverwrite({"SET", "k", "v"}));
    EXPECT_TRUE(isPlainOverwrite({"set", "k", "v", "EX", "10"}));
    EXPECT_TRUE(isPlainOverwrite({"SET", "k", "v", "PX", "10"}));
    EXPECT_TRUE(isPlainOverwrite({"SETEX", "k", "10", "v"}));
    EXPECT_TRUE(isPlainOverwrite({"PSETEX", "k", "10", "v"}));
    EXPECT_TRUE(isPlainOverwrite({"MSET", "a", "1", "b", "2"}));
    EXPECT_TRUE(isPlainOverwrite({"DEL", "k"}));
    EXPECT_TRUE(isPlainOverwrite({"UNLINK", "k"}));
}

TEST(RequestTest, WritesThatReadTheValueOrMayNotApplyAreNot) {
    EXPECT_FALSE(isPlainOverwrite({"SET", "k", "v", "NX"}));
    EXPECT_FALSE(isPlainOverwrite({"SET", "k", "v", "EX", "10", "xx"}));
    EXPECT_FALSE(isPlainOverwrite({"SET", "k", "v", "get"}));
    EXPECT_FALSE(isPlainOverwrite({"SET", "k", "v", "KEEPTTL"}));
    EXPECT_FALSE(isPlainOverwrite({"SETNX", "k", "v"}));
    EXPECT_FALSE(isPlainOverwrite({"MSETNX", "a", "1"}));
    EXPECT_FALSE(isPlainOverwrite({"INCR", "k"}));
    EXPECT_FALSE(isPlainOverwrite({"APPEND", "k", "v"}));
    EXPECT_FALSE(isPlainOverwrite({"GETSET", "k", "v"}));
    EXPECT_FALSE(isPlainOverwrite({"GET", "k"}));
    EXPECT_FALSE(isPlainOverwrite({"CONFIG", "SET", "a", "b"})) << "a subcommand is never a plain overwrite";
}

}  // namespace
}  // namespace laminar::policy

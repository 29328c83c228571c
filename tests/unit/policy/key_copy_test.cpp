// SPDX-License-Identifier: Apache-2.0
// copyKey: one key's state from one side to the other (DUMP + PTTL, then RESTORE or DEL), over
// scripted backends that the test answers in the order it chooses.
#include "policy/key_copy.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "fakes.h"       // tests/unit/policy/fakes.h
#include "sync_fakes.h"  // tests/unit/policy/sync_fakes.h
#include "policy/proxy.h"

namespace laminar::policy {
namespace {

using testing::bulk;
using testing::command;
using testing::dumpPayload;
using testing::FakeEnv;
using testing::kNew;
using testing::kOld;

class KeyCopyTest : public ::testing::Test {
protected:
    void TearDown() override { EXPECT_EQ(env.background.unanswered(), 0u); }

    // Copies `key` from old to new; the outcome lands in ok_ / why_.
    void copy(const std::string& key, bool replace) {
        copyKey(key, old_, new_, replace, env.ctx, [this](bool ok, std::string_view why) {
            ok_ = ok;
            why_ = std::string(why);
        });
    }
    const std::string& sent(size_t i) const { return env.background.sent.at(i).raw; }

    FakeEnv env;
    Proxy old_{kOld, "old"};
    Proxy new_{kNew, "new"};
    std::optional<bool> ok_;
    std::string why_;
};

// The copy runs on the background connections (it outlives the client's command), reads both
// DUMP and PTTL before writing, and restores with the TTL that was left.
TEST_F(KeyCopyTest, RestoresTheValueWithItsTtlAfterReadingBoth) {
    copy("k", true);
    EXPECT_TRUE(env.client.sent.empty()) << "the client's connections carry no copy";
    ASSERT_EQ(env.background.sent.size(), 2u);
    EXPECT_EQ(env.background.sent[0].backend, kOld);
    EXPECT_EQ(sent(0), command({"DUMP", "k"}));
    EXPECT_EQ(sent(1), command({"PTTL", "k"}));
    env.background.answer(1, ":5000\r\n");  // PTTL first: nothing is written before DUMP too
    EXPECT_EQ(env.background.sent.size(), 2u);
    env.background.answer(0, bulk(dumpPayload("v")));
    ASSERT_EQ(env.background.sent.size(), 3u);
    EXPECT_EQ(env.background.sent[2].backend, kNew);
    EXPECT_EQ(sent(2), command({"RESTORE", "k", "5000", dumpPayload("v"), "REPLACE"}));
    EXPECT_FALSE(ok_.has_value());
    env.background.answer(2, "+OK\r\n");
    EXPECT_EQ(ok_, true);
}

// A key without a TTL (PTTL -1) is restored with 0, which RESTORE reads as none.
TEST_F(KeyCopyTest, AKeyWithoutTtlIsRestoredWithZero) {
    copy("k", true);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    EXPECT_EQ(sent(2), command({"RESTORE", "k", "0", dumpPayload("v"), "REPLACE"}));
    env.background.answer(2, "+OK\r\n");
    EXPECT_EQ(ok_, true);
}

// A key gone from the source: deleted on the target when replacing (so a stale copy cannot
// stay), nothing to do when only warming.
TEST_F(KeyCopyTest, AKeyGoneFromTheSourceIsDeletedOnlyWhenReplacing) {
    copy("gone", true);
    env.background.answer(0, "$-1\r\n");
    env.background.answer(1, ":-2\r\n");
    ASSERT_EQ(env.background.sent.size(), 3u);
    EXPECT_EQ(sent(2), command({"DEL", "gone"}));
    env.background.answer(2, ":1\r\n");
    EXPECT_EQ(ok_, true);

    ok_.reset();
    env.background.sent.clear();
    copy("gone", false);
    env.background.answer(0, "$-1\r\n");
    env.background.answer(1, ":-2\r\n");
    EXPECT_EQ(env.background.sent.size(), 2u) << "nothing written";
    EXPECT_EQ(ok_, true);
}

// Without REPLACE a value the target got meanwhile wins: BUSYKEY is success, not a failure.
TEST_F(KeyCopyTest, WithoutReplaceAValueTheTargetHasIsKept) {
    copy("k", false);
    env.background.answer(0, bulk(dumpPayload("old")));
    env.background.answer(1, ":-1\r\n");
    EXPECT_EQ(sent(2), command({"RESTORE", "k", "0", dumpPayload("old")}));
    env.background.answer(2, "-BUSYKEY Target key name already exists.\r\n");
    EXPECT_EQ(ok_, true);
}

// A failed read or write is reported with the backend's words, and nothing is written after a
// failed read.
TEST_F(KeyCopyTest, AFailureIsReportedWithTheBackendsError) {
    copy("k", true);
    env.background.answer(0, "-ERR DUMP failed\r\n");
    env.background.answer(1, ":-1\r\n");
    EXPECT_EQ(env.background.sent.size(), 2u);
    EXPECT_EQ(ok_, false);
    EXPECT_EQ(why_, "-ERR DUMP failed\r\n");

    ok_.reset();
    env.background.sent.clear();
    copy("k", true);
    env.background.answer(0, bulk(dumpPayload("v")));
    env.background.answer(1, ":-1\r\n");
    env.background.answer(2, "-BUSYKEY Target key name already exists.\r\n");
    EXPECT_EQ(ok_, false) << "with REPLACE, BUSYKEY cannot happen and is a failure";
}

}  // namespace
}  // namespace laminar::policy

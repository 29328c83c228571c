// SPDX-License-Identifier: Apache-2.0
#include "io/write_ahead.h"

#include <gtest/gtest.h>

namespace laminar::io {
namespace {

struct CountingLog final : WriteAheadLog {
    int drains = 0;
    void drainAhead() override {
        ++drains;
        clearWriteAhead();
    }
};

// A sender pays one relaxed load when nothing is buffered, and the log drains once per batch of
// records however many sends follow.
TEST(WriteAhead, ASendDrainsTheLogOnlyWhenRecordsWaitAndOnlyOnce) {
    CountingLog log;
    setWriteAheadLog(&log);
    beforeSend();
    EXPECT_EQ(log.drains, 0) << "nothing buffered";
    markWriteAhead();
    markWriteAhead();
    beforeSend();
    beforeSend();
    EXPECT_EQ(log.drains, 1);
    markWriteAhead();
    beforeSend();
    EXPECT_EQ(log.drains, 2);
    setWriteAheadLog(nullptr);
}

TEST(WriteAhead, ALogThatGoesAwayIsForgottenAndNoOtherIs) {
    CountingLog registered, other;
    setWriteAheadLog(&registered);
    forgetWriteAheadLog(&other);
    markWriteAhead();
    beforeSend();
    EXPECT_EQ(registered.drains, 1) << "forgetting another log leaves this one in place";
    forgetWriteAheadLog(&registered);
    markWriteAhead();
    beforeSend();
    EXPECT_EQ(registered.drains, 1) << "gone: never called again";
}

}  // namespace
}  // namespace laminar::io

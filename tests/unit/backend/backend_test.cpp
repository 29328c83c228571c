// SPDX-License-Identifier: Apache-2.0
// The fixed error replies of src/backend/backend.cpp and how laminar tells its own, and the
// transient ones, from a backend's.
#include "backend/backend.h"

#include <gtest/gtest.h>

#include <string>

namespace laminar::backend {
namespace {

TEST(BackendErrorTest, AnUnavailableBackendIsOneRespErrorNamingItAndWhy) {
    EXPECT_EQ(unavailableError("old", "connection refused"), "-ERR laminar: backend 'old' unavailable: connection refused\r\n");
}

TEST(BackendErrorTest, ATimeoutSaysHowLongWasWaited) {
    EXPECT_EQ(timeoutError("new", 1500), "-ERR laminar: backend 'new' timed out after 1500ms\r\n");
}

TEST(BackendErrorTest, ABusyErrorIsABusyReplyThatLaminarMade) {
    auto busy = busyError("old", 5000);
    EXPECT_TRUE(busy.starts_with("-BUSY laminar: backend 'old' has been busy running a script for 5000ms (busy_timeout)")) << busy;
    EXPECT_TRUE(busy.ends_with("\r\n"));
    EXPECT_EQ(busy.find("\r\n"), busy.size() - 2) << "one line";
}

TEST(BackendErrorTest, OnlyLaminarsTimeoutIsATimeout) {
    EXPECT_TRUE(isTimeoutError(timeoutError("old", 10)));
    EXPECT_FALSE(isTimeoutError(unavailableError("old", "connection refused")));
    EXPECT_FALSE(isTimeoutError("-ERR timeout\r\n"));
    EXPECT_FALSE(isTimeoutError(""));
}

TEST(BackendErrorTest, TransientErrorsAreLaminarsUnavailableAndTimeoutAndTheServersRetriableOnes) {
    EXPECT_TRUE(isTransientError(unavailableError("old", "connection refused")));
    EXPECT_TRUE(isTransientError(timeoutError("old", 10)));
    EXPECT_TRUE(isTransientError(busyError("old", 10)));
    EXPECT_TRUE(isTransientError("-LOADING Redis is loading the dataset in memory\r\n"));
    EXPECT_TRUE(isTransientError("-BUSY Redis is busy running a script.\r\n"));
    EXPECT_TRUE(isTransientError("-MASTERDOWN Link with MASTER is down\r\n"));
    EXPECT_TRUE(isTransientError("-TRYAGAIN Multiple keys request during rehashing of slot\r\n"));
    EXPECT_TRUE(isTransientError("-CLUSTERDOWN The cluster is down\r\n"));
}

TEST(BackendErrorTest, ErrorsAboutTheCommandOrTheDataAreNotTransient) {
    EXPECT_FALSE(isTransientError("-BUSYKEY Target key name already exists.\r\n")) << "BUSY is a word of its own";
    EXPECT_FALSE(isTransientError("-BUSYGROUP Consumer Group name already exists\r\n"));
    EXPECT_FALSE(isTransientError("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"));
    EXPECT_FALSE(isTransientError("-ERR unknown command 'FOO'\r\n"));
    EXPECT_FALSE(isTransientError("-ERR laminar: malformed command for a cluster backend\r\n")) << "laminar's, but not about a backend";
    EXPECT_FALSE(isTransientError("-ERR laminar: backend 'old' refuses the command\r\n"));
    EXPECT_FALSE(isTransientError("+OK\r\n"));
    EXPECT_FALSE(isTransientError(""));
}

TEST(BackendErrorTest, LaminarsOwnErrorsSayLaminarAfterTheCode) {
    EXPECT_TRUE(isLaminarError(unavailableError("old", "x")));
    EXPECT_TRUE(isLaminarError(timeoutError("old", 1)));
    EXPECT_TRUE(isLaminarError(busyError("old", 1)));
    EXPECT_TRUE(isLaminarError("-TRYAGAIN laminar: slot 1 moved\r\n"));
    EXPECT_FALSE(isLaminarError("-ERR wrong number of arguments\r\n"));
    EXPECT_FALSE(isLaminarError("-ERR the laminar: is not first\r\n"));
    EXPECT_FALSE(isLaminarError("-ERR\r\n"));
    EXPECT_FALSE(isLaminarError(""));
}

TEST(BackendErrorTest, TheDiscardSinkTakesAnyReplyAndIsAlwaysTheSame) {
    ReplySink& a = discardSink();
    a.complete("+OK\r\n", false);
    a.complete("-ERR x\r\n", true);
    EXPECT_EQ(&a, &discardSink());
}

}  // namespace
}  // namespace laminar::backend

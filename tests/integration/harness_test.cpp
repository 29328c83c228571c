// SPDX-License-Identifier: Apache-2.0
// The test harness itself: the servers a test starts do not outlive a test process that dies
// without running its destructors (a sanitizer report, a crash), so they cannot hold ports or
// CPU through the rest of a CI run.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/harness.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

TEST(Harness, ServersOfATestProcessThatDiesWithoutCleanupDieWithIt) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // the "test process": starts a server, then dies the way an abort does
        ::close(fds[0]);
        int port = 0;
        try {
            RedisServer r;
            port = r.port();
            (void)!::write(fds[1], &port, sizeof port);
            ::_exit(0);  // no destructor runs
        } catch (...) {
            ::_exit(1);
        }
    }
    ::close(fds[1]);
    int port = 0;
    ssize_t n = ::read(fds[0], &port, sizeof port);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof port)) << "the child did not start its server";
    bool gone = waitFor([&] { return !Client(port, 200ms).connected(); }, 5s);
    if (!gone) Client(port).cmd({"SHUTDOWN", "NOSAVE"});  // not leave it behind either way
    EXPECT_TRUE(gone) << "redis-server on port " << port << " outlived the test process that started it";
}

}  // namespace
}  // namespace laminar::test

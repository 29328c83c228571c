// SPDX-License-Identifier: Apache-2.0
// The edge-triggered poller (src/io/poller.cpp) over pipes: events delivered through the
// io_context, once per edge, removal during a round, detach, and the loop time.
#include "io/poller.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace laminar::io {
namespace {

using namespace std::chrono_literals;

struct Pipe {
    Pipe() {
        EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    }
    ~Pipe() {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
    int in() const { return fds[0]; }
    int out() const { return fds[1]; }
    void write(const char* s = "x") { ASSERT_EQ(::write(out(), s, 1), 1); }
    void drain() {
        char buf[64];
        while (::read(in(), buf, sizeof buf) > 0) {
        }
    }
    int fds[2] = {-1, -1};
};

struct Recorder final : Poller::Handler {
    void onEvents(uint32_t events) override {
        seen.push_back(events);
        if (then) then();
    }
    std::vector<uint32_t> seen;
    std::function<void()> then;
};

class PollerTest : public ::testing::Test {
protected:
    void SetUp() override { poller.attach(ioc); }
    // Runs the io_context until `done` (the 10 s bound only keeps a broken poller from hanging
    // the test; nothing is timed), then what else is ready without waiting.
    void runUntil(const std::function<bool()>& done) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(100ms);
        ioc.poll();
    }
    boost::asio::io_context ioc;
    Poller poller;
};

TEST_F(PollerTest, AReadableDescriptorIsReportedThroughTheIoContext) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.in(), &r));
    ioc.poll();
    EXPECT_TRUE(r.seen.empty()) << "an empty pipe is not readable";
    p.write();
    runUntil([&] { return !r.seen.empty(); });
    ASSERT_EQ(r.seen.size(), 1u);
    EXPECT_TRUE(r.seen[0] & EPOLLIN);
}

TEST_F(PollerTest, AWritableDescriptorIsReportedAtOnce) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.out(), &r));
    runUntil([&] { return !r.seen.empty(); });
    ASSERT_EQ(r.seen.size(), 1u);
    EXPECT_TRUE(r.seen[0] & EPOLLOUT);
}

TEST_F(PollerTest, DataLeftUnreadIsNotReportedAgainWithoutANewEdge) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.in(), &r));
    p.write();
    runUntil([&] { return !r.seen.empty(); });
    ASSERT_EQ(r.seen.size(), 1u);
    ioc.poll();
    ioc.poll();
    EXPECT_EQ(r.seen.size(), 1u) << "edge-triggered: the byte still waiting is not news";
    p.write();
    runUntil([&] { return r.seen.size() == 2; });
    EXPECT_EQ(r.seen.size(), 2u) << "more data is";
}

TEST_F(PollerTest, TheClosedWriteEndIsReportedAsAHangUp) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.in(), &r));
    ::close(p.fds[1]);
    p.fds[1] = -1;
    runUntil([&] { return !r.seen.empty(); });
    ASSERT_EQ(r.seen.size(), 1u);
    EXPECT_TRUE(r.seen[0] & EPOLLHUP);
}

TEST_F(PollerTest, ADescriptorIsAddedOnlyOnce) {
    Pipe p;
    Recorder r;
    EXPECT_TRUE(poller.add(p.in(), &r));
    EXPECT_FALSE(poller.add(p.in(), &r));
}

TEST_F(PollerTest, ABadDescriptorIsRefused) {
    Recorder r;
    EXPECT_FALSE(poller.add(-1, &r));
}

TEST_F(PollerTest, ARemovedDescriptorIsNotReported) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.in(), &r));
    poller.remove(p.in(), &r);
    p.write();
    ioc.poll();
    EXPECT_TRUE(r.seen.empty());
}

TEST_F(PollerTest, AHandlerRemovedByAnotherInTheSameRoundGetsNothing) {
    Pipe a, b;
    Recorder ra, rb;
    // Whichever runs first removes the other; the other's event of this round is dropped.
    ra.then = [&] { poller.remove(b.in(), &rb); };
    rb.then = [&] { poller.remove(a.in(), &ra); };
    ASSERT_TRUE(poller.add(a.in(), &ra));
    ASSERT_TRUE(poller.add(b.in(), &rb));
    a.write();
    b.write();
    // Both are readable before the round starts, so one epoll_wait returns both.
    runUntil([&] { return ra.seen.size() + rb.seen.size() > 0; });
    EXPECT_EQ(ra.seen.size() + rb.seen.size(), 1u);
}

TEST_F(PollerTest, AHandlerMayRemoveAndDestroyItself) {
    Pipe p;
    auto* r = new Recorder;
    int calls = 0;
    r->then = [&] {
        ++calls;
        poller.remove(p.in(), r);
        delete r;
    };
    ASSERT_TRUE(poller.add(p.in(), r));
    p.write();
    runUntil([&] { return calls > 0; });
    p.write();
    ioc.poll();
    EXPECT_EQ(calls, 1);
}

TEST_F(PollerTest, ManyReadyDescriptorsAreAllReportedThoughOneRoundTakesAtMost256) {
    constexpr int kPipes = 260;  // more than one epoll_wait round takes
    std::vector<std::unique_ptr<Pipe>> pipes;
    std::vector<Recorder> rs(kPipes);
    for (int i = 0; i < kPipes; ++i) {
        pipes.push_back(std::make_unique<Pipe>());
        ASSERT_TRUE(poller.add(pipes.back()->in(), &rs[static_cast<size_t>(i)]));
        pipes.back()->write();
    }
    auto reported = [&] {
        int n = 0;
        for (const auto& r : rs) n += !r.seen.empty();
        return n;
    };
    runUntil([&] { return reported() == kPipes; });
    EXPECT_EQ(reported(), kPipes);
    for (const auto& r : rs) EXPECT_LE(r.seen.size(), 1u);
}

TEST_F(PollerTest, AfterDetachNothingIsAddedAndRemoveIsHarmless) {
    Pipe p;
    Recorder r;
    ASSERT_TRUE(poller.add(p.in(), &r));
    poller.detach();
    poller.remove(p.in(), &r);
    EXPECT_FALSE(poller.add(p.in(), &r));
    p.write();
    ioc.poll();
    EXPECT_TRUE(r.seen.empty());
    poller.detach();  // twice is fine
}

TEST_F(PollerTest, ARoundSetsTheLoopTime) {
    Pipe p;
    std::chrono::steady_clock::time_point in_round;
    Recorder r;
    r.then = [&] { in_round = Poller::loopTime(); };
    ASSERT_TRUE(poller.add(p.in(), &r));
    auto before = std::chrono::steady_clock::now();
    p.write();
    runUntil([&] { return !r.seen.empty(); });
    auto after = std::chrono::steady_clock::now();
    EXPECT_GE(in_round, before);
    EXPECT_LE(in_round, after);
    EXPECT_EQ(Poller::loopTime(), in_round) << "kept until the next round or touch()";
}

TEST(PollerLoopTimeTest, TouchSetsTheLoopTimeToNowAndItHoldsStill) {
    auto before = std::chrono::steady_clock::now();
    Poller::touch();
    auto t = Poller::loopTime();
    EXPECT_GE(t, before);
    EXPECT_LE(t, std::chrono::steady_clock::now());
    EXPECT_EQ(Poller::loopTime(), t) << "reading it reads no clock";
}

TEST(PollerLoopTimeTest, AThreadThatNeverPolledGetsNow) {
    std::chrono::steady_clock::time_point before, t, after;
    std::thread([&] {
        before = std::chrono::steady_clock::now();
        t = Poller::loopTime();
        after = std::chrono::steady_clock::now();
    }).join();
    EXPECT_GE(t, before);
    EXPECT_LE(t, after);
}

}  // namespace
}  // namespace laminar::io

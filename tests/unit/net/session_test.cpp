// SPDX-License-Identifier: Apache-2.0
// Session, the client side of laminar, on a real Worker event loop run by the test, with a
// socketpair for the client and scripted fake backends the test answers when it chooses: what is
// forwarded, byte for byte, and in which order the client gets its replies.
#include "net/session.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "net/client_registry.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "net/worker.h"
#include "policy/snapshot.h"
#include "policy/sync_engine.h"

namespace laminar::net {
namespace {

using namespace std::chrono_literals;

// A backend that records what it is sent; the test answers each command when it chooses.
class FakeBackend final : public backend::Backend {
public:
    using Backend::Backend;
    struct Sent {
        std::string raw;
        backend::ReplySink* sink;
        bool bulk = false;   // on the bulk lane
        bool resp3 = false;  // on the RESP3 lane
    };
    void send(uint64_t, std::string_view raw, backend::ReplySink* sink) override { sent.push_back({std::string(raw), sink}); }
    void sendBulk(uint64_t, std::string_view raw, backend::ReplySink* sink) override {
        sent.push_back({std::string(raw), sink, true});
    }
    void sendResp3(uint64_t, std::string_view raw, backend::ReplySink* sink) override {
        sent.push_back({std::string(raw), sink, false, true});
    }
    bool anyUp() const override { return true; }
    bool idle() const override { return sent.empty(); }
    void publishLatency(size_t) override {}

    // Answers the oldest command not answered yet.
    void answer(std::string_view reply, bool failed = false) {
        ASSERT_FALSE(sent.empty());
        auto s = sent.front();
        sent.pop_front();
        s.sink->complete(reply, failed);
    }
    std::deque<Sent> sent;
};

// The daemon as the session sees it: a client registry and a sync engine, nothing more.
class FakeHost final : public Host {
public:
    ClientRegistry& registry() override { return clients; }
    Invalidations& invalidations() override { return tracked; }
    policy::SyncEngine& sync() override { return *engine; }
    policy::WriteQueue* queue() const override { return nullptr; }
    uint64_t minInstalledGeneration() const override { return 1; }
    std::string infoSection(Worker&) const override { return "# Laminar\r\nfake:1\r\n"; }
    std::string statusText(Worker&) const override { return "fake status"; }
    std::string backfillCommand(Worker&, std::span<const std::string_view>) override { return "-ERR fake\r\n"; }
    void reloadAsync(std::function<void(std::string)> done, bool) override { done(""); }
    void dryRunAsync(std::function<void(std::string)> done) override { done("fake dry run"); }
    std::string migrationText(Worker&, std::string_view) const override { return "fake migration"; }
    std::string verifiedCommand(std::span<const std::string_view>) override { return "+OK\r\n"; }

    ClientRegistry clients;
    Invalidations tracked;
    std::unique_ptr<policy::SyncEngine> engine;
};

// Keys a:* go to `old`, everything else to `new`.
constexpr const char* kConfig = R"(
backends:
  old: {address: 127.0.0.1:1}
  new: {address: 127.0.0.1:2}
routes:
  - name: a
    match: {keys: ["a:*"]}
    strategy: {type: proxy, target: old}
  - name: default
    strategy: {type: proxy, target: new}
)";

std::string cmd(std::initializer_list<std::string_view> args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (auto a : args) out += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    return out;
}

class SessionTest : public ::testing::Test {
protected:
    void SetUp() override {
        worker_ = std::make_unique<Worker>(host_, 0, [this](const config::BackendConfig& bc) {
            auto b = std::make_shared<FakeBackend>(bc);
            backends_[bc.name] = b.get();
            return b;
        });
        host_.engine = std::make_unique<policy::SyncEngine>(std::vector<policy::SyncHost*>{worker_.get()}, 1);
        worker_->setSnapshot(std::make_shared<const policy::Snapshot>(config::loadString(kConfig, "test.yaml"), 1));
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        client_ = sv[1];
        worker_->adopt(sv[0], "test", "test");
        run();
    }
    void TearDown() override {
        if (client_ >= 0) ::close(client_);
        run();
        host_.engine.reset();
        worker_.reset();
    }

    // Runs the worker's ready handlers (the test is its thread) until nothing is left to run.
    void run() {
        for (int i = 0; i < 20; ++i) {
            worker_->ioc().restart();
            if (worker_->ioc().poll() == 0) return;
        }
    }
    void write(const std::string& bytes) {
        ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
        run();
    }
    // What the client has received so far (waits up to `wait` for the first bytes).
    std::string received(std::chrono::milliseconds wait = 1000ms) {
        std::string out;
        char buf[4096];
        auto until = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < until) {
            run();
            ssize_t n = ::recv(client_, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                out.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0 || !out.empty()) break;  // closed, or nothing more after what came
        }
        return out;
    }
    bool clientClosed() {
        char c;
        run();
        return ::recv(client_, &c, 1, MSG_DONTWAIT) == 0;
    }

    FakeHost host_;
    std::unique_ptr<Worker> worker_;
    std::map<std::string, FakeBackend*> backends_;
    int client_ = -1;
};

TEST_F(SessionTest, PingIsAnsweredWithoutABackend) {
    write(cmd({"PING"}));
    EXPECT_EQ(received(), "+PONG\r\n");
    EXPECT_TRUE(backends_["old"]->sent.empty());
    EXPECT_TRUE(backends_["new"]->sent.empty());
}

// The command reaches its route's backend byte for byte, and the reply the client byte for byte.
TEST_F(SessionTest, ACommandIsForwardedToItsRoutesBackendAsItCame) {
    write(cmd({"GET", "a:1"}));
    ASSERT_EQ(backends_["old"]->sent.size(), 1u);
    EXPECT_EQ(backends_["old"]->sent[0].raw, cmd({"GET", "a:1"}));
    EXPECT_TRUE(backends_["new"]->sent.empty());
    backends_["old"]->answer("$5\r\nhello\r\n");
    EXPECT_EQ(received(), "$5\r\nhello\r\n");
}

// Replies leave in the order the commands came, whichever backend answers first.
TEST_F(SessionTest, RepliesKeepTheCommandsOrderWhenBackendsAnswerOutOfOrder) {
    write(cmd({"GET", "a:1"}) + cmd({"GET", "b:1"}) + cmd({"PING"}));
    ASSERT_EQ(backends_["old"]->sent.size(), 1u);
    ASSERT_EQ(backends_["new"]->sent.size(), 1u);
    backends_["new"]->answer("$6\r\nsecond\r\n");
    EXPECT_EQ(received(100ms), "") << "the first command's reply is not in yet";
    backends_["old"]->answer("$5\r\nfirst\r\n");
    EXPECT_EQ(received(), "$5\r\nfirst\r\n$6\r\nsecond\r\n+PONG\r\n");
}

// Issue 23: after HELLO 3 a client's commands go on the backends' RESP3 lane, without a pin. The
// switch waits for what is in flight on the RESP2 lane, so no command overtakes an earlier one;
// HELLO 2 switches back the same way.
TEST_F(SessionTest, HelloSwitchesLanesOnlyOnceWhatIsInFlightIsAnswered) {
    auto& neu = backends_["new"]->sent;
    write(cmd({"SET", "b:1", "x"}) + cmd({"HELLO", "3"}) + cmd({"GET", "b:1"}));
    ASSERT_EQ(neu.size(), 1u) << "HELLO waits for the SET";
    EXPECT_FALSE(neu[0].resp3);
    backends_["new"]->answer("+OK\r\n");
    run();
    ASSERT_EQ(neu.size(), 2u);
    EXPECT_EQ(neu[0].raw, cmd({"HELLO", "3"}));
    EXPECT_EQ(neu[1].raw, cmd({"GET", "b:1"}));
    EXPECT_TRUE(neu[0].resp3 && neu[1].resp3);
    backends_["new"]->answer("%1\r\n$5\r\nproto\r\n:3\r\n");
    backends_["new"]->answer("_\r\n");
    EXPECT_EQ(received(), "+OK\r\n%1\r\n$5\r\nproto\r\n:3\r\n_\r\n");
    // Local replies follow the protocol.
    write(cmd({"CLIENT", "GETNAME"}));
    EXPECT_EQ(received(), "_\r\n");
    write(cmd({"GET", "b:1"}) + cmd({"HELLO", "2"}));
    ASSERT_EQ(neu.size(), 1u) << "HELLO 2 waits for the GET on the RESP3 lane";
    backends_["new"]->answer("_\r\n");
    run();
    ASSERT_EQ(neu.size(), 1u);
    EXPECT_FALSE(neu[0].resp3);
    backends_["new"]->answer("*2\r\n$5\r\nproto\r\n:2\r\n");
    EXPECT_EQ(received(), "_\r\n*2\r\n$5\r\nproto\r\n:2\r\n");
    EXPECT_TRUE(backends_["old"]->sent.empty());
    EXPECT_EQ(worker_->stats().pinned.value(), 0);
}

// A command laminar could not get answered gets laminar's error, and the next one works.
TEST_F(SessionTest, AFailedCommandGetsItsErrorAndTheNextOneWorks) {
    write(cmd({"GET", "b:1"}) + cmd({"GET", "b:2"}));
    backends_["new"]->answer("-ERR laminar: backend 'new' unavailable: connection refused\r\n", true);
    backends_["new"]->answer("$2\r\nok\r\n");
    EXPECT_EQ(received(), "-ERR laminar: backend 'new' unavailable: connection refused\r\n$2\r\nok\r\n");
}

// MGET over keys of two routes is split into one GET per key, and the replies merged in order.
TEST_F(SessionTest, AMultiKeyCommandAcrossRoutesIsSplitAndMergedInOrder) {
    write(cmd({"MGET", "a:1", "b:1", "a:2"}));
    auto& old = backends_["old"]->sent;
    auto& neu = backends_["new"]->sent;
    ASSERT_EQ(old.size(), 2u);
    ASSERT_EQ(neu.size(), 1u);
    EXPECT_EQ(old[0].raw, cmd({"GET", "a:1"}));
    EXPECT_EQ(old[1].raw, cmd({"GET", "a:2"}));
    EXPECT_EQ(neu[0].raw, cmd({"GET", "b:1"}));
    backends_["new"]->answer("$1\r\nB\r\n");
    backends_["old"]->answer("$1\r\nA\r\n");
    backends_["old"]->answer("$-1\r\n");
    EXPECT_EQ(received(), "*3\r\n$1\r\nA\r\n$1\r\nB\r\n$-1\r\n");
}

// A client whose replies turn big moves to the bulk lane, but only once what it has in flight on
// the usual one is answered, so that no command overtakes an earlier one; once its replies are
// small again it moves back.
TEST_F(SessionTest, AClientWhoseRepliesAreBigMovesToTheBulkLaneOnceNothingIsInFlight) {
    const std::string big = "$" + std::to_string(70 * 1024) + "\r\n" + std::string(70 * 1024, 'v') + "\r\n";
    auto& sent = backends_["new"]->sent;
    write(cmd({"GET", "b:1"}) + cmd({"GET", "b:2"}));
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_FALSE(sent[0].bulk);
    EXPECT_FALSE(sent[1].bulk);
    backends_["new"]->answer(big);
    run();
    write(cmd({"GET", "b:3"}));
    ASSERT_EQ(sent.size(), 1u) << "GET b:3 went before GET b:2 was answered";
    backends_["new"]->answer(big);
    run();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].raw, cmd({"GET", "b:3"}));
    EXPECT_TRUE(sent[0].bulk);
    backends_["new"]->answer(big);
    std::string got;
    for (int i = 0; i < 50 && got.size() < 3 * big.size(); ++i) got += received(100ms);
    EXPECT_EQ(got, big + big + big);

    // Small replies bring the average down, slowly: back on the usual lane for good.
    bool back = false;
    for (int i = 0; i < 100; ++i) {
        write(cmd({"GET", "b:4"}));
        ASSERT_EQ(sent.size(), 1u);
        EXPECT_FALSE(back && sent[0].bulk) << "back on the bulk lane at GET " << i;
        back = back || !sent[0].bulk;
        backends_["new"]->answer("$1\r\nx\r\n");
        EXPECT_EQ(received(), "$1\r\nx\r\n");
    }
    EXPECT_TRUE(back);
}

// Malformed RESP: an error naming the protocol, then the connection is closed; nothing reaches
// a backend.
// Issue 24: an idle connection holds no buffers. A connection that never sent anything has none;
// one that did gives them back once idle (the sweep, every 250 ms), unless a reply is still owed.
TEST_F(SessionTest, AnIdleConnectionHoldsNoBuffersAndTakesThemAgainWithItsNextCommand) {
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 0u) << "a connection that sent nothing holds no buffer";
    write(cmd({"PING"}));
    EXPECT_EQ(received(), "+PONG\r\n");
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 0u) << "the read buffer goes back as soon as it is read out";

    // A reply still owed keeps the reply queue, whatever the time.
    write(cmd({"GET", "a:1"}));
    ASSERT_EQ(backends_["old"]->sent.size(), 1u);
    auto later = [] { return std::chrono::steady_clock::now() + 1s; };  // as if idle since
    worker_->releaseIdleMemory(later());
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 1u);
    backends_["old"]->answer("$1\r\nv\r\n");
    EXPECT_EQ(received(), "$1\r\nv\r\n");
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 1u) << "kept while the client is busy";
    worker_->releaseIdleMemory(later());
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 0u);

    // Half a command waits in the read buffer, which is kept until the rest comes.
    write("*2\r\n$3\r\nGET\r\n$3\r\na:");
    worker_->releaseIdleMemory(later());
    EXPECT_EQ(worker_->sessionsHoldingMemory(), 1u);
    write("2\r\n");
    ASSERT_EQ(backends_["old"]->sent.size(), 1u);
    EXPECT_EQ(backends_["old"]->sent.front().raw, cmd({"GET", "a:2"}));
    backends_["old"]->answer("$-1\r\n");
    EXPECT_EQ(received(), "$-1\r\n");
}

TEST_F(SessionTest, MalformedInputGetsAProtocolErrorAndTheConnectionIsClosed) {
    write("*1\r\n$x\r\n");
    auto got = received();
    EXPECT_EQ(got.rfind("-ERR Protocol error", 0), 0u) << got;
    EXPECT_TRUE(clientClosed());
    EXPECT_TRUE(backends_["old"]->sent.empty());
    EXPECT_TRUE(backends_["new"]->sent.empty());
}

}  // namespace
}  // namespace laminar::net

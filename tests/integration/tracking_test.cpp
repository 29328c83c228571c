// SPDX-License-Identifier: Apache-2.0
// Issue 23.3: CLIENT TRACKING through laminar. laminar keeps the table of what each tracking
// client read (its reads share backend connections with other clients, so no backend knows), and
// sends an invalidation when a key changes: written through laminar (by any client, or by
// laminar's own copies), or directly on a Redis backend (seen through a change feed, one
// connection per backend with CLIENT TRACKING ON BCAST). When laminar itself changes what a read
// of a key returns (a reload, a timed_rollover cutoff, a condition switch, a lost feed) the client
// is told before anything that read would answer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kNullInvalidation = ">2\r\n$10\r\ninvalidate\r\n_\r\n";

std::string invalidation(const std::string& key) { return cat(">2\r\n$10\r\ninvalidate\r\n*1\r\n$", key.size(), "\r\n", key, "\r\n"); }
std::string message(const std::string& key) {
    return cat("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$", key.size(), "\r\n", key, "\r\n");
}

// A raw connection that reads one RESP frame at a time, pushes included.
class Raw {
public:
    explicit Raw(int port, bool resp3 = true) : c_(port) {
        if (resp3) {
            EXPECT_EQ(call({"HELLO", "3"}).substr(0, 1), "%");
        }
    }
    void send(const std::vector<std::string>& argv) { c_.sendRaw(respCommand(argv)); }
    // The next frame, or "" when none came within `timeout`.
    std::string frame(std::chrono::milliseconds timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            size_t len = respFrameLength(pending_);
            if (len != 0 && len != std::string::npos) {
                std::string f = pending_.substr(0, len);
                pending_.erase(0, len);
                return f;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) return "";
            pending_ += readRawUntil(c_, [](const std::string& s) { return !s.empty(); }, left);
        }
    }
    // Sends `argv`; returns its reply, and appends the pushes that came before it to `pushes`.
    std::string call(const std::vector<std::string>& argv, std::vector<std::string>* pushes = nullptr) {
        send(argv);
        for (;;) {
            std::string f = frame();
            if (f.empty() || f[0] != '>') return f;
            if (pushes) pushes->push_back(f);
        }
    }
    // The pushes (or, for a RESP2 subscriber, the messages) that arrive within `wait`.
    std::vector<std::string> drain(std::chrono::milliseconds wait = 300ms) {
        std::vector<std::string> out;
        for (std::string f = frame(wait); !f.empty(); f = frame(wait)) out.push_back(f);
        return out;
    }
    Client& client() { return c_; }

private:
    Client c_;
    std::string pending_;
};

bool contains(const std::vector<std::string>& frames, std::string_view f) {
    return std::find(frames.begin(), frames.end(), f) != frames.end();
}

// Waits until laminar's change feeds (one per redis backend) are up: from then on a change made
// directly on a backend is seen.
bool feedsUp(int port) {
    return waitFor([&] {
        Client c(port);
        return laminarInfo(c, "tracking_change_feeds") == "up";
    });
}

class TrackingTest : public ::testing::Test {
protected:
    void SetUp() override {
        lam_ = std::make_unique<Laminar>(proxyConfig(redis_.port(), "client: {allow_admin: true}\n"));
    }
    int port() const { return lam_->port(); }
    RedisServer redis_;
    std::unique_ptr<Laminar> lam_;
};

// The commands' replies and errors, byte for byte as redis-server's (options, their checks in
// Redis's order, TRACKINGINFO in RESP2 and RESP3, GETREDIR, CACHING).
TEST_F(TrackingTest, CommandsAnswerAsRedisDoes) {
    const std::vector<std::vector<std::string>> script = {
        {"CLIENT", "TRACKINGINFO"},
        {"CLIENT", "GETREDIR"},
        {"CLIENT", "CACHING", "YES"},
        {"CLIENT", "TRACKING", "ON"},
        {"CLIENT", "TRACKINGINFO"},
        {"CLIENT", "GETREDIR"},
        {"CLIENT", "CACHING", "YES"},
        {"CLIENT", "CACHING", "NO"},
        {"CLIENT", "TRACKING", "ON", "OPTIN"},
        {"CLIENT", "CACHING", "YES"},
        {"CLIENT", "TRACKINGINFO"},
        {"CLIENT", "TRACKING", "ON", "OPTOUT"},
        {"CLIENT", "CACHING", "MAYBE"},
        {"CLIENT", "TRACKING", "ON", "BCAST"},
        {"CLIENT", "TRACKING", "OFF"},
        {"CLIENT", "TRACKING", "ON", "PREFIX", "a"},
        {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab"},
        {"CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"},
        {"CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"},
        {"CLIENT", "TRACKING", "ON", "REDIRECT", "x"},
        {"CLIENT", "TRACKING", "ON", "REDIRECT", "999999"},
        {"CLIENT", "TRACKING", "MAYBE"},
        {"CLIENT", "TRACKING", "ON", "NOPE"},
        {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "job:", "NOLOOP"},
        {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:1"},
        {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "z"},
        {"CLIENT", "TRACKINGINFO"},
        {"CLIENT", "TRACKING", "ON"},
        {"CLIENT", "TRACKING", "OFF"},
        {"CLIENT", "TRACKINGINFO"},
    };
    for (bool resp3 : {false, true}) {
        RedisServer direct;
        Raw via(port(), resp3), ref(direct.port(), resp3);
        for (const auto& argv : script)
            EXPECT_EQ(via.call(argv), ref.call(argv)) << (resp3 ? "RESP3: " : "RESP2: ") << cat(argv[0], " ", argv[1], " ", argv.size() > 2 ? argv[2] : "");
        // Inside MULTI as well: queued, and run at EXEC.
        EXPECT_EQ(via.call({"MULTI"}), "+OK\r\n");
        EXPECT_EQ(via.call({"CLIENT", "TRACKING", "ON", "OPTIN"}), "+QUEUED\r\n");
        EXPECT_EQ(via.call({"CLIENT", "GETREDIR"}), "+QUEUED\r\n");
        EXPECT_EQ(via.call({"EXEC"}), "*2\r\n+OK\r\n:0\r\n");
    }
}

// Default mode: a key read through laminar is invalidated once when it changes, whoever changes
// it: another laminar client, the client itself (after its write's reply), or a client of the
// backend itself. It is then forgotten until read again.
TEST_F(TrackingTest, DefaultModeInvalidatesEveryChangeOfAKeyItRead) {
    ASSERT_EQ(Raw(port()).call({"SET", "k", "1"}), "+OK\r\n");
    Raw a(port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(port()));
    EXPECT_EQ(a.call({"GET", "k"}), "$1\r\n1\r\n");

    Raw b(port());
    EXPECT_EQ(b.call({"SET", "k", "2"}), "+OK\r\n");
    auto pushes = a.drain();
    ASSERT_FALSE(pushes.empty());
    EXPECT_EQ(pushes[0], invalidation("k"));
    // Forgotten once invalidated: the next change is not sent until k is read again.
    EXPECT_EQ(b.call({"SET", "k", "3"}), "+OK\r\n");
    EXPECT_TRUE(a.drain().empty());

    // A change made on the backend itself, not through laminar.
    EXPECT_EQ(a.call({"GET", "k"}), "$1\r\n3\r\n");
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"SET", "k", "4"})), "+OK");
    EXPECT_TRUE(contains(a.drain(2s), invalidation("k")));

    // Its own write: the invalidation comes after the write's reply (as Redis sends it).
    EXPECT_EQ(a.call({"GET", "k"}), "$1\r\n4\r\n");
    std::vector<std::string> before;
    EXPECT_EQ(a.call({"SET", "k", "5"}, &before), "+OK\r\n");
    EXPECT_TRUE(before.empty());
    EXPECT_TRUE(contains(a.drain(), invalidation("k")));

    // A key it never read is never sent.
    EXPECT_EQ(b.call({"SET", "other", "1"}), "+OK\r\n");
    for (const auto& p : a.drain()) EXPECT_NE(p, invalidation("other"));

    // Many keys read by one MGET, changed by one MSET of another client: each is invalidated.
    EXPECT_EQ(a.call({"MGET", "m1", "m2"}).substr(0, 2), "*2");
    EXPECT_EQ(b.call({"MSET", "m1", "a", "m2", "b"}), "+OK\r\n");
    auto both = a.drain();
    EXPECT_TRUE(contains(both, invalidation("m1")));
    EXPECT_TRUE(contains(both, invalidation("m2")));

    // FLUSHALL through laminar: the whole cache.
    EXPECT_EQ(a.call({"GET", "k"}), "$1\r\n5\r\n");
    EXPECT_EQ(b.call({"FLUSHALL"}), "+OK\r\n");
    EXPECT_TRUE(contains(a.drain(2s), kNullInvalidation));
}

// OPTIN: only the keys of the command after CLIENT CACHING YES; OPTOUT: every key but those of
// the command after CLIENT CACHING NO.
TEST_F(TrackingTest, OptinAndOptoutFollowClientCaching) {
    Raw in(port()), out(port()), w(port());
    ASSERT_EQ(in.call({"CLIENT", "TRACKING", "ON", "OPTIN"}), "+OK\r\n");
    ASSERT_EQ(out.call({"CLIENT", "TRACKING", "ON", "OPTOUT"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(port()));
    in.call({"GET", "in:plain"});
    EXPECT_EQ(in.call({"CLIENT", "CACHING", "YES"}), "+OK\r\n");
    in.call({"GET", "in:cached"});
    in.call({"GET", "in:after"});  // CACHING YES held for one command only
    EXPECT_EQ(out.call({"CLIENT", "CACHING", "NO"}), "+OK\r\n");
    out.call({"GET", "out:skipped"});
    out.call({"GET", "out:plain"});
    for (std::string k : {"in:plain", "in:cached", "in:after", "out:skipped", "out:plain"}) EXPECT_EQ(w.call({"SET", k, "x"}), "+OK\r\n");
    EXPECT_EQ(in.drain(), std::vector<std::string>{invalidation("in:cached")});
    EXPECT_EQ(out.drain(), std::vector<std::string>{invalidation("out:plain")});
}

// BCAST with PREFIX: every change of a key under a prefix, read or not; none of other keys.
TEST_F(TrackingTest, BcastSendsEveryChangeUnderItsPrefixes) {
    Raw a(port()), w(port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "job:"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(port()));
    a.drain();  // a null invalidation if it started before the feeds were up
    EXPECT_EQ(w.call({"SET", "user:1", "x"}), "+OK\r\n");
    EXPECT_EQ(w.call({"SET", "other:1", "x"}), "+OK\r\n");
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"SET", "job:7", "x"})), "+OK");
    EXPECT_EQ(show(direct.cmd({"SET", "nope", "x"})), "+OK");
    auto pushes = a.drain(1s);
    EXPECT_TRUE(contains(pushes, invalidation("user:1")));
    EXPECT_TRUE(contains(pushes, invalidation("job:7")));
    for (const auto& p : pushes) EXPECT_TRUE(p == invalidation("user:1") || p == invalidation("job:7")) << p;
}

// NOLOOP: not the client's own writes (on a memcached route, where laminar alone sees writes,
// exactly; on Redis the backend's feed cannot tell who wrote), but still other clients'.
TEST_F(TrackingTest, NoloopSkipsTheClientsOwnWrites) {
    MemcachedServer mc;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nadmin: {metrics: null}\nbackends:\n  mc: {type: memcached, servers: [127.0.0.1:", mc.port(),
                    "]}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: mc}\n"));
    Raw a(lam.port()), b(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON", "NOLOOP"}), "+OK\r\n");
    EXPECT_EQ(a.call({"GET", "k"}), "_\r\n");
    EXPECT_EQ(a.call({"SET", "k", "mine"}), "+OK\r\n");
    EXPECT_TRUE(a.drain().empty());
    EXPECT_EQ(a.call({"GET", "k"}), "$4\r\nmine\r\n");
    EXPECT_EQ(b.call({"SET", "k", "theirs"}), "+OK\r\n");
    EXPECT_EQ(a.drain(), std::vector<std::string>{invalidation("k")});
}

// REDIRECT, the RESP2 way: the invalidations go as messages on __redis__:invalidate to another
// client subscribed to it (on another I/O thread, or the same).
TEST_F(TrackingTest, RedirectSendsMessagesToASubscribedResp2Client) {
    for (int i = 0; i < 2; ++i) {  // two I/O threads: the second pair lands the other way round
        Raw sub(port(), false), reader(port(), false), w(port());
        std::string id = sub.call({"CLIENT", "ID"});
        id = id.substr(1, id.size() - 3);
        EXPECT_EQ(sub.call({"SUBSCRIBE", "__redis__:invalidate"}), "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n");
        ASSERT_EQ(reader.call({"CLIENT", "TRACKING", "ON", "REDIRECT", id}), "+OK\r\n");
        EXPECT_EQ(reader.call({"CLIENT", "GETREDIR"}), cat(":", id, "\r\n"));
        ASSERT_TRUE(feedsUp(port()));
        sub.drain();
        EXPECT_EQ(reader.call({"GET", cat("q", i)}), "$-1\r\n");
        EXPECT_EQ(w.call({"SET", cat("q", i), "1"}), "+OK\r\n");
        EXPECT_EQ(sub.frame(), message(cat("q", i)));
        // The reader itself, in RESP2 and not subscribed, gets nothing.
        EXPECT_TRUE(reader.drain().empty());
        // A reload: the whole cache, as a message with a null.
        EXPECT_EQ(reader.call({"GET", cat("q", i)}), "$1\r\n1\r\n");
        Client admin(port());
        ASSERT_TRUE(sighupAndWait(*lam_, admin));
        EXPECT_EQ(sub.frame(), "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n");
    }
}

// A REDIRECT target that leaves: the tracking client is told, as Redis tells a RESP3 client
// (tracking-redir-broken), and TRACKINGINFO says broken_redirect until tracking is turned on again.
TEST_F(TrackingTest, ARedirectTargetThatLeavesIsReported) {
    Raw a(port());
    std::string id;
    {
        Raw target(port());
        id = target.call({"CLIENT", "ID"});
        id = id.substr(1, id.size() - 3);
        ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON", "REDIRECT", id}), "+OK\r\n");
    }
    EXPECT_EQ(a.frame(), cat(">2\r\n$21\r\ntracking-redir-broken\r\n:", id, "\r\n"));
    EXPECT_EQ(a.call({"CLIENT", "TRACKINGINFO"}),
              cat("%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n:", id,
                  "\r\n$8\r\nprefixes\r\n*0\r\n"));
    EXPECT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    EXPECT_EQ(a.call({"CLIENT", "TRACKINGINFO"}).find("broken_redirect"), std::string::npos);
}

// The laminar-made changes of what a read returns. A reload that moves a route's reads: every
// tracking client gets a null invalidation before the reply of any command laminar answers with
// the new configuration.
TEST(TrackingMigrationTest, AFlipInvalidatesBeforeTheFirstReplyAfterIt) {
    RedisServer old_side, new_side;
    Client(old_side.port()).cmd({"SET", "t:k", "old"});
    Client(new_side.port()).cmd({"SET", "t:k", "new"});
    Laminar lam(twoBackendConfig(old_side.port(), new_side.port(), forcedMigrationRoute("t", "t:*", "old_only")));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    EXPECT_EQ(a.call({"GET", "t:k"}), "$3\r\nold\r\n");

    lam.rewriteConfig(twoBackendConfig(old_side.port(), new_side.port(), forcedMigrationRoute("t", "t:*", "new_only")));
    lam.process().signal(SIGHUP);
    // Polled from the tracking client itself: the first reply that shows the new generation
    // must come after the invalidation.
    bool flushed = false, flipped = false;
    ASSERT_TRUE(waitFor([&] {
        std::vector<std::string> pushes;
        std::string info = a.call({"INFO", "laminar"}, &pushes);
        flushed = flushed || contains(pushes, kNullInvalidation);
        flipped = info.find("config_generation:2") != std::string::npos;
        if (flipped) {
            EXPECT_TRUE(flushed) << "a reply under the new configuration came before the invalidation";
        }
        return flipped;
    }));
    EXPECT_EQ(a.call({"GET", "t:k"}), "$3\r\nnew\r\n");
}

// A timed_rollover cutoff moves the reads of undated keys (`undated: now`) with no reload: each
// tracked one is invalidated when it passes.
TEST(TrackingMigrationTest, ATimedRolloverCutoffInvalidatesTheKeysItMoves) {
    RedisServer before, after;
    Client(before.port()).cmd({"SET", "r:undated", "before"});
    Client(after.port()).cmd({"SET", "r:undated", "after"});
    // Written with std::chrono's civil time, as laminar reads it (not gmtime, which a host's
    // leap-second zone files can shift).
    auto cutoff = std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()) + 8s;
    auto day = std::chrono::floor<std::chrono::days>(cutoff);
    std::chrono::year_month_day ymd{day};
    std::chrono::hh_mm_ss hms{cutoff - day};
    std::string text = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                   static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(), hms.seconds().count());
    Laminar lam(twoBackendConfig(before.port(), after.port(),
                                 route("r", "r:*",
                                       cat("strategy: {type: timed_rollover, cutoff: \"", text,
                                           "\", key_date: \"(\\\\d{4}-\\\\d{2}-\\\\d{2})\", before: old, after: new, undated: now}"))));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    ASSERT_EQ(a.call({"GET", "r:undated"}), "$6\r\nbefore\r\n");
    EXPECT_EQ(a.frame(20s), invalidation("r:undated"));
    EXPECT_GE(std::chrono::system_clock::now(), cutoff);
    EXPECT_EQ(a.call({"GET", "r:undated"}), "$5\r\nafter\r\n");
}

// A condition whose backend state changes moves the route's reads with no reload: every tracking
// client is told to drop everything when laminar notices. (The backend that goes down here is a
// memcached, which has no change feed, so the invalidation can come from the condition alone.)
TEST(TrackingMigrationTest, AConditionThatSwitchesSidesInvalidatesEverything) {
    RedisServer old_side, new_side;
    MemcachedServer mc;
    Client(old_side.port()).cmd({"SET", "c:k", "old"});
    Client(new_side.port()).cmd({"SET", "c:k", "new"});
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 2\nadmin: {metrics: null}\nbackends:\n",
                    "  old: {type: redis, address: 127.0.0.1:", old_side.port(), "}\n",
                    "  new: {type: redis, address: 127.0.0.1:", new_side.port(), "}\n",
                    "  mc: {type: memcached, servers: [127.0.0.1:", mc.port(), "], connect_timeout: 200ms, timeout: 300ms}\n",
                    "routes:\n  - name: c\n    match: {keys: [\"c:*\"]}\n",
                    "    strategy: {type: condition, when: {backend_down: mc}, then: old, else: new}\n",
                    "  - name: mc\n    match: {keys: [\"m:*\"]}\n    strategy: {type: proxy, target: mc}\n",
                    "  - name: default\n    strategy: {type: proxy, target: old}\n"));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    EXPECT_EQ(a.call({"GET", "c:k"}), "$3\r\nnew\r\n");

    mc.kill();
    Raw other(lam.port(), false);
    std::string last;
    ASSERT_TRUE(waitFor([&] {
        other.call({"GET", "m:x"});  // lets laminar find memcached down
        return (last = other.call({"GET", "c:k"})) == "$3\r\nold\r\n";
    })) << last;
    EXPECT_TRUE(contains(a.drain(1s), kNullInvalidation)) << lam.log();
    EXPECT_EQ(a.call({"GET", "c:k"}), "$3\r\nold\r\n");
}

// dual_lookup's warm copy writes the key it copies: the readers are told.
TEST(TrackingMigrationTest, AWarmCopyInvalidatesTheKeyItWrites) {
    RedisServer old_side, new_side;
    Client(old_side.port()).cmd({"SET", "w:k", "v"});
    Laminar lam(twoBackendConfig(old_side.port(), new_side.port(),
                                 route("w", "w:*", "strategy: {type: dual_lookup, first: new, second: old, warm: true}")));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    EXPECT_EQ(a.call({"GET", "w:k"}), "$1\r\nv\r\n");
    EXPECT_TRUE(contains(a.drain(2s), invalidation("w:k")));
    EXPECT_TRUE(waitFor([&] { return show(Client(new_side.port()).cmd({"GET", "w:k"})) == "$v"; }));
}

// An online backfill writes the keys it copies (from old to new here): their readers are told,
// whichever side they read.
TEST(TrackingMigrationTest, ABackfillInvalidatesTheKeysItCopies) {
    RedisServer old_side, new_side;
    {
        Client o(old_side.port());
        for (int i = 0; i < 20; ++i) o.cmd({"SET", cat("b:", i), cat("v", i)});
    }
    Laminar lam(twoBackendConfig(old_side.port(), new_side.port(), migrationRoute("b", "b:*", "dual_write_read_old")));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    EXPECT_EQ(a.call({"GET", "b:7"}), "$2\r\nv7\r\n");
    Client admin(lam.port());
    ASSERT_EQ(show(admin.cmd({"LAMINAR", "BACKFILL", "START", "b"})), "+OK");
    ASSERT_TRUE(waitFor([&] { return show(admin.cmd({"LAMINAR", "BACKFILL", "STATUS", "b"})).find("done") != std::string::npos; }));
    EXPECT_EQ(show(Client(new_side.port()).cmd({"GET", "b:7"})), "$v7");
    auto pushes = a.drain(1s);
    EXPECT_TRUE(contains(pushes, invalidation("b:7")));
    for (const auto& p : pushes) EXPECT_TRUE(p == invalidation("b:7")) << p;  // only what it read
}

// A lost change feed (the backend restarted): what changed meanwhile cannot be known, so every
// tracking client gets a null invalidation, and again once the feed is back.
TEST_F(TrackingTest, ALostChangeFeedInvalidatesEverything) {
    Raw a(port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(port()));
    a.drain();
    a.call({"GET", "k"});
    redis_.kill();
    EXPECT_EQ(a.frame(5s), kNullInvalidation);
    redis_.restart();
    ASSERT_TRUE(feedsUp(port()));
    Client direct(redis_.port());
    EXPECT_EQ(show(direct.cmd({"SET", "k", "after"})), "+OK");
    EXPECT_EQ(a.call({"GET", "k"}), "$5\r\nafter\r\n");
    EXPECT_EQ(show(direct.cmd({"SET", "k", "again"})), "+OK");
    EXPECT_TRUE(contains(a.drain(2s), invalidation("k")));
}

// On a redis_cluster backend each master has its change feed: a change made directly on any
// master is seen.
TEST(TrackingClusterTest, AChangeOnAnyMasterOfAClusterIsSeen) {
    RedisCluster cluster(3, 0);
    ASSERT_TRUE(cluster.waitHealthy());
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 2\nadmin: {metrics: null}\nbackends:\n  cl: {type: redis_cluster, seeds: [",
                    cluster.seeds(1), "]}\nroutes:\n  - name: default\n    strategy: {type: proxy, target: cl}\n"));
    Raw a(lam.port());
    ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
    ASSERT_TRUE(feedsUp(lam.port()));
    a.drain();
    std::set<int> masters;
    for (int i = 0; i < 12; ++i) {
        std::string key = cat("ck:", i);
        EXPECT_EQ(a.call({"GET", key}), "_\r\n");
        int port = cluster.portForKey(key);
        masters.insert(port);
        EXPECT_EQ(show(Client(port).cmd({"SET", key, "direct"})), "+OK");
        EXPECT_TRUE(contains(a.drain(1s), invalidation(key))) << key << " on the master at " << port;
    }
    EXPECT_EQ(masters.size(), 3u) << "the keys did not reach every master";
}

// A client that leaves, or says RESET, stops tracking; INFO laminar counts the clients.
TEST_F(TrackingTest, LeavingOrResetEndsTracking) {
    {
        Raw a(port()), b(port());
        ASSERT_EQ(a.call({"CLIENT", "TRACKING", "ON"}), "+OK\r\n");
        ASSERT_EQ(b.call({"CLIENT", "TRACKING", "ON", "BCAST"}), "+OK\r\n");
        Client info(port());
        EXPECT_EQ(laminarInfoNumber(info, "tracking_clients"), 2);
        EXPECT_EQ(b.call({"RESET"}), "+RESET\r\n");
        EXPECT_EQ(laminarInfoNumber(info, "tracking_clients"), 1);
        EXPECT_EQ(b.call({"CLIENT", "TRACKINGINFO"}), "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n");
    }
    EXPECT_TRUE(waitFor([&] {
        Client info(port());
        return laminarInfoNumber(info, "tracking_clients") == 0;
    }));
}

}  // namespace
}  // namespace laminar::test

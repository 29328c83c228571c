// SPDX-License-Identifier: Apache-2.0
// client.users: named users with per-route read/write rights and an admin right, over AUTH and
// HELLO AUTH, with real clients (hiredis and redis-cli).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

class UsersTest : public ::testing::Test {
protected:
    void SetUp() override {
        lam_ = std::make_unique<Laminar>(cat(
            "listen: 127.0.0.1:{port}\nthreads: 2\nlog: {level: info}\n", "client:\n  password: rootpw\n  users:\n",
            "    app: {password: app-pw, routes: {sessions: write, frozen: none}, access: read}\n",
            "    report: {password: report-pw, access: read}\n", "    ops: {password: ops-pw, access: write, admin: true}\n",
            "backends:\n  old: {type: redis, address: 127.0.0.1:", old_.port(), "}\n  new: {type: redis, address: 127.0.0.1:", new_.port(), "}\n",
            "routes:\n", route("sessions", "session:*", "strategy: new"), route("frozen", "frozen:*", "strategy: old"),
            "  - name: default\n    strategy: {type: proxy, target: old}\n"));
    }
    Reply as(Client& c, const std::string& user, const std::string& pw) { return c.cmd({"AUTH", user, pw}); }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(UsersTest, NothingRunsBeforeAuthAndAWrongPasswordIsRefused) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(as(c, "app", "nope")), "-WRONGPASS invalid username-password pair or user is disabled.");
    EXPECT_EQ(show(as(c, "nobody", "app-pw")), "-WRONGPASS invalid username-password pair or user is disabled.");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "-NOAUTH Authentication required.");
    EXPECT_EQ(show(as(c, "app", "app-pw")), "+OK");
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "(nil)");
    // The log never shows a password.
    EXPECT_EQ(lam_->log().find("app-pw"), std::string::npos);
    EXPECT_EQ(lam_->log().find("rootpw"), std::string::npos);
}

TEST_F(UsersTest, RightsArePerRouteAndAMultiKeyWriteIsRefusedWhole) {
    Client c(lam_->port());
    ASSERT_EQ(show(as(c, "app", "app-pw")), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "session:1", "x"})), "+OK");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "session:1"})), "$x");
    EXPECT_EQ(show(c.cmd({"SET", "other", "x"})), "-NOPERM laminar: user 'app' may not write on route 'default' ('set')");
    EXPECT_EQ(show(c.cmd({"GET", "other"})), "(nil)");
    // A script may write: it needs the write right (EVAL_RO only the read right).
    EXPECT_EQ(show(c.cmd({"EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "other"})),
              "-NOPERM laminar: user 'app' may not write on route 'default' ('eval')");
    // ... and, as a script reaches any key of its backend, the right on every route there: app
    // may not read route 'frozen', which is on old too.
    EXPECT_EQ(show(c.cmd({"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "other"})).rfind(
                  "-NOPERM laminar: user 'app' may not run 'eval_ro': it can reach any key of its backend, and the user may not read on route 'frozen'",
                  0),
              0u);
    EXPECT_EQ(show(c.cmd({"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "session:1"})), "$x") << "every route on new is readable";
    EXPECT_EQ(show(c.cmd({"GET", "frozen:1"})), "-NOPERM laminar: user 'app' may not read on route 'frozen' ('get')");
    // MSET across routes: refused before any part is written.
    auto r = show(c.cmd({"MSET", "session:2", "a", "other:2", "b"}));
    EXPECT_NE(r.find("NOPERM"), std::string::npos) << r;
    EXPECT_EQ(show(Client(new_.port()).cmd({"EXISTS", "session:2"})), ":0");
    // Inside MULTI too.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_NE(show(c.cmd({"SET", "other", "y"})).find("NOPERM"), std::string::npos);
    c.cmd({"DISCARD"});
}

// What reaches keys it does not name cannot go around the per-route rights (each of these read
// or wrote b:* for a user with no right on route b, on the same backend): scripts, SORT with BY
// or GET patterns, keyspace listings, and SELECT of another database.
TEST(UsersReachTest, ScriptsSortPatternsListingsAndSelectNeedRightsOnEveryRouteOfTheBackend) {
    RedisServer redis;
    Laminar lam(cat("listen: 127.0.0.1:{port}\nthreads: 1\nlog: {level: info}\n", "client:\n  users:\n",
                    "    app: {password: app-pw, access: read, routes: {a: write, b: none}}\n",
                    "    full: {password: full-pw, access: write}\n",
                    "backends:\n  old: {type: redis, address: 127.0.0.1:", redis.port(), "}\n", "routes:\n",
                    route("a", "a:*", "strategy: old"), route("b", "b:*", "strategy: old"),
                    "  - name: default\n    strategy: {type: proxy, target: old}\n"));
    Client direct(redis.port());
    direct.cmd({"SET", "b:secret", "s3cret"});
    direct.cmd({"RPUSH", "a:list", "1", "2"});
    direct.cmd({"SET", "b:1", "one"});
    Client app(lam.port()), full(lam.port());
    ASSERT_EQ(show(app.cmd({"AUTH", "app", "app-pw"})), "+OK");
    ASSERT_EQ(show(full.cmd({"AUTH", "full", "full-pw"})), "+OK");
    auto refused = [](const Reply& r) { return show(r).rfind("-NOPERM laminar: user 'app' may not run", 0) == 0; };
    EXPECT_TRUE(refused(app.cmd({"EVAL", "return redis.call('get','b:secret')", "1", "a:1"})));
    EXPECT_TRUE(refused(app.cmd({"EVAL", "return redis.call('set','b:pwned','1')", "1", "a:1"})));
    EXPECT_TRUE(refused(app.cmd({"EVAL_RO", "return redis.call('get','b:secret')", "1", "a:1"})));
    // A script by its digest, and a function, reach keys they do not name just as EVAL does.
    std::string sha = show(direct.cmd({"SCRIPT", "LOAD", "return redis.call('get','b:secret')"})).substr(1);
    EXPECT_TRUE(refused(app.cmd({"EVALSHA", sha, "1", "a:1"})));
    ASSERT_EQ(show(direct.cmd({"FUNCTION", "LOAD", "#!lua name=leak\nredis.register_function{function_name='leak', "
                                "callback=function(keys) return redis.call('get','b:secret') end, flags={'no-writes'}}"})),
              "$leak");
    EXPECT_TRUE(refused(app.cmd({"FCALL", "leak", "1", "a:1"})));
    EXPECT_TRUE(refused(app.cmd({"FCALL_RO", "leak", "1", "a:1"})));
    EXPECT_TRUE(refused(app.cmd({"SORT", "a:list", "BY", "nosort", "GET", "b:*"})));
    EXPECT_TRUE(refused(app.cmd({"SORT_RO", "a:list", "BY", "b:*"})));
    EXPECT_EQ(show(app.cmd({"SORT", "a:list"})), "[$1, $2]") << "a SORT that reaches no other key is its route's";
    EXPECT_EQ(show(app.cmd({"SORT", "a:list", "BY", "nosort", "GET", "#"})), "[$1, $2]");
    for (const auto& argv : std::vector<std::vector<std::string>>{{"KEYS", "*"}, {"SCAN", "0"}, {"RANDOMKEY"}, {"DBSIZE"}})
        EXPECT_TRUE(refused(app.cmd(argv))) << argv[0];
    EXPECT_EQ(show(app.cmd({"SELECT", "1"})).rfind("-NOPERM laminar: user 'app' may not SELECT database 1", 0), 0u);
    EXPECT_EQ(show(app.cmd({"SELECT", "0"})), "+OK") << "its own database";
    EXPECT_EQ(show(direct.cmd({"EXISTS", "b:pwned"})), ":0");
    // A user with the right on every route of the backend runs them all.
    EXPECT_EQ(show(full.cmd({"EVAL", "return redis.call('get','b:secret')", "1", "a:1"})), "$s3cret");
    EXPECT_EQ(show(full.cmd({"SORT", "a:list", "BY", "nosort", "GET", "b:*"})), "[$one, (nil)]");
    EXPECT_EQ(show(full.cmd({"FCALL_RO", "leak", "1", "a:1"})), "$s3cret");
    EXPECT_EQ(show(full.cmd({"DBSIZE"})), ":3");
}

TEST_F(UsersTest, AdminCommandsNeedTheAdminRight) {
    Client report(lam_->port()), ops(lam_->port()), root(lam_->port());
    ASSERT_EQ(show(as(report, "report", "report-pw")), "+OK");
    EXPECT_EQ(show(report.cmd({"LAMINAR", "STATUS"})), "-NOPERM laminar: user 'report' has no admin right (LAMINAR commands)");
    EXPECT_NE(show(report.cmd({"SET", "k", "v"})).find("NOPERM"), std::string::npos);
    EXPECT_EQ(show(report.cmd({"GET", "k"})), "(nil)");
    ASSERT_EQ(show(as(ops, "ops", "ops-pw")), "+OK");
    EXPECT_NE(show(ops.cmd({"LAMINAR", "STATUS"})).find("generation"), std::string::npos);
    // The default user (client.password) keeps every right.
    ASSERT_EQ(show(root.cmd({"AUTH", "rootpw"})), "+OK");
    EXPECT_NE(show(root.cmd({"LAMINAR", "STATUS"})).find("generation"), std::string::npos);
    EXPECT_EQ(show(root.cmd({"SET", "frozen:1", "v"})), "+OK");
}

TEST_F(UsersTest, HelloAuthAndRedisCliAuthenticateNamedUsers) {
    Client c(lam_->port());
    auto hello = c.cmd({"HELLO", "2", "AUTH", "report", "report-pw"});
    EXPECT_FALSE(hello.isError()) << show(hello);
    EXPECT_EQ(show(c.cmd({"GET", "k"})), "(nil)");
    EXPECT_NE(show(c.cmd({"SET", "k", "v"})).find("NOPERM"), std::string::npos);
    auto out = run(cat("redis-cli -p ", lam_->port(), " --user ops --pass ops-pw --no-auth-warning SET k v 2>&1"));
    EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace laminar::test

// SPDX-License-Identifier: Apache-2.0
// client.users: named users with per-route read/write rights and an admin right, over AUTH and
// HELLO AUTH, with real clients (hiredis and redis-cli).
#include <gtest/gtest.h>

#include <string>

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
    EXPECT_EQ(show(c.cmd({"EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "other"})), "(nil)");
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

// SPDX-License-Identifier: Apache-2.0
// Transactions go to the backend of their keys: MULTI is held until the first key, WATCH pins to
// its key's backend, and a transaction whose keys reach two backends is refused whole, as Redis
// Cluster refuses one across slots (CROSSSLOT). Where it makes sense, the same commands are sent
// to a redis-server directly and the replies compared.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
using Script = std::vector<std::vector<std::string>>;

// Route `n` (n:*) is on backend new, the catch-all on old; `d` (d:*) writes new and keeps old in
// step.
std::string config(int old_port, int new_port, const std::string& extra = "") {
    return twoBackendConfig(old_port, new_port,
                            route("n", "n:*", "strategy: {type: proxy, target: new}") +
                                route("d", "d:*", "strategy: {type: dual_write, primary: new, secondary: old}"),
                            2, extra);
}

class TransactionsTest : public ::testing::Test {
protected:
    void SetUp() override { lam_ = std::make_unique<Laminar>(config(old_.port(), new_.port())); }
    static std::vector<std::string> run(Client& c, const Script& script) {
        std::vector<std::string> replies;
        for (const auto& argv : script) replies.push_back(show(c.cmd(argv)));
        return replies;
    }
    // The script through laminar (as the default user) and on a fresh redis-server directly.
    void expectSameAsRedis(const Script& script) {
        RedisServer direct;
        Client through(lam_->port()), plain(direct.port());
        EXPECT_EQ(run(through, script), run(plain, script));
    }

    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(TransactionsTest, ATransactionOnANonCatchAllRouteRunsOnThatRoutesBackend) {
    const Script script = {{"MULTI"}, {"SET", "n:1", "a"}, {"INCR", "n:2"}, {"GET", "n:1"}, {"EXEC"}, {"GET", "n:1"}};
    expectSameAsRedis(script);
    EXPECT_EQ(show(Client(new_.port()).cmd({"MGET", "n:1", "n:2"})), "[$a, $1]");
    EXPECT_EQ(show(Client(old_.port()).cmd({"EXISTS", "n:1", "n:2"})), ":0");
}

TEST_F(TransactionsTest, AWatchOnANonCatchAllRouteMakesTheTransactionConditional) {
    Client c(lam_->port()), other(lam_->port());
    ASSERT_EQ(show(c.cmd({"SET", "n:1", "first"})), "+OK");
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})), "+OK");
    EXPECT_EQ(show(other.cmd({"SET", "n:1", "changed"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "mine"})), "+QUEUED");
    EXPECT_EQ(show(other.cmd({"GET", "n:1"})), "$changed") << "a queued command may not run before EXEC";
    EXPECT_EQ(show(c.cmd({"EXEC"})), "(nil)");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "n:1"})), "$changed");
    // Unchanged, it runs.
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "mine"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK]");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "n:1"})), "$mine");
}

TEST_F(TransactionsTest, ATransactionWhoseKeysReachTwoBackendsIsAbortedWhole) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "x"})), "+QUEUED");
    auto refused = show(c.cmd({"SET", "o:1", "y"}));
    EXPECT_EQ(refused, "-CROSSSLOT laminar: this transaction runs on backend 'new' and 'set' routes to backend 'old'; a transaction's "
                       "keys must be on one backend, so EXEC will discard it");
    EXPECT_EQ(show(c.cmd({"SET", "n:2", "z"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    // The other way round: the first key on the catch-all's backend.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "o:2", "y"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "n:3", "x"})).rfind("-CROSSSLOT laminar: this transaction runs on backend 'old'", 0), 0u);
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    // Through WATCH: pinned to new, MULTI there, a key of old refused.
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:4", "x"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "o:3", "y"})).substr(0, 10), "-CROSSSLOT");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    // Nothing of them ran, and the client is back to normal.
    EXPECT_EQ(show(Client(new_.port()).cmd({"EXISTS", "n:1", "n:2", "n:3", "n:4"})), ":0");
    EXPECT_EQ(show(Client(old_.port()).cmd({"EXISTS", "o:1", "o:2", "o:3"})), ":0");
    EXPECT_EQ(show(c.cmd({"SET", "o:1", "after"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "after"})), "+OK");
}

// Before the transaction has a backend, laminar answers as Redis would: an empty EXEC, PING, ECHO
// and UNWATCH queued and answered in EXEC's array, DISCARD, nested MULTI and WATCH inside MULTI.
TEST_F(TransactionsTest, TransactionsWithoutKeysAnswerAsOnRedis) {
    expectSameAsRedis({{"MULTI"}, {"EXEC"},
                       {"MULTI"}, {"PING"}, {"PING", "m"}, {"ECHO", "hi"}, {"UNWATCH"}, {"EXEC"},
                       {"MULTI"}, {"PING"}, {"DISCARD"}, {"EXEC"}, {"DISCARD"},
                       {"MULTI"}, {"MULTI"}, {"WATCH", "n:1"}, {"PING"}, {"EXEC"},
                       {"MULTI"}, {"PING", "a", "b"}, {"EXEC"},
                       {"MULTI"}, {"NOSUCHCOMMAND"}, {"EXEC"}, {"PING"},
                       {"MULTI"}, {"PING"}, {"RESET"}, {"EXEC"},
                       {"MULTI"}, {"EXEC", "x"}, {"EXEC"},
                       {"WATCH", "n:1"}, {"MULTI"}, {"SET", "n:1", "v"}, {"EXEC", "x"}, {"EXEC"}, {"GET", "n:1"},
                       {"WATCH", "n:1"}, {"EXEC", "x"}, {"EXEC"}});
}

// What was queued before the first key runs in its place, on the key's backend.
TEST_F(TransactionsTest, CommandsQueuedBeforeTheFirstKeyRunInOrder) {
    const Script script = {{"MULTI"}, {"PING"}, {"ECHO", "e"}, {"SET", "n:1", "v"}, {"PING"}, {"GET", "n:1"}, {"EXEC"}};
    expectSameAsRedis(script);
    // Pipelined, with plain commands around it.
    Client c(lam_->port());
    for (const auto& argv : Script{{"SET", "o:1", "before"}, {"MULTI"}, {"PING"}, {"INCR", "n:9"}, {"EXEC"}, {"GET", "n:9"}}) c.append(argv);
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "+QUEUED");
    EXPECT_EQ(show(c.read()), "+QUEUED");
    EXPECT_EQ(show(c.read()), "[+PONG, :1]");
    EXPECT_EQ(show(c.read()), "$1");
}

// SELECT and HELLO go to the catch-all's backend: a transaction they come first in opens there,
// and they are queued in it as on Redis instead of running before it.
TEST_F(TransactionsTest, SelectAndHelloInsideMultiAreQueuedInTheTransaction) {
    expectSameAsRedis({{"MULTI"}, {"SELECT", "1"}, {"SET", "o:1", "v"}, {"EXEC"}, {"GET", "o:1"}, {"SELECT", "0"}, {"GET", "o:1"}});
    EXPECT_EQ(show(Client(old_.port()).cmd({"EXISTS", "o:1"})), ":0");
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HELLO", "2"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "o:2", "v"})), "+QUEUED");
    auto exec = c.cmd({"EXEC"});
    ASSERT_EQ(exec.elements.size(), 2u) << show(exec);
    EXPECT_EQ(show(exec.elements[1]), "+OK");
}

// HELLO inside MULTI is checked and applied at EXEC, as on Redis: its argument errors are its
// elements of EXEC's array (the rest runs), and its SETNAME applies only if the transaction runs,
// before the commands queued after it.
TEST_F(TransactionsTest, HellosErrorsInsideMultiAreElementsOfExecsArray) {
    expectSameAsRedis({{"MULTI"}, {"HELLO", "4"}, {"HELLO", "x"}, {"HELLO", "2", "SETNAME"}, {"SET", "o:1", "v"}, {"EXEC"}, {"GET", "o:1"}});
    expectSameAsRedis({{"MULTI"}, {"HELLO", "2", "SETNAME", "m"}, {"CLIENT", "GETNAME"}, {"DISCARD"}, {"CLIENT", "GETNAME"}});
}

TEST_F(TransactionsTest, HellosSetnameInsideMultiAppliesAtExecBeforeWhatFollowsIt) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HELLO", "2", "SETNAME", "n"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "o:1", "v"})), "+QUEUED");
    auto exec = c.cmd({"EXEC"});
    ASSERT_EQ(exec.elements.size(), 3u) << show(exec);
    EXPECT_NE(show(exec.elements[0]).find("$proto, :2"), std::string::npos) << show(exec);
    EXPECT_EQ(show(exec.elements[1]), "$n");
    EXPECT_EQ(show(exec.elements[2]), "+OK");
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "$n");
}

// HELLO's AUTH inside MULTI changes the user only when the transaction runs; a wrong password is
// its element of EXEC's array, and the rest of the transaction runs as the user it was.
TEST(TransactionsUserTest, HellosAuthInsideMultiAppliesAtExecOnly) {
    RedisServer old_, new_;
    Laminar lam(config(old_.port(), new_.port(), "client:\n  password: rootpw\n  users:\n    app: {password: app-pw, access: none, routes: {n: write}}\n"));
    Client c(lam.port());
    ASSERT_EQ(show(c.cmd({"AUTH", "rootpw"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HELLO", "2", "AUTH", "app", "app-pw"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"DISCARD"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "o:1", "v"})), "+OK") << "a discarded HELLO AUTH left the default user in place";
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HELLO", "2", "AUTH", "app", "wrong"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "o:2", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[-WRONGPASS invalid username-password pair or user is disabled., +OK]");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"HELLO", "2", "AUTH", "app", "app-pw"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "o:3", "v"})), "+QUEUED") << "queued while still the default user";
    auto exec = c.cmd({"EXEC"});
    ASSERT_EQ(exec.elements.size(), 2u) << show(exec);
    EXPECT_EQ(show(exec.elements[1]), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "o:4", "v"})).rfind("-NOPERM", 0), 0u) << "app has no right on the catch-all";
    EXPECT_EQ(show(Client(old_.port()).cmd({"MGET", "o:1", "o:2", "o:3", "o:4"})), "[$v, $v, $v, (nil)]");
}

// Issue 22.2: what laminar answers itself is queued inside MULTI as Redis queues it, and runs at
// EXEC, in its place, after what was queued before it (CLIENT GETNAME sees a SETNAME queued ahead).
// Its errors of arguments are replies in EXEC's array; an arity error aborts the transaction.
TEST_F(TransactionsTest, LocalCommandsInsideMultiAreQueuedAndRunAtExec) {
    expectSameAsRedis({{"MULTI"}, {"CLIENT", "SETNAME", "a"}, {"CLIENT", "GETNAME"}, {"PING"}, {"EXEC"}, {"CLIENT", "GETNAME"},
                       {"MULTI"}, {"CLIENT", "GETNAME"}, {"SET", "n:1", "v"}, {"CLIENT", "SETNAME", "b"}, {"GET", "n:1"}, {"PING"},
                       {"CLIENT", "GETNAME"}, {"EXEC"}, {"CLIENT", "GETNAME"},
                       {"MULTI"}, {"SET", "o:1", "v"}, {"AUTH", "x"}, {"SELECT", "99"},
                       {"SELECT", "x"}, {"GET", "o:1"}, {"EXEC"},
                       {"MULTI"}, {"CLIENT", "SETNAME", "c"}, {"DISCARD"}, {"CLIENT", "GETNAME"},
                       {"MULTI"}, {"CLIENT", "SETNAME", "d"}, {"SET", "n:2", "x"}, {"NOSUCHCOMMAND"}, {"EXEC"}, {"CLIENT", "GETNAME"},
                       {"EXISTS", "n:2"},
                       {"MULTI"}, {"CLIENT", "SETNAME", "e"}, {"CLIENT", "SETNAME", "f", "g"}, {"EXEC"}, {"CLIENT", "GETNAME"}});
}

// A transaction a WATCHed key's change discards runs none of laminar's part either.
TEST_F(TransactionsTest, AFailedWatchRunsNoneOfTheLocalCommands) {
    expectSameAsRedis({{"WATCH", "n:1"}, {"SET", "n:1", "changed"}, {"MULTI"}, {"CLIENT", "SETNAME", "w"}, {"SET", "n:1", "mine"},
                       {"EXEC"}, {"CLIENT", "GETNAME"}, {"GET", "n:1"},
                       {"WATCH", "n:1"}, {"MULTI"}, {"CLIENT", "SETNAME", "w"}, {"INCR", "n:2"}, {"UNWATCH"}, {"EXEC"},
                       {"CLIENT", "GETNAME"}});
}

// Pipelined: what follows EXEC sees what laminar ran in it.
TEST_F(TransactionsTest, CommandsAfterExecSeeWhatItsLocalCommandsDid) {
    Client c(lam_->port());
    for (const auto& argv : Script{{"MULTI"}, {"CLIENT", "SETNAME", "p"}, {"SET", "n:5", "1"}, {"EXEC"}, {"CLIENT", "GETNAME"}})
        c.append(argv);
    EXPECT_EQ(show(c.read()), "+OK");
    EXPECT_EQ(show(c.read()), "+QUEUED");
    EXPECT_EQ(show(c.read()), "+QUEUED");
    EXPECT_EQ(show(c.read()), "[+OK, +OK]");
    EXPECT_EQ(show(c.read()), "$p");
}

// CLIENT REPLY inside MULTI runs at EXEC and applies from the command after it; EXEC's own reply
// is sent, with +OK as its element. (Redis answers nothing in that place, leaving the array one
// element short: not something to copy.)
TEST_F(TransactionsTest, ClientReplyInsideMultiAppliesAfterExec) {
    Client c(lam_->port());
    std::string script;
    for (const auto& argv : Script{{"MULTI"}, {"CLIENT", "REPLY", "SKIP"}, {"ECHO", "a"}, {"EXEC"}, {"ECHO", "b"}, {"ECHO", "c"},
                                   {"MULTI"}, {"SET", "n:1", "v"}, {"CLIENT", "REPLY", "OFF"}, {"EXEC"}, {"PING"},
                                   {"CLIENT", "REPLY", "ON"}, {"ECHO", "z"}})
        script += respCommand(argv);
    c.sendRaw(script);
    EXPECT_EQ(readRawFrames(c, 11),
              "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\na\r\n$1\r\nc\r\n"
              "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n+OK\r\n+OK\r\n$1\r\nz\r\n");
}

// laminar's own commands (no Redis to compare with): CLIENT ID, INFO laminar, LAMINAR STATUS are
// queued and answered in EXEC's array; INFO there has laminar's sections as outside MULTI; LAMINAR
// RELOAD, which answers later, is refused as Redis refuses a no_multi command: the transaction is
// then discarded. (INFO has no key: it goes to the catch-all's backend,
// so this transaction's key is one of old's.)
TEST_F(TransactionsTest, LaminarsOwnCommandsInsideMultiAreAnsweredInExecsArray) {
    Client c(lam_->port());
    long long id = c.cmd({"CLIENT", "ID"}).integer;
    for (const auto& argv : Script{{"MULTI"}, {"CLIENT", "ID"}, {"INFO", "laminar"}, {"LAMINAR", "STATUS"}, {"SET", "o:1", "v"}, {"INFO"}})
        EXPECT_EQ(c.cmd(argv).str, argv[0] == "MULTI" ? "OK" : "QUEUED") << argv[0];
    auto exec = c.cmd({"EXEC"});
    ASSERT_EQ(exec.elements.size(), 5u) << show(exec);
    EXPECT_EQ(exec.elements[0].integer, id);
    EXPECT_EQ(exec.elements[1].str.rfind("# Laminar\r\n", 0), 0u) << exec.elements[1].str;
    EXPECT_EQ(exec.elements[2].type, REDIS_REPLY_STRING);
    EXPECT_FALSE(exec.elements[2].str.empty());
    EXPECT_EQ(show(exec.elements[3]), "+OK");
    EXPECT_EQ(exec.elements[4].str.rfind("# Laminar\r\n", 0), 0u) << exec.elements[4].str.substr(0, 200);
    EXPECT_NE(exec.elements[4].str.find("redis_version:"), std::string::npos);
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:2", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"LAMINAR", "RELOAD"})), "-ERR Command not allowed inside a transaction");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(show(Client(new_.port()).cmd({"EXISTS", "n:2"})), ":0");
}

// Issue 22 (c): SAVE, SHUTDOWN, SYNC and PSYNC (Redis's no_multi commands) get Redis's refusal
// inside MULTI, and the transaction is discarded, nothing of it run.
TEST_F(TransactionsTest, NoMultiCommandsInsideMultiAnswerAsOnRedis) {
    expectSameAsRedis({{"MULTI"}, {"SAVE"}, {"PING"}, {"EXEC"},
                       {"MULTI"}, {"SET", "n:1", "v"}, {"SHUTDOWN", "NOSAVE"}, {"EXEC"}, {"EXISTS", "n:1"},
                       {"MULTI"}, {"SHUTDOWN"}, {"EXEC"},
                       {"MULTI"}, {"SYNC"}, {"PSYNC", "?", "-1"}, {"EXEC"},
                       {"MULTI"}, {"SAVE", "x"}, {"EXEC"}});
}

// Issue 22 (b): a client pinned to the catch-all's backend by SELECT runs its transactions there;
// a key of another backend is refused as for any transaction (CROSSSLOT, EXEC discards it), a
// SELECT inside the transaction takes effect at EXEC, and back in the backend's db the client is
// unpinned.
TEST_F(TransactionsTest, AClientPinnedBySelectRunsItsTransactionsOnTheCatchAllsBackend) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"SELECT", "1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "o:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "x"})).rfind("-CROSSSLOT laminar: this transaction runs on backend 'old' and 'set' routes to backend 'new'", 0),
              0u);
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})).rfind("-ERR laminar: this connection is pinned to backend 'old'", 0), 0u);
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "o:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"CLIENT", "SETNAME", "s"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SELECT", "0"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"GET", "o:1"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK, +OK, +OK, (nil)]");
    Client old(old_.port());
    EXPECT_EQ(show(old.cmd({"SELECT", "1"})), "+OK");
    EXPECT_EQ(show(old.cmd({"GET", "o:1"})), "$v");
    // Back in db 0: unpinned, keys of every backend work again, with their own transactions.
    EXPECT_EQ(show(c.cmd({"GET", "o:1"})), "(nil)");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "x"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "n:2"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[:1]");
    EXPECT_EQ(show(c.cmd({"CLIENT", "GETNAME"})), "$s");
}

// The same for a RESP3 client (HELLO 3 no longer pins): its transaction runs on the backend of its
// first key, in RESP3, with laminar's queued commands in EXEC's array; a SELECT queued in it pins
// the client.
TEST_F(TransactionsTest, AResp3ClientsTransactionsRunOnTheBackendOfTheirKeys) {
    Client c(lam_->port());
    c.sendRaw(respCommand({"HELLO", "3"}));
    ASSERT_EQ(readRawFrames(c, 1).substr(0, 1), "%");
    std::string script;
    for (const auto& argv : Script{{"MULTI"}, {"CLIENT", "SETNAME", "r"}, {"GET", "o:9"}, {"SET", "n:1", "x"}, {"EXEC"},
                                   {"CLIENT", "SETNAME", "q"}, {"MULTI"}, {"CLIENT", "GETNAME"}, {"GET", "o:9"}, {"SELECT", "2"},
                                   {"EXEC"}, {"SET", "n:1", "x"}, {"SELECT", "0"}})
        script += respCommand(argv);
    c.sendRaw(script);
    auto replies = readRawFrames(c, 13);
    EXPECT_EQ(replies,
              "+OK\r\n+QUEUED\r\n+QUEUED\r\n"
              "-CROSSSLOT laminar: this transaction runs on backend 'old' and 'set' routes to backend 'new'; a transaction's keys must "
              "be on one backend, so EXEC will discard it\r\n"
              "-EXECABORT Transaction discarded because of previous errors.\r\n"
              "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n$1\r\nq\r\n_\r\n+OK\r\n"
              "-ERR laminar: this connection is pinned to backend 'old' (MULTI, WATCH, SELECT or pub/sub) but 'set' routes "
              "to 'new'\r\n+OK\r\n");
}

// CLIENT UNBLOCK answers from the blocked client's connection, later: inside MULTI it is refused,
// and the transaction discarded, rather than run outside it. (P|S)SUBSCRIBE too (see the test).
TEST(TransactionsAdminTest, ClientUnblockAndSubscribeInsideMultiAreRefusedAndAbortTheTransaction) {
    RedisServer old_, new_;
    Laminar lam(config(old_.port(), new_.port(), "client: {allow_admin: true}\n"));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"CLIENT", "UNBLOCK", "1"})), "-ERR laminar: 'client|unblock' is not supported inside MULTI");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(show(Client(new_.port()).cmd({"EXISTS", "n:1"})), ":0");
    // So is a subscription, which EXEC would start on a connection laminar takes for a plain one.
    for (std::string sub : {"subscribe", "psubscribe", "ssubscribe"}) {
        EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
        EXPECT_EQ(show(c.cmd({"SET", "n:1", "v"})), "+QUEUED");
        EXPECT_EQ(show(c.cmd({sub, "ch"})), "-ERR laminar: '" + sub + "' is not supported inside MULTI");
        EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
        EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
    }
    // CLIENT LIST (an admin command, let through here) is queued and run at EXEC, its error in the array.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"CLIENT", "LIST", "TYPE", "bogus"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[-ERR Unknown client type 'bogus']");
}

TEST(TransactionsUserTest, AUserWithRightsOnlyOnANonCatchAllRouteCanUseMulti) {
    RedisServer old_, new_;
    Laminar lam(config(old_.port(), new_.port(), "client:\n  users:\n    app: {password: app-pw, access: none, routes: {n: write}}\n"));
    Client c(lam.port());
    ASSERT_EQ(show(c.cmd({"AUTH", "app", "app-pw"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK]");
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"INCR", "n:2"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[:1]");
    EXPECT_EQ(show(c.cmd({"WATCH", "n:1"})), "+OK");
    EXPECT_EQ(show(c.cmd({"UNWATCH"})), "+OK");
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"DISCARD"})), "+OK");
    // Its rights still hold inside the transaction.
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "n:3", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"SET", "other", "v"})).rfind("-NOPERM", 0), 0u);
    EXPECT_EQ(show(c.cmd({"EXEC"})), "-EXECABORT Transaction discarded because of previous errors.");
    EXPECT_EQ(show(Client(new_.port()).cmd({"MGET", "n:1", "n:2", "n:3"})), "[$v, $1, (nil)]");
}

// dual_write's second side catches up on what a transaction wrote, when the transaction runs on
// the route's primary (new here, not the catch-all's backend).
TEST_F(TransactionsTest, AWriteInsideMultiOnADualWriteRouteReachesTheSecondary) {
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "d:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"HSET", "d:h", "f", "x"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK, :1]");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "d:1"})), "$v");
    Client old(old_.port());
    EXPECT_TRUE(waitFor([&] { return show(old.cmd({"GET", "d:1"})) == "$v" && show(old.cmd({"HGET", "d:h", "f"})) == "$x"; }, 5s))
        << show(old.cmd({"GET", "d:1"}));
}

// A migration in dual_write_read_new writes new first: a transaction on its keys runs there and
// old catches up on what it wrote.
TEST(TransactionsMigrationTest, AWriteInsideMultiDuringAMigrationReachesTheOtherSide) {
    RedisServer old_, new_;
    Laminar lam(twoBackendConfig(old_.port(), new_.port(), migrationRoute("m", "m:*", "dual_write_read_new")));
    Client c(lam.port());
    EXPECT_EQ(show(c.cmd({"MULTI"})), "+OK");
    EXPECT_EQ(show(c.cmd({"SET", "m:1", "v"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"RPUSH", "m:l", "a", "b"})), "+QUEUED");
    EXPECT_EQ(show(c.cmd({"EXEC"})), "[+OK, :2]");
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "m:1"})), "$v");
    Client old(old_.port());
    EXPECT_TRUE(waitFor([&] { return show(old.cmd({"GET", "m:1"})) == "$v" && show(old.cmd({"LRANGE", "m:l", "0", "-1"})) == "[$a, $b]"; }, 5s))
        << show(old.cmd({"GET", "m:1"}));
}

}  // namespace
}  // namespace laminar::test

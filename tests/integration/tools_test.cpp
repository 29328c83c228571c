// SPDX-License-Identifier: Apache-2.0
// `laminar copy` and `laminar verify` against real redis-servers: every type with its TTL, the
// talk's "double copy" (skip-existing never clobbers fresher data), resuming from a checkpoint
// after an interruption, and verify's counts, examples and exit codes.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ToolsTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / cat("laminar-tools-", ::getpid(), "-", old_.port());
        fs::create_directories(dir_);
        config_ = (dir_ / "laminar.yaml").string();
        std::ofstream(config_) << cat("backends:\n  old: {address: 127.0.0.1:", old_.port(), "}\n  new: {address: 127.0.0.1:", new_.port(),
                                      "}\nroutes:\n  - name: default\n    strategy: old\n");
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs `laminar ARGS -c CONFIG` and returns stdout+stderr; `status` gets the exit code.
    std::string laminar(const std::string& args, int& status) {
        return run(cat("'", LAMINAR_BINARY, "' ", args, " -c '", config_, "' 2>&1"), &status);
    }
    void populate(int n) {
        Client c(old_.port());
        for (int i = 0; i < n; ++i) {
            auto k = std::to_string(i);
            c.append({"SET", "str:" + k, "v" + k, "EX", "1000"});
            c.append({"HSET", "hash:" + k, "f", k, "g", "x"});
            c.append({"RPUSH", "list:" + k, "a", k});
            c.append({"SADD", "set:" + k, "a", k});
            c.append({"ZADD", "zset:" + k, "1", "a", "2", k});
            c.append({"XADD", "stream:" + k, "1-1", "f", k});
        }
        for (int i = 0; i < 6 * n; ++i) c.read();
    }

    RedisServer old_, new_;
    fs::path dir_;
    std::string config_;
};

TEST_F(ToolsTest, CopiesEveryTypeWithItsTtlAndVerifyAgrees) {
    populate(200);
    int status = -1;
    auto out = laminar("copy --from old --to new", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("copied 1200, skipped 0"), std::string::npos) << out;
    auto d = diffAll(old_.port(), new_.port());
    EXPECT_TRUE(d.empty()) << firstLines(d);
    Client n(new_.port());
    EXPECT_GT(pttl(n, "str:7"), 990'000);

    out = laminar("verify --a old --b new", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("1200 keys compared: 1200 equal, 0 differ, 0 missing on new, 0 only on new"), std::string::npos) << out;
}

TEST_F(ToolsTest, SkipExistingNeverOverwritesAndOverwriteDoes) {
    populate(20);
    Client n(new_.port());
    n.cmd({"SET", "str:3", "fresher, written through the proxy"});
    int status = -1;
    auto out = laminar("copy --from old --to new --match 'str:*'", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("copied 19, skipped 1"), std::string::npos) << out;
    EXPECT_EQ(show(n.cmd({"GET", "str:3"})), "$fresher, written through the proxy");
    EXPECT_EQ(show(n.cmd({"EXISTS", "hash:3"})), ":0") << "--match copied keys outside it";

    out = laminar("verify --a old --b new --match 'str:*' --examples 5", status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("1 differ"), std::string::npos) << out;
    EXPECT_NE(out.find("str:3: old has string ['v3']"), std::string::npos) << out;

    out = laminar("copy --from old --to new --match 'str:*' --mode overwrite", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(show(n.cmd({"GET", "str:3"})), "$v3");
}

TEST_F(ToolsTest, ResumesFromItsCheckpointAfterAnInterruption) {
    populate(300);
    auto checkpoint = (dir_ / "copy.ckpt").string();
    Process copy({LAMINAR_BINARY, "copy", "-c", config_, "--from", "old", "--to", "new", "--rate", "600", "--checkpoint", checkpoint},
                 (dir_ / "copy.log").string());
    ASSERT_TRUE(waitFor([&] { return fs::exists(checkpoint); }, 10s));
    copy.signal(SIGINT);
    EXPECT_EQ(copy.wait(10s), 130);
    size_t partial = allKeys(new_.port()).size();
    EXPECT_GT(partial, 0u);
    EXPECT_LT(partial, 1800u);

    int status = -1;
    auto out = laminar(cat("copy --from old --to new --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
    auto d = diffAll(old_.port(), new_.port());
    EXPECT_TRUE(d.empty()) << firstLines(d);
    out = laminar(cat("copy --from old --to new --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("already complete"), std::string::npos) << out;
    out = laminar(cat("copy --from old --to new --match 'x*' --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("remove it to start over"), std::string::npos) << out;
}

// --delete-extra, the offline reconcile: the target's keys matching --match that the source does
// not have are deleted, so verify finds both sides equal; keys outside --match are left alone.
TEST_F(ToolsTest, DeleteExtraRemovesTheTargetsMatchingKeysTheSourceLacksAndNothingElse) {
    populate(30);
    {
        Client n(new_.port());
        for (int i = 0; i < 20; ++i) n.cmd({"SET", cat("str:deleted-on-old:", i), "stale"});
        n.cmd({"HSET", "str:deleted-hash", "f", "v"});
        n.cmd({"SET", "str:expiring", "stale", "EX", "1000"});
        n.cmd({"SET", "other:1", "not matched"});
        n.cmd({"SET", "hash:only-on-new", "not matched either"});
    }
    // Without --delete-extra the stale keys stay, and verify says so.
    int status = -1;
    auto out = laminar("copy --from old --to new --match 'str:*'", status);
    EXPECT_EQ(status, 0) << out;
    out = laminar("verify --a old --b new --match 'str:*'", status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("22 only on new"), std::string::npos) << out;

    out = laminar("copy --from old --to new --match 'str:*' --delete-extra", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("copied 0, skipped 30"), std::string::npos) << out;
    EXPECT_NE(out.find("deleted 22 (on new, not on old; "), std::string::npos) << out;
    EXPECT_TRUE(allKeys(new_.port(), "str:deleted*").empty());
    EXPECT_TRUE(allKeys(new_.port(), "str:expiring").empty());
    Client n(new_.port());
    EXPECT_EQ(show(n.cmd({"GET", "other:1"})), "$not matched");
    EXPECT_EQ(show(n.cmd({"GET", "hash:only-on-new"})), "$not matched either");
    EXPECT_EQ(show(n.cmd({"GET", "str:7"})), "$v7") << "a key both sides have was deleted";
    EXPECT_EQ(allKeys(new_.port()).size(), 32u) << "30 keys of old's, other:1 and hash:only-on-new";

    out = laminar("verify --a old --b new --match 'str:*'", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("30 keys compared: 30 equal, 0 differ, 0 missing on new, 0 only on new"), std::string::npos) << out;
    out = laminar("copy --from old --to new --match 'str:*' --delete-extra", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("deleted 0 "), std::string::npos) << out;
}

// Interrupted while deleting, it resumes the target's scan from its checkpoint; a checkpoint
// keeps whether it was a --delete-extra run.
TEST_F(ToolsTest, DeleteExtraResumesItsPassOverTheTargetFromTheCheckpoint) {
    populate(10);
    {
        Client n(new_.port());
        for (int i = 0; i < 3000; ++i) n.append({"SET", cat("str:stale:", i), "x"});
        for (int i = 0; i < 3000; ++i) n.read();
    }
    auto checkpoint = (dir_ / "copy.ckpt").string();
    Process copy({LAMINAR_BINARY, "copy", "-c", config_, "--from", "old", "--to", "new", "--match", "str:*", "--delete-extra", "--rate", "500",
                  "--checkpoint", checkpoint},
                 (dir_ / "copy.log").string());
    auto deleting = [&] {
        std::ifstream in(checkpoint);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return text.find("deleting=1") != std::string::npos && text.find("\ndeleted=0\n") == std::string::npos;
    };
    ASSERT_TRUE(waitFor(deleting, 20s));
    copy.signal(SIGINT);
    EXPECT_EQ(copy.wait(10s), 130);
    size_t left = allKeys(new_.port(), "str:stale:*").size();
    EXPECT_GT(left, 0u);
    EXPECT_LT(left, 3000u);

    int status = -1;
    auto out = laminar(cat("copy --from old --to new --match 'str:*' --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--delete-extra; remove it to start over"), std::string::npos) << out;
    out = laminar(cat("copy --from old --to new --match 'str:*' --delete-extra --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("deleting extra keys from cursor"), std::string::npos) << out;
    EXPECT_NE(out.find("deleted 3000 "), std::string::npos) << out;
    EXPECT_TRUE(allKeys(new_.port(), "str:stale:*").empty());
    out = laminar("verify --a old --b new --match 'str:*'", status);
    EXPECT_EQ(status, 0) << out;
    out = laminar(cat("copy --from old --to new --match 'str:*' --delete-extra --checkpoint '", checkpoint, "'"), status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("already complete"), std::string::npos) << out;
    EXPECT_NE(out.find("deleted 3000"), std::string::npos) << out;
}

TEST_F(ToolsTest, BadArgumentsAndDeadBackendsGiveMeaningfulExitCodes) {
    int status = -1;
    auto out = laminar("copy --from old --to nope", status);
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("have: old new"), std::string::npos) << out;
    new_.kill();
    out = laminar("copy --from old --to new", status);
    EXPECT_EQ(status, 3) << out;
    EXPECT_NE(out.find("backend 'new'"), std::string::npos) << out;
    out = laminar("verify --a old --b new", status);
    EXPECT_EQ(status, 3) << out;
}

}  // namespace
}  // namespace laminar::test

namespace laminar::test {
namespace {

// Redis <-> memcached, strings: a memcached source is listed with lru_crawler metadump, a TTL
// travels (to whole seconds), and a hash cannot go into memcached: counted, with its reason.
TEST(ToolsMemcached, CopiesStringsBothWaysAndNamesWhatCannotGo) {
    RedisServer redis;
    MemcachedServer mc;
    auto dir = std::filesystem::temp_directory_path() / cat("laminar-tools-mc-", ::getpid(), "-", mc.port());
    std::filesystem::create_directories(dir);
    auto config = (dir / "laminar.yaml").string();
    std::ofstream(config) << cat("backends:\n  r: {address: 127.0.0.1:", redis.port(), "}\n  mc: {type: memcached, servers: [127.0.0.1:", mc.port(),
                                 "]}\nroutes:\n  - name: default\n    strategy: r\n");
    auto laminar = [&](const std::string& args, int& status) { return run(cat("'", LAMINAR_BINARY, "' ", args, " -c '", config, "' 2>&1"), &status); };
    {
        MemcachedClient m(mc.port());
        for (int i = 0; i < 300; ++i) ASSERT_TRUE(m.set(cat("page:", i), cat("<html>", i), i % 2 ? 1000 : 0));
    }
    int status = -1;
    auto out = laminar("copy --from mc --to r --match 'page:*'", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("copied 300, skipped 0"), std::string::npos) << out;
    Client r(redis.port());
    EXPECT_EQ(show(r.cmd({"GET", "page:7"})), "$<html>7");
    EXPECT_NEAR(static_cast<double>(pttl(r, "page:7")), 1000'000.0, 3000.0);
    EXPECT_EQ(pttl(r, "page:8"), -1);
    out = laminar("verify --a mc --b r", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("300 keys compared: 300 equal"), std::string::npos) << out;

    r.cmd({"SET", "user:1", "ada", "EX", "500"});
    r.cmd({"HSET", "user:2", "name", "bob"});
    out = laminar("copy --from r --to mc --match 'user:*'", status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("copied 1, skipped 0"), std::string::npos) << out;
    EXPECT_NE(out.find("memcached stores strings only, this is a hash value"), std::string::npos) << out;
    MemcachedClient m(mc.port());
    EXPECT_EQ(m.get("user:1").value_or("(miss)"), "ada");
    EXPECT_NEAR(static_cast<double>(m.ttl("user:1")), 500.0, 3.0);
    std::filesystem::remove_all(dir);
}

// --delete-extra needs to list the target's keys: a memcached target is refused, naming why; a
// memcached source is fine (it is only asked EXISTS).
TEST(ToolsMemcached, DeleteExtraRefusesAMemcachedTargetAndWorksFromAMemcachedSource) {
    RedisServer redis;
    MemcachedServer mc;
    auto dir = std::filesystem::temp_directory_path() / cat("laminar-tools-mc-", ::getpid(), "-", mc.port());
    std::filesystem::create_directories(dir);
    auto config = (dir / "laminar.yaml").string();
    std::ofstream(config) << cat("backends:\n  r: {address: 127.0.0.1:", redis.port(), "}\n  mc: {type: memcached, servers: [127.0.0.1:", mc.port(),
                                 "]}\nroutes:\n  - name: default\n    strategy: r\n");
    auto laminar = [&](const std::string& args, int& status) { return run(cat("'", LAMINAR_BINARY, "' ", args, " -c '", config, "' 2>&1"), &status); };
    Client r(redis.port());
    r.cmd({"SET", "page:stale", "gone from memcached"});
    r.cmd({"SET", "user:1", "not matched"});
    {
        MemcachedClient m(mc.port());
        for (int i = 0; i < 10; ++i) ASSERT_TRUE(m.set(cat("page:", i), cat("<html>", i), 0));
    }
    int status = -1;
    auto out = laminar("copy --from r --to mc --delete-extra", status);
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--delete-extra cannot run with a memcached target ('mc')"), std::string::npos) << out;
    EXPECT_EQ(MemcachedClient(mc.port()).get("page:3").value_or("(miss)"), "<html>3") << "a refused run changed the target";

    out = laminar("copy --from mc --to r --match 'page:*' --delete-extra", status);
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("copied 10, skipped 0"), std::string::npos) << out;
    EXPECT_NE(out.find("deleted 1 "), std::string::npos) << out;
    EXPECT_EQ(show(r.cmd({"EXISTS", "page:stale"})), ":0");
    EXPECT_EQ(show(r.cmd({"GET", "user:1"})), "$not matched");
    out = laminar("verify --a mc --b r --match 'page:*'", status);
    EXPECT_EQ(status, 0) << out;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace laminar::test

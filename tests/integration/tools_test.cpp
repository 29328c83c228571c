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

}  // namespace
}  // namespace laminar::test

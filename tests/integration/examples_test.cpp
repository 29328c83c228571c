// SPDX-License-Identifier: Apache-2.0
// The shipped configurations: every config/examples/*.yaml and config/laminar.yaml passes
// `laminar --check-config` (the directory is read when the test runs, so a new example is covered
// without touching this file), starts against real backends, and the strategy examples do what
// their comments say.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/more.h"
#include "support/policy_support.h"

namespace laminar::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kSource = LAMINAR_SOURCE_DIR;

std::vector<fs::path> exampleFiles() {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(kSource / "config" / "examples", ec))
        if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string readFile(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
    return s;
}

// `laminar --check-config FILE`: exit status and everything it printed.
std::string checkConfig(const fs::path& file, int& status) {
    return run(cat("'", LAMINAR_BINARY, "' --check-config '", file.string(), "' 2>&1"), &status);
}

// An example with its documented addresses (laminar 6380, old 6379, new 6381) moved to the
// test's ports.
std::string onTestPorts(const std::string& yaml, int old_port, int new_port) {
    auto s = replaceAll(yaml, "127.0.0.1:6380", "127.0.0.1:{port}");
    s = replaceAll(s, "127.0.0.1:6379", cat("127.0.0.1:", old_port));
    s = replaceAll(s, "127.0.0.1:9121", cat("127.0.0.1:", freePort()));  // the metrics endpoint, when an example has one
    s = replaceAll(s, "/var/lib/laminar/queue", tempDir() + "/queue");       // the write queue, when an example has one
    s = replaceAll(s, "/var/lib/laminar/state", tempDir() + "/state");       // the migration state, when an example has one
    return replaceAll(s, "127.0.0.1:6381", cat("127.0.0.1:", new_port));
}

TEST(ExamplesCheckConfig, EveryExampleAndTheDefaultConfigPassCheckConfig) {
    auto files = exampleFiles();
    files.push_back(kSource / "config" / "laminar.yaml");
    ASSERT_GE(files.size(), 6u) << "config/examples/ is missing or empty";
    for (const auto& f : files) {
        int status = -1;
        auto out = checkConfig(f, status);
        EXPECT_EQ(status, 0) << f.filename() << " fails --check-config:\n" << out;
        if (status == 0) {
            EXPECT_NE(out.find(": ok (hash "), std::string::npos) << f.filename() << ": " << out;
        }
    }
}

TEST(ExamplesCheckConfig, TheStrategyExamplesAreThere) {
    for (const char* name : {"proxy", "read_only", "dual_lookup", "dual_write", "migration", "queued_write"}) {
        auto p = kSource / "config" / "examples" / (std::string(name) + ".yaml");
        EXPECT_TRUE(fs::exists(p)) << p;
        auto text = readFile(p);
        EXPECT_NE(text.find("listen: 127.0.0.1:6380"), std::string::npos) << p;
        EXPECT_NE(text.find("address: 127.0.0.1:6379"), std::string::npos) << p;
        EXPECT_NE(text.find("address: 127.0.0.1:6381"), std::string::npos) << p;
        auto catch_all = text.rfind("  - name: default");
        ASSERT_NE(catch_all, std::string::npos) << p << " has no `- name: default` catch-all";
        EXPECT_NE(text.find("strategy: {type: proxy, target: old}", catch_all), std::string::npos) << p;
        EXPECT_EQ(text.find("match:", catch_all), std::string::npos) << p << ": the catch-all must be last and have no match";
        EXPECT_NE(text.find("Reverse"), std::string::npos) << p << " does not say how to reverse it";
    }
}

// The iteration above would pass on nothing at all if --check-config accepted anything.
TEST(ExamplesCheckConfig, ABrokenCopyOfAnExampleIsRejectedWithFileAndLine) {
    auto text = readFile(kSource / "config" / "examples" / "dual_write.yaml");
    ASSERT_FALSE(text.empty());
    auto bad = replaceAll(text, "secondary: new", "secondary: nope");
    ASSERT_NE(bad, text);
    auto dir = tempDir();
    auto path = fs::path(dir) / "broken.yaml";
    std::ofstream(path) << bad;
    int status = 0;
    auto out = checkConfig(path, status);
    EXPECT_NE(status, 0) << out;
    EXPECT_NE(out.find("broken.yaml:"), std::string::npos) << out;
    EXPECT_NE(out.find("unknown backend 'nope'"), std::string::npos) << out;
}

// Every example (whoever added it) starts against real backends and serves the catch-all.
TEST(ExamplesRun, EveryExampleStartsAndServesTraffic) {
    RedisServer old_redis, new_redis;
    for (const auto& f : exampleFiles()) {
        SCOPED_TRACE(f.filename().string());
        auto yaml = onTestPorts(readFile(f), old_redis.port(), new_redis.port());
        if (yaml.find("{port}") == std::string::npos) continue;  // not on the documented addresses
        int status = -1;
        checkConfig(f, status);
        if (status != 0) {
            ADD_FAILURE() << f.filename() << " does not pass --check-config (reported above)";
            continue;
        }
        std::unique_ptr<Laminar> lam;
        try {
            lam = std::make_unique<Laminar>(yaml);
        } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
            continue;
        }
        Client c(lam->port());
        ASSERT_TRUE(c.connected()) << c.error();
        EXPECT_EQ(show(c.cmd({"PING"})), "+PONG");
        auto key = "examples-probe:" + f.stem().string();
        EXPECT_EQ(show(c.cmd({"SET", key, "v"})), "+OK");
        EXPECT_EQ(show(c.cmd({"GET", key})), "$v");
        Client o(old_redis.port());
        EXPECT_EQ(show(o.cmd({"GET", key})), "$v") << "the catch-all should proxy to old";
        EXPECT_NE(laminarStatus(c).find("routes (first match wins):"), std::string::npos);
    }
}

// ------------------------------------------------------------------ each strategy example does what it says

class ExamplesBehave : public ::testing::Test {
protected:
    void start(const char* name) {
        lam_ = std::make_unique<Laminar>(onTestPorts(readFile(kSource / "config" / "examples" / (std::string(name) + ".yaml")),
                                                     old_.port(), new_.port()));
    }
    RedisServer old_, new_;
    std::unique_ptr<Laminar> lam_;
};

TEST_F(ExamplesBehave, ProxySendsCartKeysToOld) {
    start("proxy");
    Client c(lam_->port()), o(old_.port()), n(new_.port());
    EXPECT_EQ(show(c.cmd({"SET", "cart:1", "x"})), "+OK");
    EXPECT_EQ(show(o.cmd({"GET", "cart:1"})), "$x");
    EXPECT_EQ(show(n.cmd({"EXISTS", "cart:1"})), ":0");
    EXPECT_EQ(laminarRoute(c, {"GET", "cart:42"})["route"], "carts");
}

TEST_F(ExamplesBehave, ReadOnlyRefusesCatalogWrites) {
    start("read_only");
    Client c(lam_->port()), o(old_.port());
    o.cmd({"SET", "catalog:1", "frozen"});
    EXPECT_EQ(show(c.cmd({"GET", "catalog:1"})), "$frozen");
    EXPECT_EQ(show(c.cmd({"SET", "catalog:1", "x"})), "-READONLY laminar: route 'catalog' is read-only");
    EXPECT_EQ(show(o.cmd({"GET", "catalog:1"})), "$frozen");
}

TEST_F(ExamplesBehave, DualLookupReadsProfilesFromNewThenOldAndWarmsNew) {
    start("dual_lookup");
    Client c(lam_->port()), o(old_.port()), n(new_.port());
    o.cmd({"SET", "profile:1", "from-old"});
    EXPECT_EQ(show(c.cmd({"GET", "profile:1"})), "$from-old");
    EXPECT_TRUE(waitFor([&] { return show(n.cmd({"GET", "profile:1"})) == "$from-old"; }, 5s)) << "warm: true did not copy";
    EXPECT_EQ(show(c.cmd({"SET", "profile:2", "w"})), "+OK");
    EXPECT_EQ(show(n.cmd({"GET", "profile:2"})), "$w");  // writes: first
    EXPECT_EQ(show(o.cmd({"EXISTS", "profile:2"})), ":0");
}

TEST_F(ExamplesBehave, DualWriteKeepsOrdersOnBoth) {
    start("dual_write");
    Client c(lam_->port());
    EXPECT_EQ(show(c.cmd({"INCR", "order:count"})), ":1");
    EXPECT_EQ(show(c.cmd({"RPUSH", "order:list", "a", "b"})), ":2");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), {"order:count", "order:list"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
    EXPECT_EQ(show(Client(new_.port()).cmd({"GET", "order:count"})), "$1");
}

TEST_F(ExamplesBehave, MigrationStartsInDualWriteReadOld) {
    start("migration");
    Client c(lam_->port());
    auto r = laminarRoute(c, {"SET", "session:42", "x"});
    EXPECT_EQ(r["route"], "sessions");
    EXPECT_NE(r["strategy"].find("phase=dual_write_read_old"), std::string::npos) << r["strategy"];
    EXPECT_EQ(r["writes"], "old,new");
    EXPECT_EQ(show(c.cmd({"SET", "session:42", "x"})), "+OK");
    auto d = waitNoDiff([&] { return diffKeys(old_.port(), new_.port(), {"session:42"}); }, 5s);
    EXPECT_TRUE(d.empty()) << firstLines(d);
}

}  // namespace
}  // namespace laminar::test

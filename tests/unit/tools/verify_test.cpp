// SPDX-License-Identifier: Apache-2.0
// `laminar verify`'s checks before any comparison (src/tools/verify.cpp): which backends it
// accepts, and the exit code and message when one cannot be reached. The comparison itself
// needs two live servers: tests/integration covers it.
#include "tools/verify.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "support/loopback.h"
#include "tools/copy.h"

namespace laminar::tools {
namespace {

config::Config twoBackends(int port_old = 1, int port_new = 2) {
    return config::loadString("backends:\n  old: {address: 127.0.0.1:" + std::to_string(port_old) + "}\n  new: {address: 127.0.0.1:" +
                                  std::to_string(port_new) + "}\nroutes:\n  - name: r\n    strategy: old\n",
                              "verify.yaml");
}

struct Run {
    int code;
    std::string out, err;
};

Run verify(const config::Config& cfg, const std::string& a, const std::string& b) {
    VerifyOptions opt;
    opt.a = a;
    opt.b = b;
    std::ostringstream out, err;
    int code = runVerify(cfg, opt, out, err);
    return {code, out.str(), err.str()};
}

using laminar::testing::RefusingPort;

TEST(VerifyTest, AnUnknownBackendIsAUsageErrorNamingTheConfig) {
    auto cfg = twoBackends();
    auto run = verify(cfg, "old", "elsewhere");
    EXPECT_EQ(run.code, kUsage);
    EXPECT_EQ(run.err, "laminar verify: --a and --b must name two different backends of verify.yaml\n");
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(verify(cfg, "elsewhere", "new").code, kUsage);
}

TEST(VerifyTest, ABackendComparedWithItselfIsAUsageError) {
    auto run = verify(twoBackends(), "old", "old");
    EXPECT_EQ(run.code, kUsage);
    EXPECT_NE(run.err.find("two different backends"), std::string::npos) << run.err;
}

TEST(VerifyTest, MissingBackendNamesAreAUsageError) {
    EXPECT_EQ(verify(twoBackends(), "", "").code, kUsage);
    EXPECT_EQ(verify(twoBackends(), "old", "").code, kUsage);
}

TEST(VerifyTest, ABackendThatCannotBeReachedExitsUnreachableAndSaysWhich) {
    RefusingPort refused_old, refused_new;
    auto run = verify(twoBackends(refused_old.port(), refused_new.port()), "old", "new");
    EXPECT_EQ(run.code, kUnreachable);
    EXPECT_TRUE(run.err.starts_with("laminar verify: backend 'old'")) << run.err;
    EXPECT_NE(run.err.find("Connection refused"), std::string::npos) << run.err;
    EXPECT_TRUE(run.err.ends_with("\n")) << run.err;
    EXPECT_EQ(run.out, "") << "no counts when nothing was compared";
}

}  // namespace
}  // namespace laminar::tools

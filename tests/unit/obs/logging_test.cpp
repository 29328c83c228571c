// SPDX-License-Identifier: Apache-2.0
// Logging setup (src/obs/logging.cpp): the default logger's level and line format, module
// loggers cloned from it by name, and the flap interval setting.
#include "obs/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <string>

namespace laminar::obs {
namespace {

// setupLogging() replaces the process's default logger: each test puts the previous one back,
// so that the tests can run in any order, and more than once.
class LoggingTest : public ::testing::Test {
protected:
    void SetUp() override {
        previous_ = spdlog::default_logger();
        previous_flap_ = flapInterval();
        spdlog::drop("laminar");
    }
    void TearDown() override {
        spdlog::set_default_logger(previous_);
        spdlog::drop("laminar");
        setFlapInterval(previous_flap_);
    }
    // The lines `fn` writes to stderr.
    template <typename Fn>
    static std::string stderrOf(Fn fn) {
        ::testing::internal::CaptureStderr();
        fn();
        return ::testing::internal::GetCapturedStderr();
    }

private:
    std::shared_ptr<spdlog::logger> previous_;
    std::chrono::milliseconds previous_flap_{};
};

TEST_F(LoggingTest, SetupMakesTheDefaultLoggerNamedLaminarAtTheConfiguredLevel) {
    config::LogConfig cfg;
    cfg.level = "warn";
    setupLogging(cfg);
    auto l = spdlog::default_logger();
    EXPECT_EQ(l->name(), "laminar");
    EXPECT_EQ(l->level(), spdlog::level::warn);
    EXPECT_FALSE(l->should_log(spdlog::level::info));
    EXPECT_TRUE(l->should_log(spdlog::level::err));
}

TEST_F(LoggingTest, TextLinesSayTheLevelAndTheModule) {
    config::LogConfig cfg;
    setupLogging(cfg);
    auto out = stderrOf([] { logger("logging_test_text")->info("hello {}", 42); });
    EXPECT_NE(out.find(" info [logging_test_text] hello 42"), std::string::npos) << out;
    EXPECT_TRUE(out.ends_with("\n")) << "flushed at info, one whole line";
}

TEST_F(LoggingTest, JsonLinesAreOneObjectEach) {
    config::LogConfig cfg;
    cfg.format = "json";
    setupLogging(cfg);
    auto out = stderrOf([] { logger("logging_test_json")->warn("disk full"); });
    EXPECT_TRUE(out.starts_with(R"({"time":")")) << out;
    EXPECT_NE(out.find(R"(","level":"warning","logger":"logging_test_json","msg":"disk full"})"), std::string::npos) << out;
    EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line";
}

TEST_F(LoggingTest, LinesBelowTheLevelAreNotWritten) {
    config::LogConfig cfg;
    cfg.level = "error";
    setupLogging(cfg);
    auto out = stderrOf([] {
        auto l = logger("logging_test_level");
        l->info("not this");
        l->warn("nor this");
    });
    EXPECT_EQ(out, "");
}

TEST_F(LoggingTest, SetupSetsTheFlapInterval) {
    config::LogConfig cfg;
    cfg.flap_interval = std::chrono::milliseconds(2500);
    setupLogging(cfg);
    EXPECT_EQ(flapInterval(), std::chrono::milliseconds(2500));
}

TEST_F(LoggingTest, TheFlapIntervalIsWhatWasLastSet) {
    setFlapInterval(std::chrono::milliseconds(0));
    EXPECT_EQ(flapInterval(), std::chrono::milliseconds(0)) << "0: every transition is logged";
    setFlapInterval(std::chrono::milliseconds(123));
    EXPECT_EQ(flapInterval(), std::chrono::milliseconds(123));
}

TEST(LoggerTest, AModuleLoggerIsMadeOnceByName) {
    auto a = logger("logging_test_once");
    EXPECT_EQ(a->name(), "logging_test_once");
    EXPECT_EQ(logger("logging_test_once"), a);
    EXPECT_EQ(spdlog::get("logging_test_once"), a) << "registered, so every module shares it";
    EXPECT_NE(logger("logging_test_other"), a);
}

TEST(LoggerTest, AModuleLoggerTakesTheDefaultLoggersLevel) {
    auto previous = spdlog::default_logger();
    auto base = previous->clone("logging_test_base");
    base->set_level(spdlog::level::critical);
    spdlog::set_default_logger(base);
    auto l = logger("logging_test_inherits");
    spdlog::set_default_logger(previous);
    spdlog::drop("logging_test_base");
    EXPECT_EQ(l->level(), spdlog::level::critical);
}

}  // namespace
}  // namespace laminar::obs

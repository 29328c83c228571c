// SPDX-License-Identifier: Apache-2.0
// A fresh directory for a unit test's files, removed with everything in it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace laminar::testing {

class TempDir {
public:
    // Under the system temp dir, named after the running test. `create`: false leaves the
    // directory for the code under test to create.
    explicit TempDir(bool create = true) {
        static std::atomic<int> n{0};
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "no-test";
        path_ = std::filesystem::temp_directory_path() / ("laminar-" + test + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        std::filesystem::remove_all(path_);
        if (create) std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace laminar::testing

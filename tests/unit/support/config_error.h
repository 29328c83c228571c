// SPDX-License-Identifier: Apache-2.0
// Config errors in unit tests: what a configuration or a strategy's settings are refused with.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/config.h"

namespace laminar::testing {

// The message of the ConfigError `build()` throws, or "" when it builds without one.
template <class Build>
std::string configError(Build&& build) {
    try {
        build();
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

// For EXPECT_TRUE: `build()` throws a ConfigError whose message contains `part`.
template <class Build>
::testing::AssertionResult failsWithConfigError(Build&& build, std::string_view part) {
    std::string error = configError(build);
    if (error.empty()) return ::testing::AssertionFailure() << "built without error; expected one containing '" << part << "'";
    if (error.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "the error '" << error << "' does not contain '" << part << "'";
    return ::testing::AssertionSuccess();
}

}  // namespace laminar::testing

// SPDX-License-Identifier: Apache-2.0
#include "queue/cursor_file.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <limits>

namespace laminar::queue {
namespace {

namespace fs = std::filesystem;

using laminar::testing::TempDir;

void writeCursors(const fs::path& dir, const std::string& text) { std::ofstream(dir / "cursors") << text; }

// The error of loading `text` as a cursors file, or "" when it loads.
std::string loadError(const std::string& text) {
    TempDir dir;
    writeCursors(dir.path(), text);
    Cursors c;
    std::string error;
    return loadCursors(dir.path(), c, error) ? "" : error;
}

TEST(CursorFileTest, WhatIsStoredLoadsBack) {
    TempDir dir;
    Cursors stored = {{"new", 42}, {"old", 0}, {"far", std::numeric_limits<uint64_t>::max()}};
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(storeCursors(dir.path(), stored, false, fsyncs, error)) << error;
    EXPECT_EQ(fsyncs.load(), 0u) << "no fsync without sync";
    Cursors loaded;
    ASSERT_TRUE(loadCursors(dir.path(), loaded, error)) << error;
    EXPECT_EQ(loaded, stored);
}

// With sync, the file is fsynced before the rename and the directory after it.
TEST(CursorFileTest, ASyncedStoreCountsTwoFsyncsAndLeavesNoTempFile) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(storeCursors(dir.path(), {{"new", 7}}, true, fsyncs, error)) << error;
    EXPECT_EQ(fsyncs.load(), 2u);
    EXPECT_TRUE(fs::exists(dir.path() / "cursors"));
    EXPECT_FALSE(fs::exists(dir.path() / "cursors.tmp"));
}

TEST(CursorFileTest, AStoreReplacesTheWholeFile) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(storeCursors(dir.path(), {{"a", 1}, {"b", 2}}, false, fsyncs, error)) << error;
    ASSERT_TRUE(storeCursors(dir.path(), {{"a", 3}}, false, fsyncs, error)) << error;
    Cursors loaded;
    ASSERT_TRUE(loadCursors(dir.path(), loaded, error)) << error;
    EXPECT_EQ(loaded, (Cursors{{"a", 3}}));
}

TEST(CursorFileTest, AMissingFileIsNoCursors) {
    TempDir dir;
    Cursors loaded;
    std::string error;
    EXPECT_TRUE(loadCursors(dir.path(), loaded, error));
    EXPECT_TRUE(loaded.empty());
    EXPECT_TRUE(error.empty()) << error;
}

TEST(CursorFileTest, BlankLinesAreSkipped) {
    TempDir dir;
    writeCursors(dir.path(), "\nnew 5\n\nold 9\n");
    Cursors loaded;
    std::string error;
    ASSERT_TRUE(loadCursors(dir.path(), loaded, error)) << error;
    EXPECT_EQ(loaded, (Cursors{{"new", 5}, {"old", 9}}));
}

TEST(CursorFileTest, ALineThatIsNotNameAndNumberFailsNamingTheLine) {
    auto err = loadError("new 5\nold\n");
    EXPECT_NE(err.find("cursors:2:"), std::string::npos) << err;
    EXPECT_NE(err.find("\"old\""), std::string::npos) << err;
    EXPECT_NE(loadError("new x\n"), "");
    EXPECT_NE(loadError("new 12abc\n"), "");
    EXPECT_NE(loadError("new -1\n"), "");
    EXPECT_NE(loadError("new \n"), "") << "no number";
    EXPECT_NE(loadError(" 5\n"), "") << "no name";
}

// A cursor too large for 64 bits is damage: it was once read as 0, which would replay the whole
// journal to that target.
TEST(CursorFileTest, ANumberTooLargeFor64BitsFails) {
    auto err = loadError("new 99999999999999999999\n");
    EXPECT_NE(err.find("cursors:1:"), std::string::npos) << err;
    EXPECT_EQ(loadError("new 18446744073709551615\n"), "") << "the largest u64 is a cursor";
}

TEST(CursorFileTest, StoreFailsWithAnErrorWhenTheDirectoryIsMissing) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    EXPECT_FALSE(storeCursors(dir.path() / "gone", {{"new", 1}}, false, fsyncs, error));
    EXPECT_NE(error.find("cursors.tmp"), std::string::npos) << error;
}

}  // namespace
}  // namespace laminar::queue

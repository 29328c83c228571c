// SPDX-License-Identifier: Apache-2.0
// The queue's file helpers (src/queue/file.cpp): owned descriptors, whole reads and writes at an
// offset, fsync counting and the atomic replacement of a small file.
#include "queue/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include "support/temp_dir.h"

namespace laminar::queue {
namespace {

using laminar::testing::TempDir;

std::string contents(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(FileTest, TheDescriptorClosesWithTheLastOwner) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    int fd = f->fd();
    auto reader = f;  // a read in flight keeps it
    f.reset();
    EXPECT_TRUE(isOpen(fd));
    reader.reset();
    EXPECT_FALSE(isOpen(fd));
    EXPECT_EQ(errno, EBADF);
}

TEST(FileTest, OpenedFilesAreCloseOnExec) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    EXPECT_TRUE(::fcntl(f->fd(), F_GETFD) & FD_CLOEXEC);
    EXPECT_EQ(error, "");
}

TEST(FileTest, OpeningAMissingFileFailsNamingThePath) {
    TempDir dir;
    std::string error;
    auto path = dir.path() / "missing";
    EXPECT_FALSE(openFile(path, O_RDONLY, error));
    EXPECT_EQ(error, "cannot open " + path.string() + ": No such file or directory");
}

TEST(FileTest, ANegativeDescriptorIsNotClosed) {
    File none(-1);  // nothing to close, and no crash
    EXPECT_EQ(none.fd(), -1);
}

TEST(FileTest, WriteAllAtWritesEveryBufferInOrderAtTheOffset) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    std::string a = "head-", b, c = "-tail";
    iovec iov[3] = {{a.data(), a.size()}, {b.data(), 0}, {c.data(), c.size()}};  // an empty one in the middle
    ASSERT_TRUE(writeAllAt(f->fd(), iov, 3, 4));
    EXPECT_EQ(contents(dir.path() / "a"), std::string(4, '\0') + "head--tail") << "a hole before the offset";
}

TEST(FileTest, WriteAllAtWithNothingToWriteSucceeds) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    EXPECT_TRUE(writeAllAt(f->fd(), nullptr, 0, 0));
    EXPECT_EQ(contents(dir.path() / "a"), "");
}

TEST(FileTest, WriteAllAtOnAReadOnlyDescriptorFailsWithErrno) {
    TempDir dir;
    std::string error;
    ASSERT_TRUE(openFile(dir.path() / "a", O_WRONLY | O_CREAT, error));
    auto f = openFile(dir.path() / "a", O_RDONLY, error);
    ASSERT_TRUE(f) << error;
    std::string data = "x";
    iovec iov{data.data(), data.size()};
    errno = 0;
    EXPECT_FALSE(writeAllAt(f->fd(), &iov, 1, 0));
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(errnoText(), "Bad file descriptor");
}

TEST(FileTest, ReadAllAtReadsExactlyTheBytesAskedFromTheOffset) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    std::string data = "0123456789";
    iovec iov{data.data(), data.size()};
    ASSERT_TRUE(writeAllAt(f->fd(), &iov, 1, 0));
    std::string buf(4, '?');
    ASSERT_TRUE(readAllAt(f->fd(), buf.data(), 4, 3));
    EXPECT_EQ(buf, "3456");
    ASSERT_TRUE(readAllAt(f->fd(), buf.data(), 0, 100)) << "nothing to read is no failure";
}

TEST(FileTest, ReadAllAtPastTheEndFailsWithErrnoZeroAndSaysSo) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    std::string data = "abc";
    iovec iov{data.data(), data.size()};
    ASSERT_TRUE(writeAllAt(f->fd(), &iov, 1, 0));
    std::string buf(5, '?');
    errno = EINVAL;
    EXPECT_FALSE(readAllAt(f->fd(), buf.data(), 5, 0)) << "a short file is not a whole read";
    EXPECT_EQ(errno, 0);
    EXPECT_EQ(errnoText(), "unexpected end of file");
    EXPECT_EQ(buf.substr(0, 3), "abc") << "what was there was read";
}

TEST(FileTest, ReadAllAtOnABadDescriptorFailsWithItsErrno) {
    char c;
    EXPECT_FALSE(readAllAt(-1, &c, 1, 0));
    EXPECT_EQ(errno, EBADF);
}

TEST(FileTest, SyncFdCountsEveryCallEvenOneThatFails) {
    TempDir dir;
    std::string error;
    auto f = openFile(dir.path() / "a", O_RDWR | O_CREAT, error);
    ASSERT_TRUE(f) << error;
    std::atomic<uint64_t> count{0};
    EXPECT_TRUE(syncFd(f->fd(), count));
    EXPECT_FALSE(syncFd(-1, count));
    EXPECT_EQ(count.load(), 2u);
}

TEST(FileTest, SyncDirCountsOneFsync) {
    TempDir dir;
    std::atomic<uint64_t> count{0};
    std::string error;
    EXPECT_TRUE(syncDir(dir.path(), count, error)) << error;
    EXPECT_EQ(count.load(), 1u);
}

TEST(FileTest, SyncDirOfAMissingDirectoryFailsNamingItAndCountsNothing) {
    TempDir dir;
    std::atomic<uint64_t> count{0};
    std::string error;
    EXPECT_FALSE(syncDir(dir.path() / "gone", count, error));
    EXPECT_EQ(error, "cannot open " + (dir.path() / "gone").string() + ": No such file or directory");
    EXPECT_EQ(count.load(), 0u);
}

TEST(FileTest, SyncDirOfAFileIsNotADirectory) {
    TempDir dir;
    std::string error;
    ASSERT_TRUE(openFile(dir.path() / "f", O_WRONLY | O_CREAT, error));
    std::atomic<uint64_t> count{0};
    EXPECT_FALSE(syncDir(dir.path() / "f", count, error));
    EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;
}

TEST(FileTest, ReplaceFileCreatesTheFileAndLeavesNoTemp) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(replaceFile(dir.path(), "cursors", "a 1\n", false, fsyncs, error)) << error;
    EXPECT_EQ(contents(dir.path() / "cursors"), "a 1\n");
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "cursors.tmp"));
    EXPECT_EQ(fsyncs.load(), 0u) << "no fsync unless asked";
}

TEST(FileTest, ReplaceFileReplacesALongerFileWhole) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(replaceFile(dir.path(), "f", std::string(1000, 'x'), false, fsyncs, error)) << error;
    ASSERT_TRUE(replaceFile(dir.path(), "f", "short", false, fsyncs, error)) << error;
    EXPECT_EQ(contents(dir.path() / "f"), "short") << "nothing of the old file is left behind";
    ASSERT_TRUE(replaceFile(dir.path(), "f", "", false, fsyncs, error)) << error;
    EXPECT_EQ(contents(dir.path() / "f"), "");
}

TEST(FileTest, ASyncedReplaceFsyncsTheFileAndTheDirectory) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    ASSERT_TRUE(replaceFile(dir.path(), "f", "data", true, fsyncs, error)) << error;
    EXPECT_EQ(fsyncs.load(), 2u);
    EXPECT_EQ(contents(dir.path() / "f"), "data");
}

TEST(FileTest, ReplaceFileInAMissingDirectoryFailsNamingTheTempFile) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    auto missing = dir.path() / "missing";
    EXPECT_FALSE(replaceFile(missing, "f", "data", true, fsyncs, error));
    EXPECT_EQ(error, "cannot open " + (missing / "f.tmp").string() + ": No such file or directory");
    EXPECT_EQ(fsyncs.load(), 0u);
}

TEST(FileTest, AFailedRenameLeavesTheOldFileAsItWas) {
    TempDir dir;
    std::atomic<uint64_t> fsyncs{0};
    std::string error;
    // `f` is a non-empty directory: a file cannot be renamed over it.
    std::filesystem::create_directories(dir.path() / "f" / "inside");
    EXPECT_FALSE(replaceFile(dir.path(), "f", "data", false, fsyncs, error));
    EXPECT_TRUE(error.starts_with("rename " + (dir.path() / "f.tmp").string() + ": ")) << error;
    EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "f" / "inside"));
}

TEST(FileTest, ErrnoTextNamesTheError) {
    errno = ENOSPC;
    EXPECT_EQ(errnoText(), "No space left on device");
    errno = 0;
    EXPECT_EQ(errnoText(), "unexpected end of file");
}

}  // namespace
}  // namespace laminar::queue

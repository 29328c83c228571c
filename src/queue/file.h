// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace laminar::queue {

// An owned file descriptor, closed with its last owner. A segment shares its File with read()s
// in flight, so deleting the segment meanwhile cannot close (and let the kernel reuse) the fd
// under them.
class File {
public:
    explicit File(int fd) : fd_(fd) {}
    ~File();
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    int fd() const { return fd_; }

private:
    int fd_;
};

// open(2) with O_CLOEXEC; null with error set (naming the path) on failure.
std::shared_ptr<File> openFile(const std::filesystem::path& path, int flags, std::string& error);

// pwritev(2) until every byte is written. False with errno set on failure.
bool writeAllAt(int fd, iovec* iov, int iovcnt, uint64_t offset);

// pread(2) until n bytes are read. False on failure, or with errno 0 at end of file.
bool readAllAt(int fd, char* buf, size_t n, uint64_t offset);

// fsync(2), counted in `count` whether or not it succeeds.
bool syncFd(int fd, std::atomic<uint64_t>& count);

// fsyncs a directory so that files created, renamed or removed in it stay so after a crash.
bool syncDir(const std::filesystem::path& dir, std::atomic<uint64_t>& count, std::string& error);

// Replaces `dir/name` with `text` atomically: writes `name.tmp`, renames it over, so that a failed
// or partial write (a full disk, a crash) leaves the old file whole. With `sync`, fsyncs the file
// before the rename and the directory after, counting both in fsyncs.
bool replaceFile(const std::filesystem::path& dir, const std::string& name, std::string_view text, bool sync,
                 std::atomic<uint64_t>& fsyncs, std::string& error);

// strerror(errno), or "unexpected end of file" when errno is 0.
std::string errnoText();

}  // namespace laminar::queue

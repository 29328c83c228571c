// SPDX-License-Identifier: Apache-2.0
#include "queue/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace laminar::queue {

File::~File() {
    if (fd_ >= 0) ::close(fd_);
}

std::shared_ptr<File> openFile(const std::filesystem::path& path, int flags, std::string& error) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "cannot open " + path.string() + ": " + errnoText();
        return nullptr;
    }
    return std::make_shared<File>(fd);
}

bool writeAllAt(int fd, iovec* iov, int iovcnt, uint64_t offset) {
    while (iovcnt > 0) {
        ssize_t n = ::pwritev(fd, iov, iovcnt, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        offset += static_cast<uint64_t>(n);
        auto left = static_cast<size_t>(n);
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --iovcnt;
        }
        if (iovcnt > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
    return true;
}

bool readAllAt(int fd, char* buf, size_t n, uint64_t offset) {
    while (n > 0) {
        ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return false;
        }
        buf += got;
        n -= static_cast<size_t>(got);
        offset += static_cast<uint64_t>(got);
    }
    return true;
}

bool syncFd(int fd, std::atomic<uint64_t>& count) {
    count.fetch_add(1, std::memory_order_relaxed);
    return ::fsync(fd) == 0;
}

bool syncDir(const std::filesystem::path& dir, std::atomic<uint64_t>& count, std::string& error) {
    auto f = openFile(dir, O_RDONLY | O_DIRECTORY, error);
    if (!f) return false;
    if (!syncFd(f->fd(), count)) {
        error = "fsync " + dir.string() + ": " + errnoText();
        return false;
    }
    return true;
}

bool replaceFile(const std::filesystem::path& dir, const std::string& name, std::string_view text, bool sync,
                 std::atomic<uint64_t>& fsyncs, std::string& error) {
    auto tmp = dir / (name + ".tmp");
    auto f = openFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, error);
    if (!f) return false;
    iovec iov{const_cast<char*>(text.data()), text.size()};
    if (!writeAllAt(f->fd(), &iov, 1, 0)) {
        error = "write " + tmp.string() + ": " + errnoText();
        ::unlink(tmp.c_str());  // the old file is untouched; the part written only takes space
        return false;
    }
    if (sync && !syncFd(f->fd(), fsyncs)) {
        error = "fsync " + tmp.string() + ": " + errnoText();
        ::unlink(tmp.c_str());
        return false;
    }
    if (std::rename(tmp.c_str(), (dir / name).c_str()) != 0) {
        error = "rename " + tmp.string() + ": " + errnoText();
        return false;
    }
    return !sync || syncDir(dir, fsyncs, error);
}

std::string errnoText() {
    return errno == 0 ? "unexpected end of file" : std::generic_category().message(errno);
}

}  // namespace laminar::queue

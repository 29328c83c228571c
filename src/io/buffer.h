// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "io/memory.h"

namespace laminar::io {

// A byte buffer for socket reads: [begin, end) holds unread data, [end, capacity) is free space
// to read into. Consuming from the front is O(1); compact() moves what is left to the start only
// when the free space runs low, so a stream of small requests is never copied. The storage is taken
// at the first reserve(), not before, and release() gives it back while nothing is unread: a
// connection that is idle holds none.
class Buffer {
public:
    explicit Buffer(size_t initial = 16 * 1024) : initial_(initial) {}
    ~Buffer() {
        if (cap_ >= kLargeFree) freedLarge();
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    std::string_view data() const { return data_ ? std::string_view(data_.get() + begin_, end_ - begin_) : std::string_view(); }
    size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    size_t capacity() const { return cap_; }

    char* writePtr() { return data_.get() + end_; }
    size_t writable() const { return cap_ - end_; }
    void commit(size_t n) { end_ += n; }

    void consume(size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }

    // Makes room for at least `min_free` more bytes (and for `total` bytes of unread data when a
    // large request's size is known), moving unread data to the front or growing.
    void reserve(size_t min_free, size_t total = 0) {
        size_t need = std::max(size() + min_free, total);
        if (writable() >= min_free && cap_ - begin_ >= need) return;
        if (!data_) {
            size_t cap = initial_;
            while (cap < need) cap *= 2;
            data_ = cap == kSpareSize ? takeSpare() : nullptr;
            if (!data_) data_.reset(new char[cap]);
            cap_ = cap;
            return;
        }
        if (cap_ >= need) {
            std::memmove(data_.get(), data_.get() + begin_, size());
            end_ -= begin_;
            begin_ = 0;
            return;
        }
        size_t cap = cap_;
        while (cap < need) cap *= 2;
        std::unique_ptr<char[]> grown(new char[cap]);
        std::memcpy(grown.get(), data_.get() + begin_, size());
        if (cap_ >= kLargeFree) freedLarge();
        end_ -= begin_;
        begin_ = 0;
        data_ = std::move(grown);
        cap_ = cap;
    }

    // Gives the storage back when nothing is unread; the next reserve() takes it again. Blocks of
    // the usual size go to a few spares per thread, so a connection that releases after every
    // read (Session) costs no allocation, and idle ones hold nothing.
    void release() {
        if (!empty() || !data_) return;
        if (cap_ >= kLargeFree) freedLarge();
        if (cap_ == kSpareSize) putSpare(std::move(data_));
        data_.reset();
        cap_ = 0;
        begin_ = end_ = 0;
    }
    bool holdsMemory() const { return data_ != nullptr; }

    // Gives memory back after a large request, so an idle connection stays small.
    void shrinkTo(size_t cap) {
        if (cap_ <= cap || size() > cap) return;
        if (cap_ >= kLargeFree) freedLarge();
        std::unique_ptr<char[]> small(new char[cap]);
        std::memcpy(small.get(), data_.get() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
        data_ = std::move(small);
        cap_ = cap;
    }

private:
    static constexpr size_t kSpareSize = 16 * 1024;
    static constexpr size_t kMaxSpares = 16;  // per thread
    static std::vector<std::unique_ptr<char[]>>& spares() {
        thread_local std::vector<std::unique_ptr<char[]>> s;
        return s;
    }
    static std::unique_ptr<char[]> takeSpare() {
        auto& s = spares();
        if (s.empty()) return nullptr;
        auto b = std::move(s.back());
        s.pop_back();
        return b;
    }
    static void putSpare(std::unique_ptr<char[]> b) {
        auto& s = spares();
        if (s.size() < kMaxSpares) s.push_back(std::move(b));
    }

    std::unique_ptr<char[]> data_;
    size_t initial_;
    size_t cap_ = 0;
    size_t begin_ = 0;
    size_t end_ = 0;
};

}  // namespace laminar::io

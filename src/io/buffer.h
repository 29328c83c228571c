// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

#include "io/memory.h"

namespace laminar::io {

// A byte buffer for socket reads: [begin, end) holds unread data, [end, capacity) is free space
// to read into. Consuming from the front is O(1); compact() moves what is left to the start only
// when the free space runs low, so a stream of small requests is never copied.
class Buffer {
public:
    explicit Buffer(size_t initial = 16 * 1024) : data_(new char[initial]), cap_(initial) {}
    ~Buffer() {
        if (cap_ >= kLargeFree) freedLarge();
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    std::string_view data() const { return {data_.get() + begin_, end_ - begin_}; }
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
    std::unique_ptr<char[]> data_;
    size_t cap_;
    size_t begin_ = 0;
    size_t end_ = 0;
};

}  // namespace laminar::io

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <utility>

namespace laminar::policy {

// Per-request state that every read (or dual write) of a route needs is recycled per I/O thread,
// with its buffers, so it costs no allocation once the thread is warm. The free list is threaded
// through the objects themselves (`T::next_free`).
template <class T>
class Recycled {
public:
    static T* acquire() {
        List& l = list();
        T* t = l.head;
        if (!t) return new T;
        l.head = t->next_free;
        --l.size;
        return t;
    }
    // `t` reset by the caller; one that grew large buffers is freed instead of kept.
    static void put(T* t, bool large) {
        List& l = list();
        if (large || l.size >= 1024) {
            delete t;
            return;
        }
        t->next_free = l.head;
        l.head = t;
        ++l.size;
    }

private:
    struct List {
        T* head = nullptr;
        size_t size = 0;
        ~List() {
            while (head) delete std::exchange(head, head->next_free);
        }
    };
    static List& list() {
        thread_local List l;
        return l;
    }
};

}  // namespace laminar::policy

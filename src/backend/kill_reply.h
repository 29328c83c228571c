// SPDX-License-Identifier: Apache-2.0
// One SCRIPT KILL or FUNCTION KILL sent to several servers, and the one reply its client gets.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace laminar::backend {

// Gathers one reply per server and answers `client` once all are in and sent() was called: +OK
// when any server killed a script, else the first other answer (UNKILLABLE, BUSY of the other
// kind, a failure), else the first (NOTBUSY). Made with new; deletes itself once it answered.
class KillReplies {
public:
    struct Part final : ReplySink {
        KillReplies* job = nullptr;
        size_t index = 0;
        std::string reply;
        bool failed = false;
        void complete(std::string_view raw, bool f) override {
            reply = raw;
            failed = f;
            job->answered(index);
        }
    };

    // `on_answer(i)`: part i was just answered (e.g. to close the connection it went on).
    KillReplies(size_t n, ReplySink* client, std::function<void(size_t)> on_answer = {})
        : left_(n + 1), client_(client), on_answer_(std::move(on_answer)), parts_(n) {
        for (size_t i = 0; i < n; ++i) {
            parts_[i].job = this;
            parts_[i].index = i;
        }
    }
    Part& part(size_t i) { return parts_[i]; }
    // Every part is sent: a server that is down may have answered within its send already.
    void sent() { settle(); }

private:
    void answered(size_t i) {
        if (on_answer_) on_answer_(i);
        settle();
    }
    void settle() {
        if (--left_ > 0) return;
        auto first = [&](auto fits) -> const Part* {
            for (const auto& p : parts_)
                if (fits(std::string_view(p.reply))) return &p;
            return nullptr;
        };
        const Part* chosen = first([](std::string_view r) { return r.starts_with("+"); });
        if (!chosen) chosen = first([](std::string_view r) { return !r.starts_with("-NOTBUSY"); });
        if (!chosen) chosen = &parts_.front();
        client_->complete(chosen->reply, chosen->failed);
        delete this;
    }

    size_t left_;  // parts not answered, plus one until sent()
    ReplySink* client_;
    std::function<void(size_t)> on_answer_;
    std::vector<Part> parts_;
};

}  // namespace laminar::backend

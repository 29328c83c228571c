// SPDX-License-Identifier: Apache-2.0
#include "policy/fanout.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "obs/logging.h"
#include "policy/recycled.h"
#include "resp/reply_view.h"

namespace laminar::policy {

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("policy");
    return l;
}

struct BothState;
void release(BothState* st);

struct BothState {
    backend::ReplySink* client = nullptr;
    Merge merge = Merge::kFirst;
    std::atomic<uint64_t>* second_failures = nullptr;
    int remaining = 2;
    bool answered = false;
    std::string first_reply;
    bool first_failed = false;
    std::string second_reply;
    bool second_failed = false;
    BothState* next_free = nullptr;  // while recycled

    struct Side final : backend::ReplySink {
        BothState* state;
        bool is_first;
        void complete(std::string_view raw, bool failed) override { state->done(is_first, raw, failed); }
    } first{}, second{};

    void done(bool is_first, std::string_view raw, bool failed) {
        const bool keep = merge != Merge::kFirst;  // kFirst answers with the first reply as it comes
        if (is_first) {
            if (keep) first_reply.assign(raw);
            first_failed = failed;
            if (merge == Merge::kFirst && !answered) {
                answered = true;
                client->complete(raw, failed);
            }
        } else {
            if (keep) second_reply.assign(raw);
            second_failed = failed;
            if ((failed || resp::isError(raw)) && second_failures) {
                second_failures->fetch_add(1, std::memory_order_relaxed);
                log()->warn("write to the second side failed: {}", std::string_view(raw).substr(0, 200));
            }
        }
        if (--remaining > 0) return;
        if (!answered) finish();
        release(this);
    }

    void finish() {
        answered = true;
        if (merge == Merge::kMaxInteger) {
            long long a = 0, b = 0;
            bool ia = resp::integerValue(first_reply, a), ib = resp::integerValue(second_reply, b);
            if (ia && ib) {
                client->complete(":" + std::to_string(std::max(a, b)) + "\r\n", false);
                return;
            }
            // One side failed: the client hears of it, naming the backend.
            if (!ia) client->complete(first_reply, first_failed);
            else client->complete(second_reply, second_failed);
            return;
        }
        // kFirstAfterBoth: the first's reply unless the second failed (ack: both).
        if (!first_failed && !resp::isError(first_reply) && (second_failed || resp::isError(second_reply)))
            client->complete(second_reply, second_failed);
        else
            client->complete(first_reply, first_failed);
    }
};

void release(BothState* st) {
    st->remaining = 2;
    st->answered = false;
    st->first_reply.clear();
    st->second_reply.clear();
    st->first_failed = st->second_failed = false;
    Recycled<BothState>::put(st, st->first_reply.capacity() > 4096 || st->second_reply.capacity() > 4096);
}

}  // namespace

void sendToBoth(const Request& req, backend::ReplySink* sink, Context& ctx, const Strategy& first, const Strategy& second,
                Merge merge, std::atomic<uint64_t>* second_failures) {
    BothState* st = Recycled<BothState>::acquire();
    st->client = sink;
    st->merge = merge;
    st->second_failures = second_failures;
    st->first.state = st;
    st->first.is_first = true;
    st->second.state = st;
    st->second.is_first = false;
    // Both are sent before either reply is awaited: the latency is the slower side's, not the sum.
    first.execute(req, &st->first, ctx);
    second.execute(req, &st->second, ctx);
}

}  // namespace laminar::policy

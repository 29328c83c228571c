// SPDX-License-Identifier: Apache-2.0
// Scripted fakes for strategy unit tests: a Dispatch that records what was sent and lets the test
// answer each command when and how it chooses (so it picks the interleaving), a health board the
// test sets, and a sink that records the client's reply.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "policy/clock.h"
#include "policy/health_view.h"
#include "policy/strategy.h"
#include "resp/command_table.h"
#include "resp/writer.h"

namespace laminar::policy::testing {

// The backends of twoBackends(), and the errors laminar answers with when one is down.
constexpr int kOld = 0, kNew = 1;
inline const std::string kDownOld = "-ERR laminar: backend 'old' unavailable: connection refused\r\n";
inline const std::string kDownNew = "-ERR laminar: backend 'new' unavailable: connection refused\r\n";

struct Sent {
    int backend;
    std::string raw;
    backend::ReplySink* sink;
    bool answered = false;
};

class FakeDispatch : public Dispatch {
public:
    void send(int backend, std::string_view raw, backend::ReplySink* sink) override {
        sent.push_back({backend, std::string(raw), sink});
    }
    // Answers the i-th command sent (in send order) with a raw RESP reply.
    void answer(size_t i, std::string_view reply, bool failed = false) {
        ASSERT_LT(i, sent.size());
        ASSERT_FALSE(sent[i].answered) << "answered twice: " << sent[i].raw;
        sent[i].answered = true;
        sent[i].sink->complete(reply, failed);
    }
    // Answers every unanswered command to `backend` (in order) with `reply`.
    void answerAll(int backend, std::string_view reply) {
        for (size_t i = 0; i < sent.size(); ++i)
            if (sent[i].backend == backend && !sent[i].answered) answer(i, reply);
    }
    std::vector<std::string> rawTo(int backend) const {
        std::vector<std::string> out;
        for (const auto& s : sent)
            if (s.backend == backend) out.push_back(s.raw);
        return out;
    }
    size_t unanswered() const {
        size_t n = 0;
        for (const auto& s : sent) n += !s.answered;
        return n;
    }
    std::deque<Sent> sent;
};

class FakeHealth : public Health {
public:
    State state(int backend) const override {
        auto it = states.find(backend);
        return it == states.end() ? State::kUp : it->second;
    }
    double p99Millis(int backend) const override {
        auto it = p99.find(backend);
        return it == p99.end() ? 0 : it->second;
    }
    std::map<int, State> states;
    std::map<int, double> p99;
};

// What the client got.
struct ClientSink : backend::ReplySink {
    void complete(std::string_view raw, bool f) override {
        ASSERT_FALSE(reply.has_value()) << "the client got two replies";
        reply = std::string(raw);
        failed = f;
    }
    std::optional<std::string> reply;
    bool failed = false;
};

// A command as a strategy sees it: argv, its RESP bytes, its table entry and key positions.
struct Cmd {
    explicit Cmd(std::vector<std::string> args) : words(std::move(args)) {
        for (const auto& w : words) views.push_back(w);
        resp::appendCommand(raw, std::span<const std::string_view>(views));
        info = resp::lookupCommand(views);
        if (info) resp::keyIndices(*info, views, keys);
    }
    Request request() const { return Request{views, raw, info, keys}; }
    std::vector<std::string> words;
    std::vector<std::string_view> views;
    std::string raw;
    const resp::CommandInfo* info = nullptr;
    std::vector<int> keys;
};

inline std::string bulk(std::string_view s) {
    std::string out;
    resp::appendBulk(out, s);
    return out;
}

inline std::string command(std::vector<std::string_view> args) {
    std::string out;
    resp::appendCommand(out, std::span<const std::string_view>(args));
    return out;
}

// A config with backends `old` (0) and `new` (1) and one route, for building strategies from YAML.
inline config::Config twoBackends() {
    return config::loadString("backends:\n  old: {address: 127.0.0.1:1}\n  new: {address: 127.0.0.1:2}\nroutes:\n  - name: r\n    strategy: old\n", "test.yaml");
}

// Builds a strategy from a YAML snippet (`{type: ..., ...}`) against twoBackends().
inline std::unique_ptr<Strategy> buildStrategy(const std::string& yaml, const config::Config& cfg) {
    Builder b(cfg, "r");
    return b.build(YAML::Load(yaml), "routes[0].strategy");
}

// A context over fakes; the test owns them.
struct FakeEnv {
    FakeDispatch client, background;
    ManualClock clock;
    FakeHealth health;
    Context ctx{client, background, clock, health, nullptr, nullptr, nullptr};
};

}  // namespace laminar::policy::testing

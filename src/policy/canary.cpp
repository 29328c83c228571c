// SPDX-License-Identifier: Apache-2.0
#include "policy/canary.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "obs/logging.h"
#include "backend/health_board.h"
#include "policy/snapshot.h"
#include "resp/writer.h"

namespace laminar::policy {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("canary");
    return l;
}

int64_t unixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct CanarySink final : backend::ReplySink {
    std::function<void(std::string_view, bool)> done;
    void complete(std::string_view raw, bool failed) override {
        done(raw, failed);
        delete this;
    }
};

std::string firstLine(std::string_view raw) {
    auto s = raw.substr(0, std::min<size_t>(raw.size(), 200));
    return std::string(s.substr(0, s.find('\r')));
}

}  // namespace

Canaries::Canaries(SyncHost& host, std::function<std::shared_ptr<const Snapshot>()> snapshot)
    : host_(host), snapshot_(std::move(snapshot)) {}

void Canaries::start() {
    host_.post([self = shared_from_this()] {
        if (self->alive_->load()) self->round();
    });
}

std::map<std::string, Canaries::Path> Canaries::paths() const {
    std::lock_guard lock(mu_);
    return paths_;
}

void Canaries::round() {
    auto snap = snapshot_();
    const auto& cfg = snap->config();
    auto every = cfg.canary.every;
    if (every.count() == 0) {  // off (or turned off by a reload): nothing marks a backend down
        std::lock_guard lock(mu_);
        for (const auto& [name, p] : paths_) snap->registry().health.cell(name)->canary_failing.store(false);
        paths_.clear();
        pending_.clear();
        host_.postAfter(std::chrono::seconds(1), [self = shared_from_this()] {
            if (self->alive_->load()) self->round();
        });
        return;
    }
    ++round_;
    {
        // A backend a reload removed is forgotten: no canary state for /metrics to export, and not
        // down at once if a later reload adds it back. A late reply of its finds no round.
        std::lock_guard lock(mu_);
        auto configured = [&](const std::string& name) {
            return std::any_of(cfg.backends.begin(), cfg.backends.end(), [&](const auto& b) { return b.name == name; });
        };
        for (auto it = paths_.begin(); it != paths_.end();) {
            if (configured(it->first)) {
                ++it;
                continue;
            }
            snap->registry().health.cell(it->first)->canary_failing.store(false);
            it = paths_.erase(it);
        }
        std::erase_if(pending_, [&](const auto& entry) { return !configured(entry.first); });
    }
    for (size_t i = 0; i < cfg.backends.size(); ++i) {
        const std::string name = cfg.backends[i].name;
        bool unanswered;
        {
            std::lock_guard lock(mu_);
            auto it = pending_.find(name);
            unanswered = it != pending_.end() && it->second != 0;
            pending_[name] = round_;
        }
        if (unanswered) finish(name, false, fmt::format("no reply within {} ms", every.count()), 0);
        std::string stamp = fmt::format("{}:{}", unixMillis(), round_);
        // One key per server the backend has (a cluster's masters); the canary passes when all do.
        auto keys = host_.background().canaryKeys(static_cast<int>(i), "laminar:canary:" + name);
        struct Round {
            size_t left;
            std::string why;  // the first failure
            std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
        };
        auto r = std::make_shared<Round>(Round{keys.size(), {}});
        auto self = shared_from_this();
        uint64_t this_round = round_;
        for (const auto& [key, where] : keys) {
            std::string set, get;
            resp::appendCommand(set, {"SET", key, stamp, "PX", std::to_string(cfg.canary.ttl.count())});
            resp::appendCommand(get, {"GET", key});
            auto at = where.empty() ? std::string() : where + ": ";
            auto set_failed = std::make_shared<bool>(false);
            auto* s1 = new CanarySink;
            s1->done = [r, at, set_failed](std::string_view raw, bool failed) {
                *set_failed = failed || !raw.starts_with("+OK");
                if (*set_failed && r->why.empty()) r->why = at + "SET: " + firstLine(raw);
            };
            auto* s2 = new CanarySink;
            s2->done = [self, r, name, stamp, this_round, at, set_failed](std::string_view raw, bool failed) {
                if (!self->alive_->load()) return;
                std::string want = fmt::format("${}\r\n{}\r\n", stamp.size(), stamp);
                if (!*set_failed && (failed || raw != want) && r->why.empty())
                    r->why = at + "GET did not return the canary: " + firstLine(raw);
                if (--r->left > 0) return;
                {
                    std::lock_guard lock(self->mu_);
                    auto it = self->pending_.find(name);
                    if (it == self->pending_.end() || it->second != this_round) return;  // late: already counted as failed
                    it->second = 0;
                }
                double rt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r->started).count();
                self->finish(name, r->why.empty(), r->why, rt);
            };
            host_.background().send(static_cast<int>(i), set, s1);
            host_.background().send(static_cast<int>(i), get, s2);
        }
    }
    host_.postAfter(every, [self = shared_from_this()] {
        if (self->alive_->load()) self->round();
    });
}

void Canaries::finish(const std::string& backend, bool ok, std::string why, double rt_ms) {
    bool changed;
    {
        std::lock_guard lock(mu_);
        auto& p = paths_[backend];
        changed = !p.known || p.ok != ok;
        p.known = true;
        p.ok = ok;
        p.why = ok ? std::string() : why;
        if (ok) {
            p.round_trip_ms = rt_ms;
            p.last_ok_ms = unixMillis();
        }
    }
    snapshot_()->registry().health.cell(backend)->canary_failing.store(!ok);
    if (!changed) return;
    if (ok) log()->info("canary of backend '{}' ok ({:.1f} ms)", backend, rt_ms);
    else log()->warn("canary of backend '{}' failing: {}; the backend counts as down until it passes", backend, why);
}

}  // namespace laminar::policy

// SPDX-License-Identifier: Apache-2.0
// Multi-key commands split into one command per key, and commands sent to every backend.
#include "net/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "backend/kill_reply.h"
#include "net/host.h"
#include "net/invalidations.h"
#include "net/worker.h"
#include "policy/owned_command.h"
#include "resp/reply_view.h"
#include "resp/resp3.h"
#include "net/session_internal.h"

namespace laminar::net {

namespace {

// One client command split into one command per key (MGET -> GETs, MSET -> SETs, DEL/UNLINK/
// EXISTS/TOUCH -> one each), each routed on its own, and the replies merged as the original
// command would have answered: MGET in order (a wrong-type key reads as nil, as in Redis), counts
// summed, MSET +OK. A part that laminar could not get an answer for fails the whole command, and
// no part is sent after it.
//
// The parts go kSplitWindow at a time, the next as earlier ones are answered: a command of a
// million keys holds its arguments, a window of parts and (MGET) its answer, never a million
// commands at once, and its parts never fill a backend connection ahead of other clients'.
constexpr size_t kSplitWindow = 1024;

struct SplitJob {
    enum class Kind { kMget, kSum, kMset };
    // Sends part `index` to `sink`; false when it was not sent (abort() said why).
    using Sender = std::function<bool(size_t index, backend::ReplySink* sink)>;

    struct Part final : backend::ReplySink {
        SplitJob* job = nullptr;
        size_t index = 0;
        void complete(std::string_view raw, bool failed) override { job->done(*this, raw, failed); }
    };

    SplitJob(Kind k, size_t parts, backend::ReplySink* client_sink) : client(client_sink), kind(k), total(parts), pool(std::min(parts, kSplitWindow)) {
        for (auto& p : pool) {
            p.job = this;
            idle.push_back(&p);
        }
        if (kind == Kind::kMget) replies.resize(total);
    }

    // Sends parts while the window has room. Deletes the job once the parts sent are all answered
    // and no more will be: nothing may touch it after this returns.
    void pump() {
        pumping = true;
        while (next < total && failure.empty() && !idle.empty()) {
            Part* p = idle.back();
            idle.pop_back();
            p->index = next++;
            ++inflight;
            if (!send(p->index, p)) {
                --inflight;
                idle.push_back(p);
                break;
            }
        }
        pumping = false;
        if (inflight > 0 || (next < total && failure.empty())) return;
        finish();
        if (total > kSplitWindow) io::freedLarge();  // its arguments, and an MGET's answer
        delete this;
    }

    void abort(std::string_view error) {
        if (failure.empty()) failure.assign(error);
    }

    backend::ReplySink* client;
    Kind kind;
    Sender send;
    std::string_view null = "$-1\r\n";  // kMget: a failed part's element, in the client's protocol

private:
    void done(Part& p, std::string_view raw, bool bad) {
        if (bad || (kind != Kind::kMget && resp::isError(raw))) {
            if (failure.empty()) failure.assign(raw);
            failed = failed || bad;
        } else if (kind == Kind::kMget) {
            replies[p.index].assign(raw);
        } else if (kind == Kind::kSum) {
            long long v = 0;
            resp::integerValue(raw, v);
            sum += v;
        }
        --inflight;
        idle.push_back(&p);
        if (!pumping) pump();  // a part answered while sending (a backend that is down) is counted by the loop
    }

    void finish() {
        if (!failure.empty()) {
            client->complete(failure, failed);
            return;
        }
        std::string out;
        switch (kind) {
            case Kind::kMget:
                resp::appendArrayHeader(out, replies.size());
                for (const auto& r : replies) out += resp::isError(r) ? null : std::string_view(r);
                break;
            case Kind::kSum:
                resp::appendInteger(out, sum);
                break;
            case Kind::kMset:
                out = "+OK\r\n";
                break;
        }
        client->complete(out, false);
    }

    size_t total, next = 0, inflight = 0;
    bool pumping = false;
    std::vector<std::string> replies;  // kMget
    long long sum = 0;                 // kSum
    std::string failure;
    bool failed = false;
    std::vector<Part> pool;
    std::vector<Part*> idle;
};

// One backend's copy of a script, beside the client's own SCRIPT LOAD: nobody waits for it.
struct ScriptCopy final : backend::ReplySink {
    std::string backend;
    void complete(std::string_view raw, bool failed) override {
        if (failed || resp::isError(raw))
            sessionLog()->debug("SCRIPT LOAD on backend '{}' failed ({}); EVALSHA there answers NOSCRIPT", backend,
                         raw.substr(0, raw.find('\r')));
        delete this;
    }
};

}  // namespace

// The client gets its route's answer; every other Redis backend learns the script in the
// background too, so EVALSHA finds it on either side of a migration whatever phase the route is
// in when it runs (memcached has no scripts). Loading a script twice is harmless.
void Session::loadScriptEverywhere(std::string_view raw) {
    const auto& cfg = worker_.snapshot()->config();
    for (size_t i = 0; i < cfg.backends.size(); ++i) {
        if (cfg.backends[i].type == config::BackendConfig::Type::kMemcached) continue;
        auto* copy = new ScriptCopy;
        copy->backend = cfg.backends[i].name;
        worker_.background().send(static_cast<int>(i), raw, copy);
    }
}

// FLUSHALL / FLUSHDB (when client.allow_admin lets them through) empty every backend: +OK when all
// did, else the first error.
Session::Outcome Session::toEveryBackend(std::string_view raw) {
    size_t n = worker_.snapshot()->config().backends.size();
    Slot& slot = newSlot();
    if (worker_.host().invalidations().active()) {  // FLUSHALL, FLUSHDB
        slot.changes = std::make_unique<Changes>();
        slot.changes->all = true;
    }
    ++inflight_;
    auto* job = new SplitJob(SplitJob::Kind::kMset, n, &slot);
    job->send = [this, raw = std::string(raw)](size_t i, backend::ReplySink* sink) {
        send(static_cast<int>(i), raw, sink);
        return true;
    };
    job->pump();
    return Outcome::kDone;
}

Session::Outcome Session::killScripts(const policy::Route& route, const policy::Request& req) {
    policy::Context ctx = context(route);
    std::vector<int> backends{route.strategy->pinTarget()};
    route.strategy->targets(req, ctx, true, backends);
    route.strategy->targets(req, ctx, false, backends);
    std::sort(backends.begin(), backends.end());
    backends.erase(std::unique(backends.begin(), backends.end()), backends.end());
    std::erase_if(backends, [](int b) { return b < 0; });
    if (backends.empty()) {
        replyError("ERR laminar: route '" + route.name + "' reaches no backend", obs::ErrorKind::kRefused);
        return Outcome::kDone;
    }
    Slot& slot = newSlot();
    ++inflight_;
    auto* job = new backend::KillReplies(backends.size(), &slot);
    for (size_t i = 0; i < backends.size(); ++i) worker_.backend(backends[i]).sendAside(req.raw, &job->part(i));
    job->sent();
    return Outcome::kDone;
}

Session::Outcome Session::splitMultiKey(const resp::CommandInfo& cmd, std::span<const std::string_view> argv) {
    auto snapshot = worker_.snapshot();
    std::string_view n = cmd.name;
    const auto kind = n == "mget" ? SplitJob::Kind::kMget : n == "mset" ? SplitJob::Kind::kMset : SplitJob::Kind::kSum;
    // One part per key: GET key, SET key value (MSET's keys are every other argument), or the
    // command itself with one key.
    const bool with_value = kind == SplitJob::Kind::kMset;
    std::string sub = kind == SplitJob::Kind::kMget ? "GET" : with_value ? "SET" : std::string(argv[0]);
    std::string_view probe[3] = {sub, argv[static_cast<size_t>(keys_[0])], with_value ? argv[static_cast<size_t>(keys_[0]) + 1] : ""};
    const resp::CommandInfo* part_cmd = resp::lookupCommand(std::span<const std::string_view>(probe, with_value ? 3 : 2));
    auto key = [&](size_t i) { return argv[static_cast<size_t>(keys_[i])]; };

    // A part on a route the user may not use refuses the whole command before any is sent (that
    // first: a user's rights come before what the routes do)...
    if (!user_.empty())
        for (size_t i = 0; i < keys_.size(); ++i)
            if (denied(*snapshot->routeForKey(*part_cmd, key(i)), cmd, {})) return Outcome::kDone;
    // ...and so does a part a route refuses (read_only): Redis never applies part of an MSET.
    if (cmd.has(resp::kWrite)) {
        for (size_t i = 0; i < keys_.size(); ++i) {
            const policy::Route* route = snapshot->routeForKey(*part_cmd, key(i));
            if (!route->strategy->refusesWrites()) continue;
            std::vector<std::string> words{sub, std::string(key(i))};
            if (with_value) words.emplace_back(argv[static_cast<size_t>(keys_[i]) + 1]);
            policy::OwnedCommand part(std::move(words));
            routeCounters(*route).countCommand(obs::commandClass(cmd));
            Slot& slot = newSlot();
            ++inflight_;
            policy::Context ctx = context(*route);
            route->strategy->execute(part.request(), &slot, ctx);
            return Outcome::kDone;
        }
    }
    // Each part counts as a command of its own route.
    for (size_t i = 0; i < keys_.size(); ++i)
        routeCounters(*snapshot->routeForKey(*part_cmd, key(i))).countCommand(obs::commandClass(*part_cmd));

    // The arguments outlive the client's input buffer: one string, and where each part's start.
    std::string args;
    std::vector<size_t> starts;
    starts.reserve(keys_.size() * (with_value ? 2 : 1) + 1);
    for (size_t i = 0; i < keys_.size(); ++i) {
        starts.push_back(args.size());
        args.append(key(i));
        if (!with_value) continue;
        starts.push_back(args.size());
        args.append(argv[static_cast<size_t>(keys_[i]) + 1]);
    }
    starts.push_back(args.size());

    Slot& slot = newSlot();
    noteChanges(slot, cmd, argv);
    ++inflight_;
    auto* job = new SplitJob(kind, keys_.size(), &slot);
    job->null = resp::nullReply(resp3_);
    job->send = [this, job, snapshot = std::move(snapshot), sub = std::move(sub), args = std::move(args), starts = std::move(starts),
                 with_value](size_t i, backend::ReplySink* sink) {
        if (closed_) {
            job->abort("-ERR laminar: the client closed its connection\r\n");
            return false;
        }
        if (worker_.snapshot() != snapshot) {
            // Later parts would be routed by another configuration than the earlier ones (and
            // its flip barrier was not checked for them).
            job->abort("-TRYAGAIN laminar: the configuration was reloaded while this command's parts were being sent; retry\r\n");
            return false;
        }
        size_t a = with_value ? 2 * i : i;
        auto arg = [&](size_t k) { return std::string(args, starts[k], starts[k + 1] - starts[k]); };
        std::vector<std::string> words{sub, arg(a)};
        if (with_value) words.push_back(arg(a + 1));
        policy::OwnedCommand part(std::move(words));
        const policy::Route* route = snapshot->routeForKey(*part.cmd, part.words[1]);
        policy::Context ctx = context(*route);
        route->strategy->execute(part.request(), sink, ctx);
        return true;
    };
    job->pump();  // may answer and delete the job at once (a backend that is down)
    return Outcome::kDone;
}

}  // namespace laminar::net

// SPDX-License-Identifier: Apache-2.0
#include "app/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include "obs/prometheus.h"
#include "obs/thread_metrics.h"
#include "app/server.h"
#include "policy/migration.h"
#include "policy/route_stats.h"
#include "policy/snapshot.h"

namespace laminar::app {
namespace {

using Type = obs::PrometheusWriter::Type;

// Adds up one number over every I/O thread's metrics.
template <class Get>
auto total(const app::Server& server, Get get) {
    decltype(get(server.worker(0).stats())) sum{};
    for (size_t i = 0; i < server.workerCount(); ++i) sum += get(server.worker(i).stats());
    return sum;
}

void daemon(obs::PrometheusWriter& w, const app::Server& server) {
    const auto& snap = server.snapshot();
    w.family("laminar_build_info", Type::kGauge, "Always 1, labelled with the version laminar was built as.");
    w.sample({{"version", LAMINAR_VERSION}}, uint64_t{1});
    w.family("laminar_uptime_seconds", Type::kGauge, "Seconds since laminar started.");
    w.sample({}, std::chrono::duration<double>(std::chrono::steady_clock::now() - server.startedAt()).count());
    w.family("laminar_config_generation", Type::kGauge, "Generation of the configuration in use: 1 at start, one more per successful reload.");
    w.sample({}, snap.generation());
    w.family("laminar_config_info", Type::kGauge, "Always 1, labelled with the hash and file of the configuration in use.");
    w.sample({{"hash", snap.config().hash}, {"file", server.configPath()}}, uint64_t{1});
    w.family("laminar_reloads_total", Type::kCounter, "Configuration reloads (SIGHUP, LAMINAR RELOAD) by result; a failed one changes nothing.");
    w.sample({{"result", "ok"}}, server.reloadsOk());
    w.sample({{"result", "failed"}}, server.reloadsFailed());
}

void clients(obs::PrometheusWriter& w, const app::Server& server) {
    w.family("laminar_client_connections", Type::kGauge, "Client connections open now.");
    w.sample({}, uint64_t{server.registry().size()});
    w.family("laminar_client_connections_total", Type::kCounter, "Client connections accepted since start, rejected ones included.");
    w.sample({}, server.totalConnections());
    w.family("laminar_client_connections_rejected_total", Type::kCounter,
             "Client connections closed at once because client.max_clients was reached.");
    w.sample({}, server.rejectedConnections());
    w.family("laminar_client_tls_handshake_failures_total", Type::kCounter,
             "TLS client connections closed because the handshake failed (not TLS, untrusted or missing certificate, timeout).");
    w.sample({}, total(server, [](const obs::ThreadMetrics& t) { return t.tls_handshake_failures.value(); }));
    w.family("laminar_io_threads_batch_scheduled", Type::kGauge,
             "I/O threads running under SCHED_BATCH now (io_scheduling: batch, or adaptive while their wait for the CPU stays short).");
    w.sample({}, static_cast<double>(total(server, [](const obs::ThreadMetrics& t) { return t.sched_batch.value(); })));
    w.family("laminar_io_scheduling_fallbacks_total", Type::kCounter,
             "io_scheduling: adaptive: times an I/O thread waited too long for the CPU under SCHED_BATCH and went back to the normal policy.");
    w.sample({}, total(server, [](const obs::ThreadMetrics& t) { return t.sched_fallbacks.value(); }));
    w.family("laminar_pinned_clients", Type::kGauge,
             "Clients on a dedicated backend connection now (MULTI, WATCH, blocking commands, pub/sub, SELECT).");
    w.sample({}, static_cast<double>(total(server, [](const obs::ThreadMetrics& t) { return t.pinned.value(); })));
    w.family("laminar_client_commands_total", Type::kCounter, "Commands received from clients, those laminar answers itself included.");
    w.sample({}, total(server, [](const obs::ThreadMetrics& t) { return t.commands.value(); }));

    // Per route (and strategy type): its counters on every thread that has them, looked up once.
    // Errors of commands that reached no route (malformed, unknown, refused before routing...)
    // count under route="" strategy="".
    const auto& routes = server.snapshot().routes();
    std::vector<std::vector<const obs::RouteCounters*>> found(routes.size());
    for (size_t r = 0; r < routes.size(); ++r) {
        std::string strategy(routes[r].strategy->type());
        for (size_t i = 0; i < server.workerCount(); ++i)
            if (const auto* counters = server.worker(i).stats().findRoute(routes[r].name, strategy)) found[r].push_back(counters);
    }
    auto routeTotal = [&](size_t r, auto get) {
        uint64_t n = 0;
        for (const auto* counters : found[r]) n += get(*counters);
        return n;
    };
    w.family("laminar_commands_total", Type::kCounter,
             "Commands routed, by route, its strategy type and command class (read, write, other); a multi-key command split "
             "per key counts once per key.");
    for (size_t r = 0; r < routes.size(); ++r) {
        for (size_t c = 0; c < obs::kCommandClasses; ++c) {
            auto n = routeTotal(r, [&](const obs::RouteCounters& rc) { return rc.commands[c].value(); });
            w.sample({{"route", routes[r].name}, {"strategy", routes[r].strategy->type()}, {"class", name(static_cast<obs::CommandClass>(c))}}, n);
        }
    }
    w.family("laminar_errors_total", Type::kCounter,
             "Error replies to clients by route, strategy and kind: protocol, auth, command (unknown, wrong arguments), refused "
             "(by laminar or a strategy), backend_unavailable, backend_timeout, backend_error (the backend's own, passed "
             "through). Errors before any route was chosen have route=\"\".");
    for (size_t k = 0; k < obs::kErrorKinds; ++k) {
        auto kind = static_cast<obs::ErrorKind>(k);
        w.sample({{"route", ""}, {"strategy", ""}, {"kind", name(kind)}}, total(server, [&](const obs::ThreadMetrics& t) { return t.unroutedErrors(kind); }));
    }
    for (size_t r = 0; r < routes.size(); ++r) {
        for (size_t k = 0; k < obs::kErrorKinds; ++k) {
            auto n = routeTotal(r, [&](const obs::RouteCounters& rc) { return rc.errors[k].value(); });
            w.sample({{"route", routes[r].name}, {"strategy", routes[r].strategy->type()}, {"kind", name(static_cast<obs::ErrorKind>(k))}}, n);
        }
    }
}

void backends(obs::PrometheusWriter& w, const app::Server& server) {
    const auto& snap = server.snapshot();
    const auto& list = snap.config().backends;
    w.family("laminar_backend_up", Type::kGauge, "1 while some I/O thread has a working shared connection to the backend, else 0.");
    for (size_t i = 0; i < list.size(); ++i) {
        bool up = snap.state(static_cast<int>(i)) != policy::Health::State::kDown;
        w.sample({{"backend", list[i].name}, {"type", list[i].typeName()}}, uint64_t{up});
    }
    w.family("laminar_backend_transitions_total", Type::kCounter,
             "Times the backend went down (to=down) or came back up (to=up), every one, though the log sums up a backend that "
             "flaps once per log.flap_interval.");
    for (const auto& b : list) {
        auto cell = snap.registry().health.cell(b.name);
        w.sample({{"backend", b.name}, {"to", "down"}}, cell->went_down.load(std::memory_order_relaxed));
        w.sample({{"backend", b.name}, {"to", "up"}}, cell->went_up.load(std::memory_order_relaxed));
    }
    w.family("laminar_backend_connections", Type::kGauge,
             "Connections to the backend: shared (established, multiplexed) and dedicated (held by pinned clients or pooled).");
    for (const auto& b : list) {
        auto level = [&](obs::LocalGauge obs::BackendCounters::*gauge) {
            return static_cast<double>(total(server, [&](const obs::ThreadMetrics& t) {
                const auto* counters = t.findBackend(b.name);
                return counters ? (counters->*gauge).value() : int64_t{0};
            }));
        };
        w.sample({{"backend", b.name}, {"kind", "shared"}}, level(&obs::BackendCounters::shared));
        w.sample({{"backend", b.name}, {"kind", "dedicated"}}, level(&obs::BackendCounters::dedicated));
    }
    auto clusterSum = [&](const config::BackendConfig& b, obs::LocalCounter obs::BackendCounters::*c) {
        return total(server, [&](const obs::ThreadMetrics& t) {
            const auto* counters = t.findBackend(b.name);
            return counters ? (counters->*c).value() : uint64_t{0};
        });
    };
    w.family("laminar_cluster_redirects_total", Type::kCounter,
             "redis_cluster backends: -MOVED and -ASK redirects laminar followed for its clients (slots moving, a stale map).");
    for (const auto& b : list) {
        if (b.type != config::BackendConfig::Type::kRedisCluster) continue;
        w.sample({{"backend", b.name}, {"kind", "moved"}}, clusterSum(b, &obs::BackendCounters::moved));
        w.sample({{"backend", b.name}, {"kind", "ask"}}, clusterSum(b, &obs::BackendCounters::ask));
    }
    w.family("laminar_cluster_retries_total", Type::kCounter,
             "redis_cluster backends: commands retried after -TRYAGAIN, -CLUSTERDOWN or an unreachable master (failover).");
    for (const auto& b : list)
        if (b.type == config::BackendConfig::Type::kRedisCluster) w.sample({{"backend", b.name}}, clusterSum(b, &obs::BackendCounters::retried));
    static const auto kBounds = [] {
        std::array<double, obs::LatencyHistogram::kBoundsMicros.size()> out{};
        for (size_t i = 0; i < out.size(); ++i) out[i] = obs::LatencyHistogram::kBoundsMicros[i] / 1e6;
        return out;
    }();
    w.family("laminar_backend_latency_seconds", Type::kHistogram, "Time from sending a command to the backend to its reply.");
    for (const auto& b : list) {
        std::array<uint64_t, obs::LatencyHistogram::kBuckets> counts{};
        uint64_t sum_micros = 0;
        for (size_t i = 0; i < server.workerCount(); ++i)
            if (const auto* counters = server.worker(i).stats().findBackend(b.name)) counters->latency.addTo(counts, sum_micros);
        w.histogram({{"backend", b.name}}, kBounds, counts, static_cast<double>(sum_micros) / 1e6);
    }
}

void routes(obs::PrometheusWriter& w, const app::Server& server) {
    const auto& list = server.snapshot().routes();
    for (const auto& field : policy::RouteStats::fields()) {
        w.family(fmt::format("laminar_route_{}_total", field.name), Type::kCounter, field.help);
        for (const auto& route : list) w.sample({{"route", route.name}}, (route.stats.get()->*field.counter).load(std::memory_order_relaxed));
    }
    w.family("laminar_sync_pending_keys", Type::kGauge, "Keys the sync engine has queued, in flight or announced, over every route.");
    w.sample({}, static_cast<double>(std::max<int64_t>(0, server.sync().pendingTotal())));
    w.family("laminar_sync_queued_total", Type::kCounter, "Keys queued for a copy by the sync engine since start.");
    w.sample({}, server.sync().queuedTotal());
    auto backlogs = server.sync().backlogs();
    w.family("laminar_sync_backlog_keys", Type::kGauge,
             "Keys of a copy direction (pair: from>to) whose copy failed because a side was away, retried until it answers.");
    for (const auto& [pair, b] : backlogs) w.sample({{"pair", pair}}, static_cast<double>(b.keys));
    w.family("laminar_sync_backlog_oldest_seconds", Type::kGauge, "Seconds since the oldest key of the direction's backlog first failed to copy.");
    for (const auto& [pair, b] : backlogs) w.sample({{"pair", pair}}, b.oldest_seconds);
    w.family("laminar_route_phase", Type::kGauge, "1 for the phase each migration route is in (phase: old_only, dual_write_read_old, dual_write_read_new, new_only).");
    for (const auto& [route, rec] : server.snapshot().registry().migrations.all())
        w.sample({{"route", route}, {"phase", std::string(policy::Migration::phaseName(rec.phase))}}, uint64_t{1});
    auto canaries = server.canaries().paths();
    w.family("laminar_canary_ok", Type::kGauge, "1 while the path's canary is written and read back, 0 while it fails (path: backend:NAME or queue:NAME).");
    for (const auto& [name, p] : canaries)
        if (p.known) w.sample({{"path", "backend:" + name}}, uint64_t{p.ok});
    if (auto* q = server.queue())
        for (const auto& [name, c] : q->canaries()) w.sample({{"path", "queue:" + name}}, uint64_t{!c.stale});
    w.family("laminar_canary_age_seconds", Type::kGauge, "Seconds since the path's last good canary (backend) or since the last canary that came through the queue.");
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& [name, p] : canaries)
        if (p.last_ok_ms) w.sample({{"path", "backend:" + name}}, static_cast<double>(now_ms - p.last_ok_ms) / 1000.0);
    if (auto* q = server.queue())
        for (const auto& [name, c] : q->canaries()) w.sample({{"path", "queue:" + name}}, c.age_seconds);
    // The queue's families are always there (empty until a queued_write route opens the queue),
    // so dashboards and alerts can name them.
    policy::WriteQueue::Status st;
    if (auto* q = server.queue()) st = q->status();
    w.family("laminar_queue_records", Type::kGauge, "Write queue records a target has not applied yet.");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.records);
    w.family("laminar_queue_bytes", Type::kGauge, "Bytes of the write queue records a target has not applied yet.");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.bytes);
    w.family("laminar_queue_lag_seconds", Type::kGauge, "Age of the oldest write queue record a target has not applied yet (0: none).");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.lag_seconds);
    w.family("laminar_queue_applied_total", Type::kCounter, "Write queue records applied to a target since start.");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.applied);
    w.family("laminar_queue_retries_total", Type::kCounter, "Times a target failed and the queue went back to its first unapplied record.");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.retries);
    w.family("laminar_queue_apply_errors_total", Type::kCounter, "Write queue records a target answered with an error (counted, logged, not retried).");
    for (const auto& [t, s] : st.targets) w.sample({{"target", t}}, s.errors);
    bool open = server.queue() != nullptr;
    w.family("laminar_queue_lost_records", Type::kGauge, "Write queue records found damaged or missing at open: their writes never reach the targets.");
    if (open) w.sample({}, st.lost_records);
    w.family("laminar_queue_appended_total", Type::kCounter, "Records appended to the write queue since start.");
    if (open) w.sample({}, st.appended);
    w.family("laminar_queue_rejected_total", Type::kCounter, "Writes refused because the write queue was full.");
    if (open) w.sample({}, st.rejected);
    w.family("laminar_queue_fsyncs_total", Type::kCounter, "fsync calls of the write queue since start.");
    if (open) w.sample({}, st.fsyncs);
    auto backfills = server.backfills();
    w.family("laminar_backfill_scanned_keys", Type::kGauge, "Keys the route's latest backfill has scanned on the primary.");
    for (const auto& [route, p] : backfills) w.sample({{"route", route}}, p.scanned);
    w.family("laminar_backfill_queued_keys", Type::kGauge, "Keys the route's latest backfill has handed to the sync engine.");
    for (const auto& [route, p] : backfills) w.sample({{"route", route}}, p.queued);
    w.family("laminar_backfill_left_keys", Type::kGauge, "Keys the route's latest backfill queued that the sync engine has not copied yet.");
    for (const auto& [route, p] : backfills) w.sample({{"route", route}}, static_cast<double>(std::max<int64_t>(0, p.left)));
    w.family("laminar_backfill_failed_keys", Type::kGauge, "Keys the route's latest backfill queued that the sync engine gave up copying (logged).");
    for (const auto& [route, p] : backfills) w.sample({{"route", route}}, p.failed);
    w.family("laminar_backfill_state", Type::kGauge, "1 for the state the route's latest backfill is in (running, draining, done, stopped, failed).");
    for (const auto& [route, p] : backfills)
        for (const char* state : {"running", "draining", "done", "stopped", "failed"})
            w.sample({{"route", route}, {"state", state}}, uint64_t{std::string_view(p.state) == state});
}

}  // namespace

std::string metricsText(const app::Server& server) {
    obs::PrometheusWriter w;
    daemon(w, server);
    clients(w, server);
    backends(w, server);
    routes(w, server);
    return w.text();
}

// Ready while the backend that answers the catch-all route's clients (its pin target: a proxy's
// target, a dual write's primary, a migration's read side) is up. A secondary that is down does
// not make the instance unready: clients still get their answers, and its copies wait in the
// sync backlog; degradation() says so.
std::string unreadiness(const app::Server& server) {
    if (server.shuttingDown()) return "shutting down";
    const auto& snap = server.snapshot();
    int b = snap.catchAll().strategy->pinTarget();
    if (b < 0 || snap.state(b) != policy::Health::State::kDown) return {};
    const auto& backend = snap.config().backends[static_cast<size_t>(b)];
    return fmt::format("backend '{}' at {} is down (it answers the catch-all route '{}')", backend.name, backend.address.str(),
                       snap.catchAll().name);
}

std::string degradation(const app::Server& server) {
    std::string out;
    auto add = [&out](const std::string& what) { out += (out.empty() ? "" : "; ") + what; };
    const auto& snap = server.snapshot();
    for (size_t i = 0; i < snap.config().backends.size(); ++i) {
        int b = static_cast<int>(i);
        if (snap.state(b) != policy::Health::State::kDown) continue;
        bool used = false, answers = snap.catchAll().strategy->pinTarget() == b;
        for (const auto& r : snap.routes()) used = used || std::find(r.backends.begin(), r.backends.end(), b) != r.backends.end();
        if (used && !answers) add(fmt::format("backend '{}' at {} is down", snap.config().backends[i].name, snap.config().backends[i].address.str()));
    }
    for (const auto& [pair, b] : server.sync().backlogs())
        add(fmt::format("{} keys wait to be copied {} (oldest {:.1f} s)", b.keys, pair, b.oldest_seconds));
    if (auto* q = server.queue()) {
        auto st = q->status();
        if (st.lost_records) add(fmt::format("the write queue lost {} records to damage at open (see the log)", st.lost_records));
        if (auto why = q->error(); !why.empty()) add(fmt::format("the write queue cannot write: {}", why));
    }
    return out;
}

}  // namespace laminar::app

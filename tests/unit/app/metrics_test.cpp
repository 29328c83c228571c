// SPDX-License-Identifier: Apache-2.0
// What the admin endpoint reports (src/app/metrics.cpp): the /metrics lines of a server that was
// built but not run (no thread, no socket: the I/O threads' counters are set by the test), summed
// over its I/O threads, and the /readyz reasons (unreadiness, degradation) as backend health
// changes.
#include "app/metrics.h"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "app/server.h"
#include "policy/snapshot.h"

namespace laminar::app {
namespace {

// Backends old, new and spare; route `a` (keys a:*) on new, the catch-all `r` on old; spare is in
// no route. Two I/O threads, so that totals are sums.
const char* kConfig =
    "threads: 2\n"
    "backends:\n"
    "  old: {address: 127.0.0.1:1}\n"
    "  new: {address: 127.0.0.1:2}\n"
    "  spare: {address: 127.0.0.1:3}\n"
    "routes:\n"
    "  - name: a\n"
    "    match: {keys: ['a:*']}\n"
    "    strategy: new\n"
    "  - name: r\n"
    "    strategy: old\n";

class MetricsTest : public ::testing::Test {
protected:
    explicit MetricsTest(const std::string& yaml = kConfig)
        : snapshot_(std::make_shared<const policy::Snapshot>(config::loadString(yaml, "laminar.yaml"), 1)),
          server_(snapshot_, "/etc/laminar/laminar.yaml") {}

    // The I/O thread's own counters, which only that thread writes; none runs here, so the test
    // stands in for it.
    obs::ThreadMetrics& thread(size_t i) { return const_cast<Worker&>(server_.worker(i)).stats(); }
    backend::HealthCell& cell(const std::string& backend) { return *snapshot_->registry().health.cell(backend); }
    // As the I/O threads report a backend they tried and cannot reach.
    void down(const std::string& backend) {
        cell(backend).known_threads = 1;
        cell(backend).up_threads = 0;
    }

    // The value of the sample written exactly as `series` (name and labels), or "absent".
    std::string value(const std::string& series) {
        std::istringstream in(metricsText(server_));
        std::string line, found = "absent";
        int seen = 0;
        while (std::getline(in, line))
            if (line.starts_with(series + " ")) {
                found = line.substr(series.size() + 1);
                ++seen;
            }
        EXPECT_LE(seen, 1) << series << " is written " << seen << " times";
        return found;
    }
    // Sample lines (not HELP or TYPE) of metric `name` (its histogram series included).
    std::vector<std::string> samples(const std::string& name) {
        std::istringstream in(metricsText(server_));
        std::vector<std::string> out;
        for (std::string line; std::getline(in, line);)
            if (line.starts_with(name + "{") || line.starts_with(name + " ") || line.starts_with(name + "_bucket{") ||
                line.starts_with(name + "_sum") || line.starts_with(name + "_count"))
                out.push_back(line);
        return out;
    }
    bool hasFamily(const std::string& name, const std::string& type) {
        auto text = metricsText(server_);
        return text.find("# TYPE " + name + " " + type + "\n") != std::string::npos && text.find("# HELP " + name + " ") != std::string::npos;
    }

    std::shared_ptr<const policy::Snapshot> snapshot_;
    Server server_;
};

TEST_F(MetricsTest, NamesTheBuildTheConfigurationAndItsFile) {
    EXPECT_EQ(value("laminar_build_info{version=\"" LAMINAR_VERSION "\"}"), "1");
    EXPECT_EQ(value("laminar_config_generation"), "1");
    EXPECT_EQ(value("laminar_config_info{hash=\"" + snapshot_->config().hash + "\",file=\"/etc/laminar/laminar.yaml\"}"), "1");
    EXPECT_FALSE(snapshot_->config().hash.empty());
    EXPECT_EQ(value("laminar_reloads_total{result=\"ok\"}"), "0");
    EXPECT_EQ(value("laminar_reloads_total{result=\"failed\"}"), "0");
    auto uptime = value("laminar_uptime_seconds");
    ASSERT_NE(uptime, "absent");
    EXPECT_GE(std::stod(uptime), 0.0);
    EXPECT_LT(std::stod(uptime), 600.0);
}

TEST_F(MetricsTest, EveryFamilyHasItsHelpAndType) {
    EXPECT_TRUE(hasFamily("laminar_client_commands_total", "counter"));
    EXPECT_TRUE(hasFamily("laminar_client_connections", "gauge"));
    EXPECT_TRUE(hasFamily("laminar_backend_up", "gauge"));
    EXPECT_TRUE(hasFamily("laminar_backend_latency_seconds", "histogram"));
    EXPECT_TRUE(hasFamily("laminar_route_shadow_mismatches_total", "counter"));
    EXPECT_TRUE(hasFamily("laminar_sync_pending_keys", "gauge"));
}

TEST_F(MetricsTest, ThreadCountersAreSummedOverTheIoThreads) {
    ASSERT_EQ(server_.workerCount(), 2u);
    thread(0).commands.add(3);
    thread(1).commands.add(4);
    thread(0).tls_handshake_failures.add(1);
    thread(1).pinned.add(2);
    thread(0).pinned.add(-1);
    EXPECT_EQ(value("laminar_client_commands_total"), "7");
    EXPECT_EQ(value("laminar_client_tls_handshake_failures_total"), "1");
    EXPECT_EQ(value("laminar_pinned_clients"), "1");
    EXPECT_EQ(value("laminar_io_threads_batch_scheduled"), "0");
    EXPECT_EQ(value("laminar_client_connections"), "0");
    EXPECT_EQ(value("laminar_client_connections_total"), "0");
}

TEST_F(MetricsTest, CommandsAreCountedPerRouteStrategyAndClassOverEveryThread) {
    thread(0).route(0).countCommand(obs::CommandClass::kRead);
    thread(1).route(0).countCommand(obs::CommandClass::kRead);
    thread(1).route(1).countCommand(obs::CommandClass::kWrite);
    EXPECT_EQ(value("laminar_commands_total{route=\"a\",strategy=\"proxy\",class=\"read\"}"), "2");
    EXPECT_EQ(value("laminar_commands_total{route=\"a\",strategy=\"proxy\",class=\"write\"}"), "0");
    EXPECT_EQ(value("laminar_commands_total{route=\"r\",strategy=\"proxy\",class=\"write\"}"), "1");
    EXPECT_EQ(value("laminar_commands_total{route=\"r\",strategy=\"proxy\",class=\"other\"}"), "0");
    EXPECT_EQ(samples("laminar_commands_total").size(), 2u * obs::kCommandClasses) << "every route, every class, from the start";
}

TEST_F(MetricsTest, ErrorsBeforeAnyRouteCountUnderAnEmptyRoute) {
    thread(0).countError(obs::ErrorKind::kProtocol, nullptr);
    thread(1).countError(obs::ErrorKind::kProtocol, nullptr);
    thread(1).countError(obs::ErrorKind::kBackendTimeout, &thread(1).route(1));
    EXPECT_EQ(value("laminar_errors_total{route=\"\",strategy=\"\",kind=\"protocol\"}"), "2");
    EXPECT_EQ(value("laminar_errors_total{route=\"r\",strategy=\"proxy\",kind=\"backend_timeout\"}"), "1");
    EXPECT_EQ(value("laminar_errors_total{route=\"a\",strategy=\"proxy\",kind=\"backend_timeout\"}"), "0");
    EXPECT_EQ(samples("laminar_errors_total").size(), 3u * obs::kErrorKinds) << "unrouted, then each route";
}

TEST_F(MetricsTest, ABackendIsUpUntilItsThreadsReportItDown) {
    EXPECT_EQ(value("laminar_backend_up{backend=\"old\",type=\"redis\"}"), "1");
    down("old");
    EXPECT_EQ(value("laminar_backend_up{backend=\"old\",type=\"redis\"}"), "0");
    EXPECT_EQ(value("laminar_backend_up{backend=\"new\",type=\"redis\"}"), "1");
    cell("new").noteFailure();
    EXPECT_EQ(value("laminar_backend_up{backend=\"new\",type=\"redis\"}"), "1") << "degraded is still up";
    cell("spare").canary_failing = true;
    EXPECT_EQ(value("laminar_backend_up{backend=\"spare\",type=\"redis\"}"), "0") << "a failing canary is down";
}

TEST_F(MetricsTest, TransitionsAreTheHealthCellsCounts) {
    cell("new").went_down = 3;
    cell("new").went_up = 2;
    EXPECT_EQ(value("laminar_backend_transitions_total{backend=\"new\",to=\"down\"}"), "3");
    EXPECT_EQ(value("laminar_backend_transitions_total{backend=\"new\",to=\"up\"}"), "2");
    EXPECT_EQ(value("laminar_backend_transitions_total{backend=\"old\",to=\"down\"}"), "0");
}

TEST_F(MetricsTest, ConnectionsAreSummedPerBackendAndKind) {
    thread(0).backend("old").shared.add(1);
    thread(1).backend("old").shared.add(1);
    thread(1).backend("old").dedicated.add(3);
    EXPECT_EQ(value("laminar_backend_connections{backend=\"old\",kind=\"shared\"}"), "2");
    EXPECT_EQ(value("laminar_backend_connections{backend=\"old\",kind=\"dedicated\"}"), "3");
    EXPECT_EQ(value("laminar_backend_connections{backend=\"spare\",kind=\"shared\"}"), "0");
}

TEST_F(MetricsTest, LatencyIsOneCumulativeHistogramInSecondsOverEveryThread) {
    thread(0).backend("new").latency.observe(300);        // 0.3 ms: in le=0.0005
    thread(1).backend("new").latency.observe(2'000);      // 2 ms: in le=0.0025
    thread(1).backend("new").latency.observe(6'000'000);  // 6 s: above every bound
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"0.00025\"}"), "0");
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"0.0005\"}"), "1");
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"0.001\"}"), "1");
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"0.0025\"}"), "2");
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"5\"}"), "2");
    EXPECT_EQ(value("laminar_backend_latency_seconds_bucket{backend=\"new\",le=\"+Inf\"}"), "3");
    EXPECT_EQ(value("laminar_backend_latency_seconds_count{backend=\"new\"}"), "3");
    EXPECT_EQ(std::stod(value("laminar_backend_latency_seconds_sum{backend=\"new\"}")), 6.0023);
    EXPECT_EQ(value("laminar_backend_latency_seconds_count{backend=\"old\"}"), "0");
}

TEST_F(MetricsTest, ClusterFamiliesHaveNoSamplesWithoutAClusterBackend) {
    EXPECT_TRUE(hasFamily("laminar_cluster_redirects_total", "counter"));
    EXPECT_TRUE(samples("laminar_cluster_redirects_total").empty());
    EXPECT_TRUE(samples("laminar_cluster_retries_total").empty());
}

TEST_F(MetricsTest, RouteCountersAreWrittenPerRoute) {
    policy::RouteStats::add(snapshot_->routes()[0].stats->shadow_mismatches, 5);
    EXPECT_EQ(value("laminar_route_shadow_mismatches_total{route=\"a\"}"), "5");
    EXPECT_EQ(value("laminar_route_shadow_mismatches_total{route=\"r\"}"), "0");
    EXPECT_EQ(value("laminar_route_syncs_total{route=\"a\"}"), "0");
    for (const auto& field : policy::RouteStats::fields())
        EXPECT_EQ(samples(std::string("laminar_route_") + field.name + "_total").size(), 2u) << field.name;
}

TEST_F(MetricsTest, QueueFamiliesAreThereWithoutSamplesWhileNoQueueIsOpen) {
    ASSERT_EQ(server_.queue(), nullptr);
    for (const char* name : {"laminar_queue_records", "laminar_queue_lag_seconds", "laminar_queue_lost_records", "laminar_queue_appended_total",
                             "laminar_queue_rejected_total", "laminar_queue_fsyncs_total"}) {
        auto text = metricsText(server_);
        EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
        EXPECT_TRUE(samples(name).empty()) << name;
    }
    EXPECT_EQ(value("laminar_sync_pending_keys"), "0");
    EXPECT_EQ(value("laminar_sync_queued_total"), "0");
    EXPECT_TRUE(samples("laminar_route_phase").empty()) << "no migration route";
    EXPECT_TRUE(samples("laminar_backfill_state").empty());
}

TEST_F(MetricsTest, ReadyWhileTheCatchAllBackendIsUp) {
    EXPECT_EQ(unreadiness(server_), "");
    EXPECT_EQ(degradation(server_), "");
}

TEST_F(MetricsTest, UnreadyWhileTheBackendThatAnswersTheCatchAllRouteIsDown) {
    down("old");
    EXPECT_EQ(unreadiness(server_), "backend 'old' at 127.0.0.1:1 is down (it answers the catch-all route 'r')");
    EXPECT_EQ(degradation(server_), "") << "said once, as unreadiness";
}

TEST_F(MetricsTest, ABackendOfAnotherRouteThatIsDownDegradesButLeavesItReady) {
    down("new");
    EXPECT_EQ(unreadiness(server_), "");
    EXPECT_EQ(degradation(server_), "backend 'new' at 127.0.0.1:2 is down");
}

TEST_F(MetricsTest, ABackendInNoRouteIsNoneOfReadyzsBusiness) {
    down("spare");
    EXPECT_EQ(unreadiness(server_), "");
    EXPECT_EQ(degradation(server_), "");
}

TEST_F(MetricsTest, ShuttingDownIsUnready) {
    server_.requestShutdown();
    EXPECT_EQ(unreadiness(server_), "shutting down");
}

// A migration route: its phase is written as a 1 under that phase's label.
class MigrationMetricsTest : public MetricsTest {
protected:
    MigrationMetricsTest()
        : MetricsTest("threads: 1\n"
                      "backends:\n"
                      "  old: {address: 127.0.0.1:1}\n"
                      "  new: {address: 127.0.0.1:2}\n"
                      "routes:\n"
                      "  - name: m\n"
                      "    migration: {from: old, to: new, phase: dual_write_read_new}\n") {}
};

TEST_F(MigrationMetricsTest, TheRoutesPhaseIsOneSampleOfOne) {
    EXPECT_EQ(samples("laminar_route_phase"), std::vector<std::string>{"laminar_route_phase{route=\"m\",phase=\"dual_write_read_new\"} 1"});
}

TEST_F(MigrationMetricsTest, TheCatchAllMigrationAnswersFromItsReadSide) {
    down("old");
    EXPECT_EQ(unreadiness(server_), "") << "dual_write_read_new reads (and pins) on new";
    EXPECT_EQ(degradation(server_), "backend 'old' at 127.0.0.1:1 is down");
    down("new");
    EXPECT_EQ(unreadiness(server_), "backend 'new' at 127.0.0.1:2 is down (it answers the catch-all route 'm')");
}

}  // namespace
}  // namespace laminar::app

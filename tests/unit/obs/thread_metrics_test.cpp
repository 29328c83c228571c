// SPDX-License-Identifier: Apache-2.0
#include "obs/thread_metrics.h"

#include <gtest/gtest.h>

namespace laminar::obs {
namespace {

using Routes = std::vector<std::pair<std::string, std::string>>;

std::array<uint64_t, LatencyHistogram::kBuckets> countsOf(const LatencyHistogram& h, uint64_t& sum) {
    std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
    sum = 0;
    h.addTo(counts, sum);
    return counts;
}

TEST(ThreadMetricsTest, RouteIndicesFollowTheOrderGivenToBindRoutes) {
    ThreadMetrics m;
    m.bindRoutes({{"a", "proxy"}, {"b", "dual_write"}});
    m.route(1).countCommand(CommandClass::kWrite);
    m.route(0).countCommand(CommandClass::kRead);
    m.route(0).countCommand(CommandClass::kRead);
    EXPECT_EQ(m.findRoute("a", "proxy")->commands[static_cast<size_t>(CommandClass::kRead)].value(), 2u);
    EXPECT_EQ(m.findRoute("b", "dual_write")->commands[static_cast<size_t>(CommandClass::kWrite)].value(), 1u);
    EXPECT_EQ(m.findRoute("b", "dual_write")->commands[static_cast<size_t>(CommandClass::kRead)].value(), 0u);
}

// A reload that reorders the routes keeps each one's counters: totals never go back.
TEST(ThreadMetricsTest, ARebindKeepsARoutesCountersByNameAndType) {
    ThreadMetrics m;
    m.bindRoutes({{"a", "proxy"}, {"b", "proxy"}});
    m.route(0).countCommand(CommandClass::kOther);
    m.bindRoutes({{"b", "proxy"}, {"a", "proxy"}});
    EXPECT_EQ(&m.route(1), m.findRoute("a", "proxy"));
    m.route(1).countCommand(CommandClass::kOther);
    EXPECT_EQ(m.findRoute("a", "proxy")->commands[static_cast<size_t>(CommandClass::kOther)].value(), 2u);
}

TEST(ThreadMetricsTest, AChangedStrategyTypeStartsANewSeries) {
    ThreadMetrics m;
    m.bindRoutes({{"a", "proxy"}});
    m.route(0).countCommand(CommandClass::kRead);
    m.bindRoutes({{"a", "dual_write"}});
    EXPECT_EQ(m.route(0).commands[static_cast<size_t>(CommandClass::kRead)].value(), 0u);
    ASSERT_NE(m.findRoute("a", "proxy"), nullptr) << "the old series stays for scrapes";
    EXPECT_EQ(m.findRoute("a", "proxy")->commands[static_cast<size_t>(CommandClass::kRead)].value(), 1u);
}

TEST(ThreadMetricsTest, AllErrorsAddsRoutedAndUnroutedOnes) {
    ThreadMetrics m;
    m.bindRoutes({{"a", "proxy"}});
    m.countError(ErrorKind::kAuth, nullptr);
    m.countError(ErrorKind::kAuth, &m.route(0));
    m.countError(ErrorKind::kAuth, &m.route(0));
    m.bindRoutes({{"b", "proxy"}});  // a is no longer bound, but was counted
    m.countError(ErrorKind::kAuth, &m.route(0));
    m.countError(ErrorKind::kBackendTimeout, &m.route(0));
    EXPECT_EQ(m.unroutedErrors(ErrorKind::kAuth), 1u);
    EXPECT_EQ(m.allErrors(ErrorKind::kAuth), 4u);
    EXPECT_EQ(m.allErrors(ErrorKind::kBackendTimeout), 1u);
    EXPECT_EQ(m.allErrors(ErrorKind::kProtocol), 0u);
}

TEST(ThreadMetricsTest, FindReturnsNullForWhatWasNeverCounted) {
    ThreadMetrics m;
    EXPECT_EQ(m.findRoute("a", "proxy"), nullptr);
    EXPECT_EQ(m.findBackend("old"), nullptr);
    BackendCounters& old = m.backend("old");
    old.moved.add(3);
    EXPECT_EQ(&m.backend("old"), &old) << "made on first use only";
    EXPECT_EQ(m.findBackend("old"), &old);
    EXPECT_EQ(m.findBackend("old")->moved.value(), 3u);
    EXPECT_EQ(m.findBackend("new"), nullptr);
}

// Buckets are "at most this bound" (Prometheus's le): a bound itself falls in its own bucket.
TEST(LatencyHistogramTest, ASampleFallsInTheFirstBucketWhoseBoundHoldsIt) {
    LatencyHistogram h;
    h.observe(0);
    h.observe(100);
    h.observe(101);
    h.observe(5'000'000);
    h.observe(5'000'001);
    uint64_t sum = 0;
    auto counts = countsOf(h, sum);
    EXPECT_EQ(counts[0], 2u);
    EXPECT_EQ(counts[1], 1u);
    EXPECT_EQ(counts[LatencyHistogram::kBuckets - 2], 1u);
    EXPECT_EQ(counts[LatencyHistogram::kBuckets - 1], 1u) << "above every bound";
    EXPECT_EQ(sum, 0u + 100 + 101 + 5'000'000 + 5'000'001);
}

TEST(LatencyHistogramTest, AddToAccumulatesIntoATotal) {
    LatencyHistogram a, b;
    a.observe(300);
    b.observe(400);
    std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
    uint64_t sum = 0;
    a.addTo(counts, sum);
    b.addTo(counts, sum);
    EXPECT_EQ(counts[2], 2u) << "both in (250, 500]";
    EXPECT_EQ(sum, 700u);
}

CommandClass classOf(std::vector<std::string_view> argv) {
    const resp::CommandInfo* info = resp::lookupCommand(argv);
    EXPECT_NE(info, nullptr) << argv[0];
    return info ? commandClass(*info) : CommandClass::kOther;
}

TEST(ThreadMetricsTest, CommandClassComesFromTheCommandTable) {
    EXPECT_EQ(classOf({"GET", "k"}), CommandClass::kRead);
    EXPECT_EQ(classOf({"SET", "k", "v"}), CommandClass::kWrite);
    EXPECT_EQ(classOf({"PING"}), CommandClass::kOther);
}

TEST(ThreadMetricsTest, EnumNamesAreTheMetricLabels) {
    EXPECT_EQ(name(CommandClass::kRead), "read");
    EXPECT_EQ(name(CommandClass::kWrite), "write");
    EXPECT_EQ(name(CommandClass::kOther), "other");
    EXPECT_EQ(name(ErrorKind::kProtocol), "protocol");
    EXPECT_EQ(name(ErrorKind::kRefused), "refused");
    EXPECT_EQ(name(ErrorKind::kBackendUnavailable), "backend_unavailable");
    EXPECT_EQ(name(ErrorKind::kBackendError), "backend_error");
}

}  // namespace
}  // namespace laminar::obs

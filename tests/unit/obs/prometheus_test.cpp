// SPDX-License-Identifier: Apache-2.0
#include "obs/prometheus.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

namespace laminar::obs {
namespace {

using Type = PrometheusWriter::Type;

TEST(PrometheusWriterTest, WritesHelpAndTypeThenTheSamplesOfAFamily) {
    PrometheusWriter w;
    w.family("laminar_reloads_total", Type::kCounter, "Reloads, by result.");
    w.sample({{"result", "ok"}}, uint64_t{3});
    w.sample({{"result", "failed"}}, uint64_t{0});
    w.family("laminar_uptime_seconds", Type::kGauge, "Seconds since start.");
    w.sample({}, 12.5);
    EXPECT_EQ(w.text(),
              "# HELP laminar_reloads_total Reloads, by result.\n"
              "# TYPE laminar_reloads_total counter\n"
              "laminar_reloads_total{result=\"ok\"} 3\n"
              "laminar_reloads_total{result=\"failed\"} 0\n"
              "# HELP laminar_uptime_seconds Seconds since start.\n"
              "# TYPE laminar_uptime_seconds gauge\n"
              "laminar_uptime_seconds 12.5\n");
}

TEST(PrometheusWriterTest, KeepsLabelsInTheOrderGiven) {
    PrometheusWriter w;
    w.family("laminar_commands_total", Type::kCounter, "h");
    w.sample({{"route", "default"}, {"strategy", "proxy"}, {"class", "read"}}, uint64_t{42});
    EXPECT_NE(w.text().find("laminar_commands_total{route=\"default\",strategy=\"proxy\",class=\"read\"} 42\n"), std::string::npos)
        << w.text();
}

TEST(PrometheusWriterTest, EscapesBackslashQuoteAndNewlineInLabelValues) {
    PrometheusWriter w;
    w.family("m", Type::kGauge, "h");
    w.sample({{"route", "a\\b\"c\nd"}}, uint64_t{1});
    EXPECT_NE(w.text().find("m{route=\"a\\\\b\\\"c\\nd\"} 1\n"), std::string::npos) << w.text();
}

TEST(PrometheusWriterTest, EscapesBackslashAndNewlineInHelpButNotQuotes) {
    PrometheusWriter w;
    w.family("m", Type::kGauge, "say \"hi\"\\\nbye");
    EXPECT_EQ(w.text(), "# HELP m say \"hi\"\\\\\\nbye\n# TYPE m gauge\n");
}

TEST(PrometheusWriterTest, WritesLargeCountsExactlyAndSpecialFloatsAsPrometheusSpellsThem) {
    PrometheusWriter w;
    w.family("m", Type::kGauge, "h");
    w.sample({{"v", "max"}}, std::numeric_limits<uint64_t>::max());
    w.sample({{"v", "nan"}}, std::nan(""));
    w.sample({{"v", "inf"}}, std::numeric_limits<double>::infinity());
    w.sample({{"v", "-inf"}}, -std::numeric_limits<double>::infinity());
    w.sample({{"v", "small"}}, 0.0001);
    const auto& t = w.text();
    EXPECT_NE(t.find("m{v=\"max\"} 18446744073709551615\n"), std::string::npos) << t;
    EXPECT_NE(t.find("m{v=\"nan\"} NaN\n"), std::string::npos) << t;
    EXPECT_NE(t.find("m{v=\"inf\"} +Inf\n"), std::string::npos) << t;
    EXPECT_NE(t.find("m{v=\"-inf\"} -Inf\n"), std::string::npos) << t;
    EXPECT_NE(t.find("m{v=\"small\"} 0.0001\n"), std::string::npos) << t;
}

TEST(PrometheusWriterTest, WritesAHistogramWithCumulativeBucketsSumAndCount) {
    PrometheusWriter w;
    w.family("laminar_backend_latency_seconds", Type::kHistogram, "Reply latency.");
    std::array<double, 3> bounds = {0.001, 0.01, 1};
    std::array<uint64_t, 4> counts = {5, 0, 2, 1};
    w.histogram({{"backend", "old"}}, bounds, counts, 2.5);
    EXPECT_EQ(w.text(),
              "# HELP laminar_backend_latency_seconds Reply latency.\n"
              "# TYPE laminar_backend_latency_seconds histogram\n"
              "laminar_backend_latency_seconds_bucket{backend=\"old\",le=\"0.001\"} 5\n"
              "laminar_backend_latency_seconds_bucket{backend=\"old\",le=\"0.01\"} 5\n"
              "laminar_backend_latency_seconds_bucket{backend=\"old\",le=\"1\"} 7\n"
              "laminar_backend_latency_seconds_bucket{backend=\"old\",le=\"+Inf\"} 8\n"
              "laminar_backend_latency_seconds_sum{backend=\"old\"} 2.5\n"
              "laminar_backend_latency_seconds_count{backend=\"old\"} 8\n");
}

TEST(PrometheusWriterTest, WritesAHistogramWithoutLabels) {
    PrometheusWriter w;
    w.family("h", Type::kHistogram, "x");
    std::array<double, 1> bounds = {0.5};
    std::array<uint64_t, 2> counts = {0, 0};
    w.histogram({}, bounds, counts, 0);
    EXPECT_NE(w.text().find("h_bucket{le=\"0.5\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"), std::string::npos) << w.text();
}

}  // namespace
}  // namespace laminar::obs

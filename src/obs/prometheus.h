// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace laminar::obs {

// Writes the Prometheus text exposition format, version 0.0.4 (what /metrics serves):
//
//   # HELP laminar_commands_total Commands routed, by route, strategy and command class.
//   # TYPE laminar_commands_total counter
//   laminar_commands_total{route="default",strategy="proxy",class="read"} 42
//
// Contract:
//  1. family() opens a metric family (its HELP and TYPE lines); the samples that follow belong to
//     it, until the next family(). Names are the caller's constants and are not checked.
//  2. Label values are escaped (backslash, double quote, newline), so any route or backend name
//     can be a label; HELP text escapes backslash and newline.
//  3. Counts are written as integers, exactly; other values in the shortest form that reads back
//     as the same double, with NaN, +Inf and -Inf spelled as Prometheus spells them.
//  4. histogram() takes per-bucket counts and writes what Prometheus wants: cumulative
//     `_bucket{le="..."}` lines ending with le="+Inf", then `_sum` and `_count`.
class PrometheusWriter {
public:
    using Label = std::pair<std::string_view, std::string_view>;
    using Labels = std::initializer_list<Label>;
    enum class Type { kCounter, kGauge, kHistogram };

    void family(std::string_view name, Type type, std::string_view help);
    void sample(Labels labels, uint64_t value);
    void sample(Labels labels, double value);
    // `counts`: one per bucket, not cumulative, bounds.size() + 1 of them (the last counts what
    // is above every bound). `bounds` ascend.
    void histogram(Labels labels, std::span<const double> bounds, std::span<const uint64_t> counts, double sum);

    const std::string& text() const { return out_; }

private:
    void line(std::string_view suffix, Labels labels, const Label* extra, std::string_view value);

    std::string out_;
    std::string name_;  // of the open family
};

}  // namespace laminar::obs

// SPDX-License-Identifier: Apache-2.0
#include "obs/prometheus.h"

#include <fmt/format.h>

#include <cmath>

namespace laminar::obs {
namespace {

std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

void appendEscaped(std::string& out, std::string_view s, bool quotes) {
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quotes) out += "\\\"";
        else out += c;
    }
}

}  // namespace

void PrometheusWriter::family(std::string_view name, Type type, std::string_view help) {
    static const char* kTypes[] = {"counter", "gauge", "histogram"};
    name_.assign(name);
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    appendEscaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += kTypes[static_cast<int>(type)];
    out_ += '\n';
}

void PrometheusWriter::line(std::string_view suffix, Labels labels, const Label* extra, std::string_view value) {
    out_ += name_;
    out_ += suffix;
    if (labels.size() > 0 || extra) {
        char sep = '{';
        auto add = [&](const Label& l) {
            out_ += sep;
            out_ += l.first;
            out_ += "=\"";
            appendEscaped(out_, l.second, true);
            out_ += '"';
            sep = ',';
        };
        for (const auto& l : labels) add(l);
        if (extra) add(*extra);
        out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
}

void PrometheusWriter::sample(Labels labels, uint64_t value) { line("", labels, nullptr, fmt::format("{}", value)); }

void PrometheusWriter::sample(Labels labels, double value) { line("", labels, nullptr, number(value)); }

void PrometheusWriter::histogram(Labels labels, std::span<const double> bounds, std::span<const uint64_t> counts, double sum) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += i < counts.size() ? counts[i] : 0;
        std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
        Label bucket{"le", le};
        line("_bucket", labels, &bucket, fmt::format("{}", cumulative));
    }
    line("_sum", labels, nullptr, number(sum));
    line("_count", labels, nullptr, fmt::format("{}", cumulative));
}

}  // namespace laminar::obs

// SPDX-License-Identifier: Apache-2.0
// For tests of laminar's admin endpoint: a tiny HTTP/1.1 client over a plain socket, and a strict
// parser of the Prometheus text format, so that a test reads /metrics as Prometheus would.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace laminar::test {

struct HttpResponse {
    int status = 0;                              // 0 when no response could be read
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
};

// Sends `request` (bytes, as is) to 127.0.0.1:port and reads until the server closes the
// connection or `timeout` passes; returns the first response in what was read.
HttpResponse httpExchange(int port, const std::string& request, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// `METHOD path HTTP/1.1` with `Connection: close`.
HttpResponse httpRequest(int port, const std::string& method, const std::string& path);

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Scrape {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;  // family -> counter | gauge | histogram
    // The sum over the samples named `name` whose labels include `labels`; NaN when none does,
    // so that a misspelt name or label fails the test instead of reading as zero.
    double sum(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
    // The distinct values of label `label` over the samples named `name`.
    std::vector<std::string> labelValues(const std::string& name, const std::string& label) const;
};

// Parses the text format, version 0.0.4. Throws std::runtime_error naming the line for anything
// Prometheus would reject or a sample of a family whose TYPE was not declared before it.
Scrape parseMetrics(const std::string& text);
// GET /metrics on `port`, checked (200, the text format's content type) and parsed.
Scrape scrape(int port);

}  // namespace laminar::test

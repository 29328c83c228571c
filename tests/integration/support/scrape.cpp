// SPDX-License-Identifier: Apache-2.0
#include "support/scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>

namespace laminar::test {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

HttpResponse parseResponse(const std::string& raw) {
    HttpResponse r;
    auto head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) return r;
    std::istringstream head(raw.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    r.status = std::atoi(line.c_str() + line.find(' ') + 1);
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers[lower(line.substr(0, colon))] = value;
    }
    size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : raw.size() - head_end - 4;
    r.body = raw.substr(head_end + 4, length);
    return r;
}

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool isNameChar(char c) { return isNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

double parseValue(const std::string& s, const std::string& line) {
    if (s == "+Inf") return INFINITY;
    if (s == "-Inf") return -INFINITY;
    if (s == "NaN") return NAN;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') throw std::runtime_error("bad value in: " + line);
    return v;
}

// The family a sample belongs to: histograms' samples carry a suffix.
std::string familyOf(const std::string& name, const std::map<std::string, std::string>& types) {
    if (types.count(name)) return name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string s(suffix);
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
            auto base = name.substr(0, name.size() - s.size());
            auto it = types.find(base);
            if (it != types.end() && it->second == "histogram") return base;
        }
    }
    return {};
}

}  // namespace

HttpResponse httpExchange(int port, const std::string& request, std::chrono::milliseconds timeout) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return {};
    }
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string raw;
    std::array<char, 65536> buf{};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        raw.append(buf.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return parseResponse(raw);
}

HttpResponse httpRequest(int port, const std::string& method, const std::string& path) {
    return httpExchange(port, method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

double Scrape::sum(const std::string& name, const std::map<std::string, std::string>& labels) const {
    double total = 0;
    bool any = false;
    for (const auto& s : samples) {
        if (s.name != name) continue;
        bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& l) {
            auto it = s.labels.find(l.first);
            return it != s.labels.end() && it->second == l.second;
        });
        if (!match) continue;
        total += s.value;
        any = true;
    }
    return any ? total : NAN;
}

std::vector<std::string> Scrape::labelValues(const std::string& name, const std::string& label) const {
    std::set<std::string> out;
    for (const auto& s : samples)
        if (s.name == name && s.labels.count(label)) out.insert(s.labels.at(label));
    return {out.begin(), out.end()};
}

Scrape parseMetrics(const std::string& text) {
    Scrape out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (line[0] == '#') {
            std::istringstream words(line);
            std::string hash, kind, name, type;
            words >> hash >> kind >> name >> type;
            if (kind == "TYPE") {
                if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
                    throw std::runtime_error("bad TYPE: " + line);
                if (!out.types.emplace(name, type).second) throw std::runtime_error("second TYPE for a family: " + line);
            }
            continue;
        }
        Sample s;
        size_t i = 0;
        if (!isNameStart(line[0])) throw std::runtime_error("bad metric name: " + line);
        while (i < line.size() && isNameChar(line[i])) ++i;
        s.name = line.substr(0, i);
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                size_t start = i;
                if (!isNameStart(line[i])) throw std::runtime_error("bad label name: " + line);
                while (i < line.size() && isNameChar(line[i])) ++i;
                std::string label = line.substr(start, i - start);
                if (line.compare(i, 2, "=\"") != 0) throw std::runtime_error("bad label: " + line);
                i += 2;
                std::string value;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\') {
                        if (i + 1 >= line.size()) throw std::runtime_error("bad escape: " + line);
                        char e = line[++i];
                        if (e == 'n') value += '\n';
                        else if (e == '\\' || e == '"') value += e;
                        else throw std::runtime_error("bad escape: " + line);
                    } else {
                        value += line[i];
                    }
                    ++i;
                }
                if (i >= line.size()) throw std::runtime_error("unterminated label value: " + line);
                ++i;  // the closing quote
                if (!s.labels.emplace(label, value).second) throw std::runtime_error("repeated label: " + line);
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (i >= line.size()) throw std::runtime_error("unterminated labels: " + line);
            ++i;  // '}'
        }
        if (i >= line.size() || line[i] != ' ') throw std::runtime_error("no value: " + line);
        std::istringstream rest(line.substr(i + 1));
        std::string value, timestamp, extra;
        rest >> value >> timestamp >> extra;
        if (!extra.empty()) throw std::runtime_error("trailing text: " + line);
        s.value = parseValue(value, line);
        if (familyOf(s.name, out.types).empty()) throw std::runtime_error("sample before its family's TYPE: " + line);
        out.samples.push_back(std::move(s));
    }
    return out;
}

Scrape scrape(int port) {
    auto r = httpRequest(port, "GET", "/metrics");
    if (r.status != 200) throw std::runtime_error("GET /metrics answered " + std::to_string(r.status) + ": " + r.body);
    if (r.headers["content-type"].rfind("text/plain; version=0.0.4", 0) != 0)
        throw std::runtime_error("GET /metrics content type: " + r.headers["content-type"]);
    return parseMetrics(r.body);
}

}  // namespace laminar::test

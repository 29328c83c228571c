// SPDX-License-Identifier: Apache-2.0
#include "backend/health_board.h"
#include "obs/logging.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace laminar::backend {
namespace {
int64_t steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

bool HealthCell::degraded(std::chrono::milliseconds window) const {
    auto last = last_failure_ms.load(std::memory_order_relaxed);
    return !down() && last != 0 && steadyMs() - last < window.count();
}

uint32_t HealthCell::p99Micros() const {
    uint32_t worst = 0;
    for (const auto& v : p99_us) worst = std::max(worst, v.load(std::memory_order_relaxed));
    return worst;
}

void HealthCell::noteFailure() { last_failure_ms.store(steadyMs(), std::memory_order_relaxed); }

namespace {
void write(spdlog::logger& log, const std::optional<FlapDamper::Line>& line) {
    if (line) log.log(line->warn ? spdlog::level::warn : spdlog::level::info, "{}", line->text);
}
}  // namespace

void HealthCell::countThread(bool up, std::string_view subject, std::string_view why, spdlog::logger& log) {
    std::lock_guard lock(log_mu_);
    int before = up_threads.fetch_add(up ? 1 : -1);
    if (up ? before != 0 : before != 1) return;
    (up ? went_up : went_down).fetch_add(1, std::memory_order_relaxed);
    damper_.setInterval(obs::flapInterval());
    write(log, damper_.changed(up, subject, why, FlapDamper::Clock::now()));
}

void HealthCell::logDue(spdlog::logger& log) {
    std::lock_guard lock(log_mu_);
    damper_.setInterval(obs::flapInterval());
    write(log, damper_.due(FlapDamper::Clock::now()));
}

std::shared_ptr<HealthCell> HealthBoard::cell(const std::string& backend) {
    std::lock_guard lock(mu_);
    auto& c = cells_[backend];
    if (!c) c = std::make_shared<HealthCell>();
    return c;
}

uint32_t LatencyRing::p99() const {
    if (count_ == 0) return 0;
    std::vector<uint32_t> v(samples_.begin(), samples_.begin() + static_cast<long>(count_));
    // Nearest rank: the ceil(0.99 n)-th smallest (n = 100 gives the 99th, not the largest).
    size_t k = (v.size() * 99 + 99) / 100 - 1;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

}  // namespace laminar::backend

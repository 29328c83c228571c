// SPDX-License-Identifier: Apache-2.0
// Under -fsanitize=address GCC 12 reports an uninitialized std::function inside std::regex's
// compiler, a false positive (GCC bug 105562); the regex is compiled in this file.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "policy/timed_rollover.h"

#include <fmt/format.h>
#include <xxhash.h>

#include "config/units.h"
#include "policy/clock.h"
#include "policy/route_stats.h"
#include "resp/reply_view.h"

namespace laminar::policy {
namespace {

using std::chrono::milliseconds;

// Staggering across a longer window is not a rollover any more, and keeps cutoff + offset far
// from overflow.
constexpr milliseconds kMaxWindow = std::chrono::hours(24 * 365);

// "2h", "30m", "90s", "1500ms": the largest unit that divides it.
std::string formatWindow(milliseconds d) {
    auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    return config::formatDuration(d);
}

// The reply of the side a delete does not answer from: nobody waits for it; a failure is counted.
struct OtherSideDelete final : backend::ReplySink {
    explicit OtherSideDelete(RouteStats* s) : stats(s) {}
    void complete(std::string_view raw, bool failed) override {
        if ((failed || resp::isError(raw)) && stats) RouteStats::add(stats->secondary_failures);
        delete this;
    }
    RouteStats* stats;  // in the Registry, which outlives every snapshot
};

bool digits(std::string_view s, int& out) {
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return !s.empty();
}

}  // namespace

std::optional<TimedRollover::Time> TimedRollover::parseDate(std::string_view t) {
    if (t.size() == 20 && t.back() == 'Z') t.remove_suffix(1);
    if (t.size() != 10 && t.size() != 19) return std::nullopt;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!digits(t.substr(0, 4), y) || t[4] != '-' || !digits(t.substr(5, 2), mo) || t[7] != '-' || !digits(t.substr(8, 2), d))
        return std::nullopt;
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                    std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return std::nullopt;
    if (t.size() == 19) {
        if (t[10] != 'T' || !digits(t.substr(11, 2), h) || t[13] != ':' || !digits(t.substr(14, 2), mi) || t[16] != ':' ||
            !digits(t.substr(17, 2), s) || h > 23 || mi > 59 || s > 59)
            return std::nullopt;
    }
    return Time(std::chrono::sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
}

TimedRollover::TimedRollover(Time cutoff, std::string cutoff_text, std::regex key_date, milliseconds window, Undated undated,
                             std::unique_ptr<Strategy> before, std::unique_ptr<Strategy> after)
    : cutoff_(cutoff),
      cutoff_text_(std::move(cutoff_text)),
      key_date_(std::move(key_date)),
      window_(window),
      undated_(undated),
      before_(std::move(before)),
      after_(std::move(after)) {}

TimedRollover::Time TimedRollover::keyCutoff(std::string_view key) const {
    if (window_.count() <= 0) return cutoff_;
    auto offset = XXH64(key.data(), key.size(), 0) % static_cast<uint64_t>(window_.count());
    return cutoff_ + milliseconds(static_cast<int64_t>(offset));
}

std::optional<TimedRollover::Time> TimedRollover::keyDate(std::string_view key) const {
    if (key.empty() || key.size() > kMaxDatedKey) return std::nullopt;
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(key.begin(), key.end(), m, key_date_) || !m[1].matched) return std::nullopt;
    return parseDate(std::string_view(m[1].first, m[1].second));
}

bool TimedRollover::sideOf(std::string_view key, bool write, Time now) const {
    Time key_cutoff = keyCutoff(key);
    if (write) return now >= key_cutoff;
    if (auto date = keyDate(key)) return *date >= key_cutoff;
    switch (undated_) {
        case Undated::kBefore: return false;
        case Undated::kAfter: return true;
        case Undated::kNow: break;
    }
    return now >= key_cutoff;
}

std::optional<std::chrono::system_clock::time_point> TimedRollover::readMovesAt(std::string_view key,
                                                                                std::chrono::system_clock::time_point now) const {
    if (undated_ == Undated::kNow && !keyDate(key)) {
        auto at = std::chrono::time_point_cast<std::chrono::system_clock::duration>(keyCutoff(key));
        if (at > now) return at;
    }
    return Strategy::readMovesAt(key, now);  // the sides' own
}

std::optional<bool> TimedRollover::side(const Request& req, bool write, Time now) const {
    bool first = sideOf(req.key(), write, now);
    for (size_t i = 1; i < req.keys.size(); ++i)
        if (sideOf(req.argv[static_cast<size_t>(req.keys[i])], write, now) != first) return std::nullopt;
    return first;
}

void TimedRollover::execute(const Request& req, backend::ReplySink* sink, Context& ctx) const {
    auto now = std::chrono::time_point_cast<milliseconds>(ctx.clock.now());
    bool del = req.isDelete();
    // A delete answers from the side its key reads from.
    auto after = side(req, req.isWrite() && !del, now);
    if (!after) {
        sink->complete(fmt::format("-ERR laminar: '{}' has keys on both sides of the timed_rollover cutoff; send them "
                                   "separately\r\n",
                                   req.cmd->name),
                       false);
        return;
    }
    const Strategy& target = *after ? *after_ : *before_;
    if (del) {
        // Both go on the client's connections, so the other side's delete stays ordered before the
        // client's next command to that backend.
        const Strategy& other = *after ? *before_ : *after_;
        other.execute(req, new OtherSideDelete(ctx.stats), ctx);
    }
    target.execute(req, sink, ctx);
}

void TimedRollover::targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const {
    auto now = std::chrono::time_point_cast<milliseconds>(ctx.clock.now());
    bool del = write && req.isDelete();
    auto after = side(req, write && !del, now);
    if (!after) return;  // refused (case 6)
    (*after ? after_ : before_)->targets(req, ctx, write, out);
    if (del) (*after ? before_ : after_)->targets(req, ctx, write, out);
}

std::string TimedRollover::describe() const {
    std::string out = "timed_rollover(cutoff=" + cutoff_text_;
    if (window_.count() > 0) out += ", window=" + formatWindow(window_);
    if (undated_ == Undated::kBefore) out += ", undated=before";
    if (undated_ == Undated::kAfter) out += ", undated=after";
    return out + ", before=" + before_->describe() + ", after=" + after_->describe() + ")";
}

std::unique_ptr<Strategy> makeTimedRollover(config::MapReader& r, Builder& b) {
    auto cutoff_text = r.string("cutoff", "");
    if (cutoff_text.empty()) b.fail(r.node(), r.path("cutoff"), "is required (a date like 2015-05-13 or 2015-05-13T10:00:00Z)");
    auto cutoff = TimedRollover::parseDate(cutoff_text);
    if (!cutoff)
        b.fail(r.take("cutoff"), r.path("cutoff"),
               fmt::format("must be a UTC date like 2015-05-13 or 2015-05-13T10:00:00Z, got '{}'", cutoff_text));

    auto pattern = r.string("key_date", "");
    if (pattern.empty()) b.fail(r.node(), r.path("key_date"), "is required (a regex whose first group captures the date)");
    std::regex key_date;
    try {
        key_date = std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
        b.fail(r.take("key_date"), r.path("key_date"), fmt::format("is not a valid regex: {}", e.what()));
    }
    if (key_date.mark_count() < 1)
        b.fail(r.take("key_date"), r.path("key_date"), "needs a capture group around the date, e.g. '#(\\d{4}-\\d{2}-\\d{2})$'");

    auto window = r.duration("window", milliseconds(0), true);
    if (window > kMaxWindow)
        b.fail(r.take("window"), r.path("window"), fmt::format("must be at most {} (a year), got {}", formatWindow(kMaxWindow),
                                                               formatWindow(window)));

    using Undated = TimedRollover::Undated;
    auto undated = r.choice<Undated>("undated", Undated::kNow, {{"now", Undated::kNow}, {"before", Undated::kBefore}, {"after", Undated::kAfter}});

    auto before = b.child(r, "before");
    auto after = b.child(r, "after");
    return std::make_unique<TimedRollover>(*cutoff, cutoff_text, std::move(key_date), window, undated, std::move(before),
                                           std::move(after));
}

}  // namespace laminar::policy

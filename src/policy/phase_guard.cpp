// SPDX-License-Identifier: Apache-2.0
#include "policy/phase_guard.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "policy/route_stats.h"
#include "policy/snapshot.h"

namespace laminar::policy {

std::optional<MigrationRecord> MigrationBoard::get(const std::string& route) const {
    std::lock_guard lock(mu_);
    auto it = records_.find(route);
    if (it == records_.end()) return std::nullopt;
    return it->second;
}

std::map<std::string, MigrationRecord> MigrationBoard::all() const {
    std::lock_guard lock(mu_);
    return records_;
}

void MigrationBoard::replace(std::map<std::string, MigrationRecord> records) {
    std::lock_guard lock(mu_);
    records_ = std::move(records);
}

namespace {

using Phase = Migration::Phase;

// The migration a route holds: a route is a migration when written with the shorthand, and the
// shorthand is always at the top; a walk finds one placed anywhere.
const Migration* migrationOf(const Strategy& s) {
    if (auto* m = dynamic_cast<const Migration*>(&s)) return m;
    const Migration* found = nullptr;
    s.forEachChild([&](const Strategy& child) {
        if (!found) found = migrationOf(child);
    });
    return found;
}

std::string name(Phase p) { return std::string(Migration::phaseName(p)); }

// Why reading from `side` in `after` is not safe yet; empty when it is.
std::string missingData(const std::string& route, const MigrationRecord& rec, Phase after, const std::string& pair,
                        const std::string& side, const PhaseFacts& facts) {
    std::string why;
    if (int64_t n = facts.backlog(pair); n > 0)
        why = fmt::format("{} keys of route '{}' failed to copy {} and wait for '{}' to answer again or to take them (LAMINAR "
                          "MIGRATION {} shows the backlog, the log names the keys); reads from '{}' would miss them",
                          n, route, pair, side, route, side);
    bool missing = (pair == rec.from + ">" + rec.to) ? rec.to_missing : rec.from_missing;
    if (missing) {
        auto done = facts.backfill(route);
        bool fits = done && done->pair == pair && done->started >= rec.since && done->reconcile;
        if (!fits) {
            if (!why.empty()) why += "; and ";
            why += fmt::format("no reconciling backfill of route '{}' has completed {} since it entered {}, so '{}' may lack keys "
                               "written before, or hold keys deleted since (LAMINAR BACKFILL START {} RECONCILE)",
                               route, pair, name(rec.phase), side, route);
        } else if (done->failed > 0) {
            if (!why.empty()) why += "; and ";
            why += fmt::format("the last backfill of route '{}' ({}) could not copy {} keys (see the log)", route, pair, done->failed);
        }
    }
    if (why.empty()) return why;
    return fmt::format("route '{}': {} -> {} refused: {}", route, name(rec.phase), name(after), why);
}

}  // namespace

std::vector<PhaseChange> checkPhases(const Snapshot& next, const MigrationBoard& board, const PhaseFacts& facts, bool force_all) {
    std::vector<PhaseChange> out;
    for (const auto& route : next.routes()) {
        const Migration* m = migrationOf(*route.strategy);
        if (!m) continue;
        auto rec = board.get(route.name);
        PhaseChange c{route.name, {}, name(m->phase()), {}, route.force || force_all};
        if (!rec || rec->from != m->from() || rec->to != m->to()) {
            out.push_back(std::move(c));  // a new migration: nothing to compare with
            continue;
        }
        if (rec->phase == m->phase()) continue;
        c.before = name(rec->phase);
        c.refusal = stepRefusal(route.name, *rec, m->phase(), facts);
        out.push_back(std::move(c));
    }
    return out;
}

std::string stepRefusal(const std::string& route, const MigrationRecord& rec, Migration::Phase after, const PhaseFacts& facts) {
    std::string refusal;
    int from = static_cast<int>(rec.phase), to = static_cast<int>(after);
    if (std::abs(to - from) > 1) {
        int step = to > from ? 1 : -1;
        std::string skipped;
        for (int p = from + step; p != to; p += step) skipped += (skipped.empty() ? "" : " and ") + name(static_cast<Phase>(p));
        refusal = fmt::format("route '{}': {} -> {} refused: it skips {}; step to {} first", route, name(rec.phase), name(after), skipped,
                              name(static_cast<Phase>(from + step)));
    } else if (rec.phase == Phase::kReadOld && after == Phase::kReadNew) {
        refusal = missingData(route, rec, after, rec.from + ">" + rec.to, rec.to, facts);
    } else if (rec.phase == Phase::kReadNew && after == Phase::kReadOld) {
        refusal = missingData(route, rec, after, rec.to + ">" + rec.from, rec.from, facts);
    }
    if (!refusal.empty()) refusal += " (set `force: true` on the route, or LAMINAR RELOAD FORCE, to take this step anyway)";
    return refusal;
}

std::string migrationReport(const std::string& route, const MigrationRecord& rec, const PhaseFacts& facts,
                            std::chrono::steady_clock::time_point now, uint64_t sync_failures) {
    auto ago = [now](std::chrono::steady_clock::time_point t) { return std::chrono::duration_cast<std::chrono::seconds>(now - t).count(); };
    std::string out = fmt::format("{}: {} for {} s ({} -> {})\n", route, name(rec.phase), ago(rec.since), rec.from, rec.to);
    if (auto b = facts.backfill(route))
        out += fmt::format("  last completed backfill: {}{}, started {} s ago{}{}\n", b->pair, b->reconcile ? " (reconcile)" : "",
                           ago(b->started), b->started >= rec.since ? " in this phase" : " before this phase",
                           b->failed ? fmt::format(", {} keys refused by the target", b->failed) : std::string());
    else out += "  last completed backfill: none\n";
    if (auto r = facts.running(route))
        out += fmt::format("  running backfill{}: {}\n", r->started >= rec.since ? "" : " (started before this phase)", r->status);
    for (const auto& pair : {rec.from + ">" + rec.to, rec.to + ">" + rec.from})
        out += fmt::format("  backlog {}: {} keys\n", pair, facts.backlog(pair));
    out += fmt::format("  keys the other side refused in this phase (kept in the backlog, retried with backoff up to 30 s): {}\n",
                       sync_failures - std::min(sync_failures, rec.sync_failures_before));
    if (auto v = facts.verify(rec.from, rec.to))
        out += fmt::format("  last verify: {} vs {}{}: {} ({} keys compared, {} differences), {} s ago{}\n", v->a, v->b,
                           v->match.empty() ? "" : " (" + v->match + ")", v->equal ? "equal" : "different", v->compared, v->differences,
                           ago(v->at), v->at >= rec.since ? " in this phase" : " before this phase");
    else out += "  last verify: none reported (laminar verify ... --report)\n";
    if (rec.to_missing) out += fmt::format("  '{}' may lack keys: a one-sided phase ran or it was never backfilled\n", rec.to);
    if (rec.from_missing) out += fmt::format("  '{}' may lack keys written in new_only\n", rec.from);
    for (int step : {1, -1}) {
        int p = static_cast<int>(rec.phase) + step;
        if (p < 0 || p > static_cast<int>(Phase::kNewOnly)) continue;
        auto why = stepRefusal(route, rec, static_cast<Phase>(p), facts);
        out += fmt::format("  {} {}: {}\n", step > 0 ? "next" : "back", name(static_cast<Phase>(p)), why.empty() ? "safe" : why);
    }
    return out;
}

std::map<std::string, MigrationRecord> phasesAfter(const Snapshot& next, const MigrationBoard& board,
                                                   std::chrono::steady_clock::time_point now) {
    std::map<std::string, MigrationRecord> out;
    for (const auto& route : next.routes()) {
        const Migration* m = migrationOf(*route.strategy);
        if (!m) continue;
        auto rec = board.get(route.name);
        if (!rec || rec->from != m->from() || rec->to != m->to()) {
            // Nothing known of how it got here: trust the phase for what it implies of the data.
            MigrationRecord fresh{m->phase(), m->from(), m->to(), now, m->phase() < Phase::kReadNew, m->phase() == Phase::kNewOnly,
                                  route.stats ? route.stats->sync_failures.load() : 0};
            out.emplace(route.name, std::move(fresh));
            continue;
        }
        MigrationRecord r = *rec;
        if (r.phase != m->phase()) {
            // A step that moves reads to a side (checked, or forced by the operator) takes that
            // side as whole from then on; a one-sided phase leaves the other side behind.
            bool reads_to_before = r.phase >= Phase::kReadNew, reads_to_after = m->phase() >= Phase::kReadNew;
            if (!reads_to_before && reads_to_after) r.to_missing = false;
            if (reads_to_before && !reads_to_after) r.from_missing = false;
            if (m->phase() == Phase::kOldOnly) r.to_missing = true;
            if (m->phase() == Phase::kNewOnly) r.from_missing = true;
            r.phase = m->phase();
            r.since = now;
            r.sync_failures_before = route.stats ? route.stats->sync_failures.load() : 0;
        }
        out.emplace(route.name, std::move(r));
    }
    return out;
}

}  // namespace laminar::policy

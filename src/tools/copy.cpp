// SPDX-License-Identifier: Apache-2.0
#include "tools/copy.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include "tools/sync_client.h"
#include "tools/progress.h"

namespace laminar::tools {
namespace {

using Counts = CopyCounts;

// "key=value" lines; written to a temporary file and renamed, so a crash leaves the old one whole.
struct Checkpoint {
    std::string from, to, match, cursor = "0";
    bool delete_extra = false;
    bool deleting = false;              // the copy pass is over; the pass over the target is at delete_cursor
    std::string delete_cursor = "0";
    bool done = false;
    Counts n;

    bool load(const std::string& path) {
        std::ifstream in(path);
        if (!in) return false;
        std::map<std::string, std::string> kv;
        for (std::string line; std::getline(in, line);)
            if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
        auto num = [&](const char* k) { return kv.count(k) ? std::stoull(kv[k]) : 0ull; };
        from = kv["from"], to = kv["to"], match = kv["match"], cursor = kv.count("cursor") ? kv["cursor"] : "0";
        done = kv["done"] == "1";
        delete_extra = kv["delete_extra"] == "1";
        deleting = kv["deleting"] == "1";
        delete_cursor = kv.count("delete_cursor") ? kv["delete_cursor"] : "0";
        n = {num("scanned"), num("copied"), num("skipped"), num("gone"), num("failed"), num("bytes"), num("target_scanned"), num("deleted")};
        return true;
    }
    void save(const std::string& path) const {
        std::string tmp = path + ".tmp";
        {
            std::ofstream o(tmp, std::ios::trunc);
            o << "# laminar copy checkpoint\nfrom=" << from << "\nto=" << to << "\nmatch=" << match << "\ncursor=" << cursor
              << "\ndone=" << (done ? 1 : 0) << "\nscanned=" << n.scanned << "\ncopied=" << n.copied << "\nskipped=" << n.skipped
              << "\ngone=" << n.gone << "\nfailed=" << n.failed << "\nbytes=" << n.bytes << "\ndelete_extra=" << (delete_extra ? 1 : 0)
              << "\ndeleting=" << (deleting ? 1 : 0) << "\ndelete_cursor=" << delete_cursor << "\ntarget_scanned=" << n.target_scanned
              << "\ndeleted=" << n.deleted << "\n";
        }
        std::filesystem::rename(tmp, path);
    }
};

}  // namespace

void copyKeys(SyncClient& src, SyncClient& dst, const std::vector<std::string>& keys, bool overwrite, Counts& n,
              std::map<std::string, uint64_t>& reasons) {
    std::vector<std::vector<std::string>> reads;
    for (const auto& k : keys) {
        reads.push_back({"DUMP", k});
        reads.push_back({"PTTL", k});
    }
    auto got = src.callMany(reads);
    std::vector<std::vector<std::string>> writes;
    for (size_t i = 0; i < keys.size(); ++i) {
        const Value& dump = got[2 * i];
        const Value& pttl = got[2 * i + 1];
        if (dump.isNil() || (pttl.kind == Value::Kind::kInteger && pttl.integer == -2)) {
            ++n.gone;  // expired or deleted since the SCAN
            continue;
        }
        if (dump.isError() || pttl.isError()) {
            ++n.failed;
            ++reasons[dump.isError() ? dump.str : pttl.str];
            continue;
        }
        long long ttl = pttl.kind == Value::Kind::kInteger && pttl.integer > 0 ? pttl.integer : 0;
        std::vector<std::string> restore = {"RESTORE", keys[i], std::to_string(ttl), dump.str};
        if (overwrite) restore.push_back("REPLACE");
        n.bytes += dump.str.size();
        writes.push_back(std::move(restore));
    }
    for (const auto& w : dst.callMany(writes)) {
        if (!w.isError()) ++n.copied;
        else if (w.str.starts_with("BUSYKEY")) ++n.skipped;
        else {
            ++n.failed;
            ++reasons[w.str];
        }
    }
}

void deleteExtraKeys(SyncClient& src, SyncClient& dst, const std::vector<std::string>& keys, bool overwrite, Counts& n,
                     std::map<std::string, uint64_t>& reasons) {
    auto exists = [&](const std::vector<std::string>& ks) {
        std::vector<std::vector<std::string>> cmds;
        for (const auto& k : ks) cmds.push_back({"EXISTS", k});
        return src.callMany(cmds);
    };
    std::vector<std::string> missing;
    auto first = exists(keys);
    for (size_t i = 0; i < keys.size(); ++i) {
        if (first[i].isError()) {
            ++n.failed;
            ++reasons["EXISTS on the source: " + first[i].str];
        } else if (first[i].kind == Value::Kind::kInteger && first[i].integer == 0) {
            missing.push_back(keys[i]);
        }
    }
    std::vector<std::vector<std::string>> dels;
    for (const auto& k : missing) dels.push_back({"DEL", k});
    auto deleted = dst.callMany(dels);
    std::vector<std::string> gone;  // deleted here by this round
    for (size_t i = 0; i < missing.size(); ++i) {
        if (deleted[i].isError()) {
            ++n.failed;
            ++reasons["DEL on the target: " + deleted[i].str];
        } else if (deleted[i].kind == Value::Kind::kInteger && deleted[i].integer > 0) {
            gone.push_back(missing[i]);  // 0: it expired or was deleted meanwhile
        }
    }
    std::vector<std::string> back;  // written on the source while this round ran
    auto second = exists(gone);
    for (size_t i = 0; i < gone.size(); ++i) {
        if (second[i].kind == Value::Kind::kInteger && second[i].integer > 0) back.push_back(gone[i]);
        else ++n.deleted;  // an error here leaves it deleted: the source lacked it a moment ago
    }
    if (!back.empty()) copyKeys(src, dst, back, overwrite, n, reasons);
}

int runCopy(const config::Config& cfg, const CopyOptions& opt, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop) {
    const auto* from_cfg = cfg.backend(opt.from);
    const auto* to_cfg = cfg.backend(opt.to);
    if (!from_cfg || !to_cfg || opt.from == opt.to) {
        err << fmt::format("laminar copy: --from and --to must name two different backends of {} (have:", cfg.source);
        for (const auto& b : cfg.backends) err << " " << b.name;
        err << ")\n";
        return kUsage;
    }
    if (opt.delete_extra && to_cfg->type == config::BackendConfig::Type::kMemcached) {
        err << fmt::format("laminar copy: --delete-extra cannot run with a memcached target ('{}'): memcached has no reliable way to "
                           "list its keys (lru_crawler metadump skips some), so keys it has that '{}' lacks cannot all be found; "
                           "flush what must go, or copy into a Redis\n",
                           opt.to, opt.from);
        return kUsage;
    }
    Checkpoint cp;
    cp.from = opt.from, cp.to = opt.to, cp.match = opt.match, cp.delete_extra = opt.delete_extra;
    if (!opt.checkpoint.empty() && std::filesystem::exists(opt.checkpoint)) {
        Checkpoint saved;
        saved.load(opt.checkpoint);
        if (saved.from != opt.from || saved.to != opt.to || saved.match != opt.match || saved.delete_extra != opt.delete_extra) {
            err << fmt::format("laminar copy: checkpoint {} is for --from {} --to {} --match '{}'{}; remove it to start over\n", opt.checkpoint,
                               saved.from, saved.to, saved.match, saved.delete_extra ? " --delete-extra" : " without --delete-extra");
            return kUsage;
        }
        cp = saved;
        if (cp.done) {
            out << fmt::format("already complete (checkpoint {}): copied {}, skipped {}, gone {}, failed {}{}\n", opt.checkpoint, cp.n.copied,
                               cp.n.skipped, cp.n.gone, cp.n.failed, cp.delete_extra ? fmt::format(", deleted {}", cp.n.deleted) : "");
            return cp.n.failed ? kSomeFailed : kOk;
        }
        if (cp.deleting) {
            err << fmt::format("laminar copy: resuming from {}: the copy is done; deleting extra keys from cursor {} ({} deleted so far)\n",
                               opt.checkpoint, cp.delete_cursor, cp.n.deleted);
        } else if (from_cfg->type == config::BackendConfig::Type::kMemcached && cp.cursor != "0") {
            err << "laminar copy: a memcached listing cannot be resumed mid-way; starting it again (keys already on the target are "
                << (opt.overwrite ? "rewritten" : "skipped") << ")\n";
            cp.cursor = "0";
        } else {
            err << fmt::format("laminar copy: resuming from {} at cursor {} ({} keys copied so far)\n", opt.checkpoint, cp.cursor, cp.n.copied);
        }
    }
    std::unique_ptr<SyncClient> src, dst;
    try {
        src = SyncClient::open(*from_cfg);
        dst = SyncClient::open(*to_cfg);
    } catch (const Unreachable& e) {
        err << "laminar copy: " << e.what() << "\n";
        return kUnreachable;
    }
    // A total for the bar: DBSIZE when every key of a Redis source is copied (and of the target
    // with --delete-extra, whose keys are listed too).
    uint64_t total = 0;
    if (opt.match.empty() && from_cfg->type != config::BackendConfig::Type::kMemcached) {
        if (auto v = src->call({"DBSIZE"}); v.kind == Value::Kind::kInteger) total = static_cast<uint64_t>(v.integer);
        if (opt.delete_extra) {
            if (auto v = dst->call({"DBSIZE"}); v.kind == Value::Kind::kInteger && total > 0) total += static_cast<uint64_t>(v.integer);
            else total = 0;
        }
    }
    Progress progress(err, isatty(STDERR_FILENO) != 0, total);
    std::map<std::string, uint64_t> reasons;  // why keys failed, with counts
    auto started = std::chrono::steady_clock::now();
    const uint64_t base_scanned = cp.n.scanned + cp.n.target_scanned;
    std::optional<uint64_t> deleted_shown;
    if (opt.delete_extra) deleted_shown = cp.n.deleted;
    // After every round: save, show, keep to --rate (over both passes), stop when asked.
    auto endRound = [&](bool more) {
        if (!opt.checkpoint.empty()) cp.save(opt.checkpoint);
        if (opt.delete_extra) deleted_shown = cp.n.deleted;
        progress.update(cp.n.scanned + cp.n.target_scanned, cp.n.copied, cp.n.skipped, cp.n.failed, cp.n.bytes, deleted_shown);
        if (opt.rate > 0) {  // pace: this many keys should have taken this long
            auto due = started + std::chrono::milliseconds((cp.n.scanned + cp.n.target_scanned - base_scanned) * 1000 / opt.rate);
            std::this_thread::sleep_until(due);
        }
        if (stop.load() && more) {
            progress.finish();
            err << fmt::format("laminar copy: interrupted {}; run the same command to resume{}\n",
                               cp.deleting ? fmt::format("while deleting extra keys on '{}' (its cursor {})", opt.to, cp.delete_cursor)
                                           : fmt::format("at cursor {}", cp.cursor),
                               opt.checkpoint.empty() ? " (with --checkpoint FILE next time)" : "");
            return false;
        }
        return true;
    };
    int result = kOk;
    try {
        if (!cp.deleting) do {
            std::vector<std::string> scan = {"SCAN", cp.cursor, "COUNT", std::to_string(opt.batch)};
            if (!opt.match.empty()) scan.insert(scan.end(), {"MATCH", opt.match});
            Value r = src->call(scan);
            if (r.kind != Value::Kind::kArray || r.elems.size() != 2 || r.elems[1].kind != Value::Kind::kArray) {
                err << "\nlaminar copy: SCAN on '" << opt.from << "' failed: " << (r.isError() ? r.str : "unexpected reply") << "\n";
                return kUnreachable;
            }
            std::vector<std::string> keys;
            for (const auto& k : r.elems[1].elems) keys.push_back(k.str);
            copyKeys(*src, *dst, keys, opt.overwrite, cp.n, reasons);
            cp.n.scanned += keys.size();
            cp.cursor = r.elems[0].str;
            if (cp.cursor == "0" && opt.delete_extra) cp.deleting = true;  // saved with this round: a resume goes on deleting
            if (!endRound(cp.cursor != "0" || opt.delete_extra)) {
                result = kInterrupted;
                break;
            }
        } while (cp.cursor != "0");
        // --delete-extra: the same MATCH over the target; what the source lacks goes.
        if (result == kOk && opt.delete_extra) do {
            std::vector<std::string> scan = {"SCAN", cp.delete_cursor, "COUNT", std::to_string(opt.batch)};
            if (!opt.match.empty()) scan.insert(scan.end(), {"MATCH", opt.match});
            Value r = dst->call(scan);
            if (r.kind != Value::Kind::kArray || r.elems.size() != 2 || r.elems[1].kind != Value::Kind::kArray) {
                err << "\nlaminar copy: SCAN on '" << opt.to << "' failed: " << (r.isError() ? r.str : "unexpected reply") << "\n";
                return kUnreachable;
            }
            std::vector<std::string> keys;
            for (const auto& k : r.elems[1].elems) keys.push_back(k.str);
            deleteExtraKeys(*src, *dst, keys, opt.overwrite, cp.n, reasons);
            cp.n.target_scanned += keys.size();
            cp.delete_cursor = r.elems[0].str;
            if (!endRound(cp.delete_cursor != "0")) {
                result = kInterrupted;
                break;
            }
        } while (cp.delete_cursor != "0");
    } catch (const Unreachable& e) {
        progress.finish();
        err << "laminar copy: " << e.what() << "\n";
        if (!opt.checkpoint.empty()) err << "laminar copy: progress saved in " << opt.checkpoint << "\n";
        return kUnreachable;
    }
    if (result == kOk) {
        progress.finish();
        cp.done = true;
        if (!opt.checkpoint.empty()) cp.save(opt.checkpoint);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string deleted = opt.delete_extra ? fmt::format(", deleted {} (on {}, not on {}; {} keys of {} scanned)", cp.n.deleted, opt.to,
                                                         opt.from, cp.n.target_scanned, opt.to)
                                           : std::string();
    out << fmt::format("{} {} -> {}: copied {}, skipped {} (already on {}), gone {} (deleted or expired meanwhile), failed {}{}; {} keys scanned, "
                       "{:.1f} MB, {:.1f} s\n",
                       result == kOk ? "copy done" : "copy stopped", opt.from, opt.to, cp.n.copied, cp.n.skipped, opt.to, cp.n.gone,
                       cp.n.failed, deleted, cp.n.scanned, static_cast<double>(cp.n.bytes) / 1e6, secs);
    for (const auto& [why, count] : reasons) out << fmt::format("  failed {}: {}\n", count, why);
    if (result != kOk) return result;
    return cp.n.failed ? kSomeFailed : kOk;
}

}  // namespace laminar::tools

// SPDX-License-Identifier: Apache-2.0
#include "tools/copy.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <thread>

#include "tools/sync_client.h"
#include "tools/progress.h"

namespace laminar::tools {
namespace {

struct Counts {
    uint64_t scanned = 0, copied = 0, skipped = 0, gone = 0, failed = 0, bytes = 0;
};

// "key=value" lines; written to a temporary file and renamed, so a crash leaves the old one whole.
struct Checkpoint {
    std::string from, to, match, cursor = "0";
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
        n = {num("scanned"), num("copied"), num("skipped"), num("gone"), num("failed"), num("bytes")};
        return true;
    }
    void save(const std::string& path) const {
        std::string tmp = path + ".tmp";
        {
            std::ofstream o(tmp, std::ios::trunc);
            o << "# laminar copy checkpoint\nfrom=" << from << "\nto=" << to << "\nmatch=" << match << "\ncursor=" << cursor
              << "\ndone=" << (done ? 1 : 0) << "\nscanned=" << n.scanned << "\ncopied=" << n.copied << "\nskipped=" << n.skipped
              << "\ngone=" << n.gone << "\nfailed=" << n.failed << "\nbytes=" << n.bytes << "\n";
        }
        std::filesystem::rename(tmp, path);
    }
};

}  // namespace

int runCopy(const config::Config& cfg, const CopyOptions& opt, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop) {
    const auto* from_cfg = cfg.backend(opt.from);
    const auto* to_cfg = cfg.backend(opt.to);
    if (!from_cfg || !to_cfg || opt.from == opt.to) {
        err << fmt::format("laminar copy: --from and --to must name two different backends of {} (have:", cfg.source);
        for (const auto& b : cfg.backends) err << " " << b.name;
        err << ")\n";
        return kUsage;
    }
    Checkpoint cp;
    cp.from = opt.from, cp.to = opt.to, cp.match = opt.match;
    if (!opt.checkpoint.empty() && std::filesystem::exists(opt.checkpoint)) {
        Checkpoint saved;
        saved.load(opt.checkpoint);
        if (saved.from != opt.from || saved.to != opt.to || saved.match != opt.match) {
            err << fmt::format("laminar copy: checkpoint {} is for --from {} --to {} --match '{}'; remove it to start over\n", opt.checkpoint,
                               saved.from, saved.to, saved.match);
            return kUsage;
        }
        cp = saved;
        if (cp.done) {
            out << fmt::format("already complete (checkpoint {}): copied {}, skipped {}, gone {}, failed {}\n", opt.checkpoint, cp.n.copied,
                               cp.n.skipped, cp.n.gone, cp.n.failed);
            return cp.n.failed ? kSomeFailed : kOk;
        }
        if (from_cfg->type == config::BackendConfig::Type::kMemcached && cp.cursor != "0") {
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
    // A total for the bar: DBSIZE when every key of a Redis source is copied.
    uint64_t total = 0;
    if (opt.match.empty() && from_cfg->type != config::BackendConfig::Type::kMemcached)
        if (auto v = src->call({"DBSIZE"}); v.kind == Value::Kind::kInteger) total = static_cast<uint64_t>(v.integer);
    Progress progress(err, isatty(STDERR_FILENO) != 0, total);
    std::map<std::string, uint64_t> reasons;  // why keys failed, with counts
    auto started = std::chrono::steady_clock::now();
    const uint64_t base_scanned = cp.n.scanned;
    int result = kOk;
    try {
        do {
            std::vector<std::string> scan = {"SCAN", cp.cursor, "COUNT", std::to_string(opt.batch)};
            if (!opt.match.empty()) scan.insert(scan.end(), {"MATCH", opt.match});
            Value r = src->call(scan);
            if (r.kind != Value::Kind::kArray || r.elems.size() != 2 || r.elems[1].kind != Value::Kind::kArray) {
                err << "\nlaminar copy: SCAN on '" << opt.from << "' failed: " << (r.isError() ? r.str : "unexpected reply") << "\n";
                return kUnreachable;
            }
            std::vector<std::string> keys;
            for (const auto& k : r.elems[1].elems) keys.push_back(k.str);
            std::vector<std::vector<std::string>> reads;
            for (const auto& k : keys) {
                reads.push_back({"DUMP", k});
                reads.push_back({"PTTL", k});
            }
            auto got = src->callMany(reads);
            std::vector<std::vector<std::string>> writes;
            std::vector<size_t> written;  // index into keys
            for (size_t i = 0; i < keys.size(); ++i) {
                const Value& dump = got[2 * i];
                const Value& pttl = got[2 * i + 1];
                if (dump.isNil() || (pttl.kind == Value::Kind::kInteger && pttl.integer == -2)) {
                    ++cp.n.gone;  // expired or deleted since the SCAN
                    continue;
                }
                if (dump.isError() || pttl.isError()) {
                    ++cp.n.failed;
                    ++reasons[dump.isError() ? dump.str : pttl.str];
                    continue;
                }
                long long ttl = pttl.kind == Value::Kind::kInteger && pttl.integer > 0 ? pttl.integer : 0;
                std::vector<std::string> restore = {"RESTORE", keys[i], std::to_string(ttl), dump.str};
                if (opt.overwrite) restore.push_back("REPLACE");
                cp.n.bytes += dump.str.size();
                writes.push_back(std::move(restore));
                written.push_back(i);
            }
            auto replies = dst->callMany(writes);
            for (const auto& w : replies) {
                if (!w.isError()) ++cp.n.copied;
                else if (w.str.starts_with("BUSYKEY")) ++cp.n.skipped;
                else {
                    ++cp.n.failed;
                    ++reasons[w.str];
                }
            }
            cp.n.scanned += keys.size();
            cp.cursor = r.elems[0].str;
            if (!opt.checkpoint.empty()) cp.save(opt.checkpoint);
            progress.update(cp.n.scanned, cp.n.copied, cp.n.skipped, cp.n.failed, cp.n.bytes);
            if (opt.rate > 0) {  // pace: this many keys should have taken this long
                auto due = started + std::chrono::milliseconds((cp.n.scanned - base_scanned) * 1000 / opt.rate);
                std::this_thread::sleep_until(due);
            }
            if (stop.load() && cp.cursor != "0") {
                progress.finish();
                err << fmt::format("laminar copy: interrupted at cursor {}; run the same command to resume{}\n", cp.cursor,
                                   opt.checkpoint.empty() ? " (with --checkpoint FILE next time)" : "");
                result = kInterrupted;
                break;
            }
        } while (cp.cursor != "0");
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
    out << fmt::format("{} {} -> {}: copied {}, skipped {} (already on {}), gone {} (deleted or expired meanwhile), failed {}; {} keys scanned, "
                       "{:.1f} MB, {:.1f} s\n",
                       result == kOk ? "copy done" : "copy stopped", opt.from, opt.to, cp.n.copied, cp.n.skipped, opt.to, cp.n.gone,
                       cp.n.failed, cp.n.scanned, static_cast<double>(cp.n.bytes) / 1e6, secs);
    for (const auto& [why, count] : reasons) out << fmt::format("  failed {}: {}\n", count, why);
    if (result != kOk) return result;
    return cp.n.failed ? kSomeFailed : kOk;
}

}  // namespace laminar::tools

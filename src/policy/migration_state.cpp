// SPDX-License-Identifier: Apache-2.0
#include "policy/migration_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "obs/logging.h"
#include "queue/file.h"

namespace laminar::policy {
namespace {

using Phase = Migration::Phase;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::string_view kHeader = "# laminar migration state, format 1";

// Names are written tab-separated, one record a line: tabs, newlines and backslashes are escaped.
std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        char c = s[++i];
        out += c == 't' ? '\t' : c == 'n' ? '\n' : c;
    }
    return out;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i)
        if (i == line.size() || line[i] == '\t') {
            out.push_back(line.substr(start, i - start));
            start = i + 1;
        }
    return out;
}

// A steady time as wall-clock milliseconds since the epoch, and back: steady times do not survive
// a restart (nor a reboot), wall-clock times do.
int64_t toWallMs(SteadyTime t) {
    auto wall = std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - std::chrono::steady_clock::now());
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}

SteadyTime fromWallMs(int64_t ms) {
    auto wall = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(wall - std::chrono::system_clock::now());
}

std::string encode(const std::map<std::string, MigrationRecord>& board, const std::map<std::string, PhaseFacts::Backfill>& backfills,
                   const std::function<int64_t(SteadyTime)>& time) {
    std::string out(kHeader);
    out += '\n';
    for (const auto& [route, r] : board)
        out += fmt::format("route\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", escape(route), Migration::phaseName(r.phase), escape(r.from), escape(r.to),
                           time(r.since), r.to_missing ? 1 : 0, r.from_missing ? 1 : 0);
    for (const auto& [route, b] : backfills)
        out += fmt::format("backfill\t{}\t{}\t{}\t{}\t{}\n", escape(route), escape(b.pair), time(b.started), b.failed, b.reconcile ? 1 : 0);
    return out;
}

template <typename T>
bool number(std::string_view s, T& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool phaseNamed(std::string_view s, Phase& out) {
    for (Phase p : {Phase::kOldOnly, Phase::kReadOld, Phase::kReadNew, Phase::kNewOnly})
        if (Migration::phaseName(p) == s) {
            out = p;
            return true;
        }
    return false;
}

bool readWhole(const std::filesystem::path& path, std::string& out, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) return true;
        error = "cannot read " + path.string() + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) {
        error = "cannot read " + path.string();
        return false;
    }
    out = s.str();
    return true;
}

bool writeAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

}  // namespace

std::string MigrationState::encodeBoard(const std::map<std::string, MigrationRecord>& board,
                                        const std::map<std::string, PhaseFacts::Backfill>& backfills) {
    return encode(board, backfills, toWallMs);
}

bool MigrationState::decodeBoard(std::string_view text, Loaded& out, std::string& error) {
    size_t n = 0;
    while (!text.empty()) {
        ++n;
        auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        if (line.empty() || line.front() == '#') continue;
        auto f = fields(line);
        bool ok = false;
        if (f[0] == "route" && f.size() == 8) {
            MigrationRecord r;
            int64_t since = 0;
            int to_missing = 0, from_missing = 0;
            ok = phaseNamed(f[2], r.phase) && number(f[5], since) && number(f[6], to_missing) && number(f[7], from_missing);
            if (ok) {
                r.from = unescape(f[3]);
                r.to = unescape(f[4]);
                r.since = fromWallMs(since);
                r.to_missing = to_missing != 0;
                r.from_missing = from_missing != 0;
                out.board[unescape(f[1])] = std::move(r);
            }
        } else if (f[0] == "backfill" && f.size() == 6) {
            PhaseFacts::Backfill b;
            int64_t started = 0;
            int reconcile = 0;
            ok = number(f[3], started) && number(f[4], b.failed) && number(f[5], reconcile);
            if (ok) {
                b.pair = unescape(f[2]);
                b.started = fromWallMs(started);
                b.reconcile = reconcile != 0;
                out.backfills[unescape(f[1])] = std::move(b);
            }
        }
        if (!ok) {
            error = fmt::format("line {} is not a route or backfill record: \"{}\"", n, line.substr(0, 200));
            return false;
        }
    }
    return true;
}

void MigrationState::appendRecord(std::string& out, char op, std::string_view name, std::string_view key) {
    auto name_len = static_cast<uint16_t>(std::min<size_t>(name.size(), UINT16_MAX));
    auto key_len = static_cast<uint32_t>(key.size());
    out += op;
    out.append(reinterpret_cast<const char*>(&name_len), sizeof name_len);
    out.append(reinterpret_cast<const char*>(&key_len), sizeof key_len);
    out.append(name.substr(0, name_len));
    out.append(key);
}

namespace {
// Calls fn(op, name, key) for each whole record appendRecord framed, in order, until a torn one
// (the end of a file a crash cut) or until fn returns false.
template <typename Fn>
void forEachRecord(std::string_view bytes, Fn fn) {
    constexpr size_t kHead = 1 + sizeof(uint16_t) + sizeof(uint32_t);
    while (bytes.size() >= kHead) {
        uint16_t name_len = 0;
        uint32_t key_len = 0;
        std::memcpy(&name_len, bytes.data() + 1, sizeof name_len);
        std::memcpy(&key_len, bytes.data() + 1 + sizeof name_len, sizeof key_len);
        if (bytes.size() - kHead < size_t(name_len) + key_len) return;
        if (!fn(bytes[0], bytes.substr(kHead, name_len), bytes.substr(kHead + name_len, key_len))) return;
        bytes.remove_prefix(kHead + name_len + key_len);
    }
}
}  // namespace

void MigrationState::appendUnits(std::string& out, char op, std::string_view pair, std::string_view key, int64_t count) {
    std::string field(sizeof count, '\0');
    std::memcpy(field.data(), &count, sizeof count);
    field.append(key);
    appendRecord(out, op, pair, field);
}

std::string MigrationState::mirrorKey(std::string_view pair, std::string_view key) {
    std::string out;
    appendRecord(out, 'k', pair, key);
    return out;
}

std::vector<MigrationState::Owed> MigrationState::decodeOwed(std::string_view bytes) {
    struct State {
        bool backlog = false;
        int64_t units = 0;
    };
    std::map<std::pair<std::string, std::string>, State> owed;
    bool ok = true;
    forEachRecord(bytes, [&](char op, std::string_view pair, std::string_view key) {
        if (op == '+' || op == '-') {
            owed[{std::string(pair), std::string(key)}].backlog = op == '+';
            return true;
        }
        if ((op != 'W' && op != 'd') || key.size() < sizeof(int64_t)) return ok = false;
        int64_t count = 0;
        std::memcpy(&count, key.data(), sizeof count);
        owed[{std::string(pair), std::string(key.substr(sizeof count))}].units += op == 'W' ? count : -count;
        return true;
    });
    std::vector<Owed> out;
    for (auto& [pk, st] : owed)
        if (st.backlog || st.units > 0) out.push_back({pk.first, pk.second});
    return out;
}

namespace {
// The id the kernel gives each boot: records written but not fsynced survive a crash of the
// process, not one of the machine.
std::string bootId() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
}
}  // namespace

void MigrationState::distrust(Loaded& loaded) {
    for (auto& [route, r] : loaded.board) {
        if (r.phase == Phase::kReadOld) r.to_missing = true;
        if (r.phase == Phase::kReadNew) r.from_missing = true;
    }
    loaded.backfills.clear();
}

std::map<std::string, MigrationState::Changes> MigrationState::decodeChanged(std::string_view bytes) {
    std::map<std::string, Changes> out;
    forEachRecord(bytes, [&](char op, std::string_view route, std::string_view key) {
        Changes& c = out[std::string(route)];
        if (op == '0' || op == 'i') c = Changes{true, op == '0', {}};
        else if (op == '+' && c.recording) c.keys.emplace(key);
        else if (op == 's') c.recording = false;
        else if (op == 'x') c = Changes{false, false, {}};
        return true;
    });
    return out;
}

MigrationState::MigrationState(std::filesystem::path dir, int lock_fd, int owed_fd)
    : dir_(std::move(dir)), lock_fd_(lock_fd), owed_fd_(owed_fd) {}

MigrationState::~MigrationState() {
    io::forgetWriteAheadLog(this);
    if (owed_fd_ >= 0) ::close(owed_fd_);
    if (changed_fd_ >= 0) ::close(changed_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::unique_ptr<MigrationState> MigrationState::open(const std::filesystem::path& dir, Loaded& out, std::string& error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        error = fmt::format("cannot create {}: {}", dir.string(), ec.message());
        return nullptr;
    }
    auto running = dir / "running";
    out.unclean = std::filesystem::exists(running, ec);
    int lock_fd = ::open(running.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
        error = fmt::format("cannot open {}: {}", running.string(), std::strerror(errno));
        return nullptr;
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {};
        ssize_t n = ::pread(lock_fd, pid, sizeof pid - 1, 0);
        error = fmt::format("{} is in use by another laminar (pid {}): each instance needs a state_dir of its own", dir.string(),
                            n > 0 ? std::string_view(pid, static_cast<size_t>(n)) : "unknown");
        ::close(lock_fd);
        return nullptr;
    }
    auto pid = std::to_string(::getpid());
    if (::ftruncate(lock_fd, 0) != 0 || ::pwrite(lock_fd, pid.data(), pid.size(), 0) < 0) {
        error = fmt::format("cannot write {}: {}", running.string(), std::strerror(errno));
        ::close(lock_fd);
        return nullptr;
    }
    std::unique_ptr<MigrationState> state(new MigrationState(dir, lock_fd, -1));

    std::string text;
    if (!readWhole(dir / "migrations", text, error)) return nullptr;
    if (!decodeBoard(text, out, error)) {
        error = fmt::format("{}: {} (move the file aside to start with no migration history)", (dir / "migrations").string(), error);
        return nullptr;
    }
    std::string owed;
    if (!readWhole(dir / "owed", owed, error)) return nullptr;
    out.owed = decodeOwed(owed);
    std::string changed;
    if (!readWhole(dir / "changed", changed, error)) return nullptr;
    state->changes_ = decodeChanged(changed);
    const std::string boot = bootId();
    if (out.unclean) {
        std::string intact;
        std::string ignored;
        readWhole(dir / "ahead-intact", intact, ignored);
        while (!intact.empty() && (intact.back() == '\n' || intact.back() == ' ')) intact.pop_back();
        if (intact.empty())
            out.untrusted = "a write-ahead record could not be written, or the run was of a laminar that wrote none";
        else if (boot.empty() || intact != boot)
            out.untrusted = "the machine restarted since: the last records may never have reached the disk";
    }
    if (!out.untrusted.empty()) {
        // Copies in flight when the last run ended may have gone unrecorded: the side each route
        // copies to may lack writes, and a backfill of before does not cover them. The last
        // records of keys changed in new_only may be missing too.
        distrust(out);
        for (auto& [route, c] : state->changes_) c.complete = false;
    }
    std::string compact_changed;
    for (const auto& [route, c] : state->changes_) {
        appendRecord(compact_changed, c.complete ? '0' : 'i', route, {});
        for (const auto& k : c.keys) appendRecord(compact_changed, '+', route, k);
        if (!c.recording) appendRecord(compact_changed, 's', route, {});
    }
    if (!queue::replaceFile(dir, "changed", compact_changed, true, state->fsyncs_, error)) return nullptr;
    state->changed_fd_ = ::open((dir / "changed").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (state->changed_fd_ < 0) {
        error = fmt::format("cannot open {}: {}", (dir / "changed").string(), std::strerror(errno));
        return nullptr;
    }
    // Compacted: only the keys still owed, each in the backlog until its copy is done.
    std::string compact;
    for (const auto& o : out.owed) {
        appendRecord(compact, '+', o.pair, o.key);
        state->owing_[mirrorKey(o.pair, o.key)].backlog = true;
    }
    if (!queue::replaceFile(dir, "owed", compact, true, state->fsyncs_, error)) return nullptr;
    state->owed_fd_ = ::open((dir / "owed").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (state->owed_fd_ < 0) {
        error = fmt::format("cannot open {}: {}", (dir / "owed").string(), std::strerror(errno));
        return nullptr;
    }
    // Only now, with the files this run appends to in place: the records from here on are whole.
    if (!boot.empty() && !queue::replaceFile(dir, "ahead-intact", boot + "\n", true, state->fsyncs_, error)) return nullptr;
    if (boot.empty()) ::unlink((dir / "ahead-intact").c_str());
    return state;
}

bool MigrationState::save(const std::map<std::string, MigrationRecord>& board, const std::map<std::string, PhaseFacts::Backfill>& backfills,
                          std::string& error) {
    // Compared by the steady times themselves: their wall-clock form moves with every call.
    auto fingerprint = encode(board, backfills, [](SteadyTime t) { return static_cast<int64_t>(t.time_since_epoch().count()); });
    if (fingerprint == last_board_) return true;
    if (!queue::replaceFile(dir_, "migrations", encodeBoard(board, backfills), true, fsyncs_, error)) return false;
    last_board_ = std::move(fingerprint);
    return true;
}

void MigrationState::owe(const std::string& pair, std::string_view key) {
    std::lock_guard lock(mu_);
    appendRecord(buffered_, '+', pair, key);
    owing_[mirrorKey(pair, key)].backlog = true;
    io::markWriteAhead();
}

void MigrationState::paid(const std::string& pair, std::string_view key) {
    std::lock_guard lock(mu_);
    appendRecord(buffered_, '-', pair, key);
    auto it = owing_.find(mirrorKey(pair, key));
    if (it == owing_.end()) return;
    it->second.backlog = false;
    if (it->second.units <= 0) owing_.erase(it);
}

void MigrationState::ahead(const std::string& pair, std::string_view key) {
    std::lock_guard lock(mu_);
    appendUnits(buffered_, 'W', pair, key, 1);
    ++owing_[mirrorKey(pair, key)].units;
    io::markWriteAhead();
}

// Paid records need not go ahead of anything: one lost makes the next start copy a key again.
void MigrationState::settled(const std::string& pair, std::string_view key, int64_t units) {
    std::lock_guard lock(mu_);
    appendUnits(buffered_, 'd', pair, key, units);
    auto it = owing_.find(mirrorKey(pair, key));
    if (it == owing_.end()) return;
    it->second.units -= units;
    if (it->second.units <= 0 && !it->second.backlog) owing_.erase(it);
}

void MigrationState::drainAhead() {
    std::lock_guard lock(mu_);
    std::string error;
    if (!drainLocked(error) && !ahead_broken_) {
        // The writes go on (refusing them would be an outage); the next start after a crash
        // distrusts these files instead.
        ahead_broken_ = true;
        ::unlink((dir_ / "ahead-intact").c_str());
        obs::logger("state")->error("state_dir: {}: write-ahead records are late from now on, so a crash of this run will be "
                                    "treated as one whose copies in flight are unknown (a reconciling backfill before the next flip)",
                                    error);
    }
    // Cleared even on an error: flush() retries every second, not every send.
    io::clearWriteAhead();
}

bool MigrationState::drainLocked(std::string& error) {
    return writeBuffered(owed_fd_, buffered_, "owed", error) && writeBuffered(changed_fd_, changed_buffered_, "changed", error);
}

void MigrationState::changed(const std::string& route, std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = changes_.find(route);
    if (it == changes_.end() || !it->second.recording) return;
    Changes& c = it->second;
    if (!c.keys.emplace(key).second) return;
    if (c.keys.size() <= kMaxChangedKeys) {
        appendRecord(changed_buffered_, '+', route, key);
        io::markWriteAhead();
        return;
    }
    // Too many to be worth it: a step back scans both sides (RECONCILE) instead.
    c = Changes{false, false, {}};
    appendRecord(changed_buffered_, 'x', route, {});
}

void MigrationState::beginChanges(const std::string& route, bool complete) {
    std::lock_guard lock(mu_);
    changes_[route] = Changes{true, complete, {}};
    appendRecord(changed_buffered_, complete ? '0' : 'i', route, {});
}

void MigrationState::endChanges(const std::string& route) {
    std::lock_guard lock(mu_);
    auto it = changes_.find(route);
    if (it == changes_.end() || !it->second.recording) return;
    it->second.recording = false;
    appendRecord(changed_buffered_, 's', route, {});
}

MigrationState::ChangedKeys MigrationState::changedKeys(const std::string& route) const {
    std::lock_guard lock(mu_);
    auto it = changes_.find(route);
    if (it == changes_.end()) return {};
    ChangedKeys out{true, it->second.recording, it->second.complete, {}};
    out.keys.assign(it->second.keys.begin(), it->second.keys.end());
    return out;
}

// Appends `buffer` to `fd`; a part written (a full disk) is cut, so the next records follow whole
// ones, and the buffer stays for the next try.
bool MigrationState::writeBuffered(int fd, std::string& buffer, const char* name, std::string& error) {
    if (buffer.empty()) return true;
    off_t before = ::lseek(fd, 0, SEEK_END);
    if (!writeAll(fd, buffer)) {
        error = fmt::format("cannot append to {}: {}", (dir_ / name).string(), std::strerror(errno));
        if (before >= 0 && ::ftruncate(fd, before) != 0) error += "; and cannot cut the part written";
        return false;
    }
    buffer.clear();
    return true;
}

bool MigrationState::flush(std::string& error) {
    std::lock_guard lock(mu_);
    return drainLocked(error) && compactLocked(error);
}

off_t MigrationState::owedFileSize() const {
    std::lock_guard lock(mu_);
    struct stat st {};
    return ::fstat(owed_fd_, &st) == 0 ? st.st_size : -1;
}

// Under mu_, with the buffer written: the file replays to owing_, so owing_ can replace it.
bool MigrationState::compactLocked(std::string& error) {
    struct stat st {};
    if (::fstat(owed_fd_, &st) != 0 || st.st_size == 0) return true;
    if (!owing_.empty() && st.st_size < kCompactAt) return true;
    std::string all;
    for (const auto& entry : owing_) {
        if (all.size() * 4 > static_cast<size_t>(st.st_size)) return true;  // mostly still owed: not worth it yet
        const Owing& o = entry.second;
        forEachRecord(entry.first, [&](char, std::string_view pair, std::string_view key) {
            if (o.backlog) appendRecord(all, '+', pair, key);
            if (o.units > 0) appendUnits(all, 'W', pair, key, o.units);
            return false;
        });
    }
    if (!queue::replaceFile(dir_, "owed", all, false, fsyncs_, error)) return false;
    int fd = ::open((dir_ / "owed").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        error = fmt::format("cannot open {}: {}", (dir_ / "owed").string(), std::strerror(errno));
        return false;
    }
    ::close(owed_fd_);
    owed_fd_ = fd;
    return true;
}

bool MigrationState::closeCleanly(const std::vector<Owed>& owed, std::string& error) {
    std::string all;
    for (const auto& o : owed) appendRecord(all, '+', o.pair, o.key);
    {
        std::lock_guard lock(mu_);
        buffered_.clear();
        if (!writeBuffered(changed_fd_, changed_buffered_, "changed", error)) return false;
        if (!queue::syncFd(changed_fd_, fsyncs_)) {
            error = fmt::format("fsync {}: {}", (dir_ / "changed").string(), std::strerror(errno));
            return false;
        }
    }
    if (!queue::replaceFile(dir_, "owed", all, true, fsyncs_, error)) return false;
    return release(error);
}

bool MigrationState::release(std::string& error) {
    if (::unlink((dir_ / "running").c_str()) != 0) {
        error = fmt::format("cannot remove {}: {}", (dir_ / "running").string(), std::strerror(errno));
        return false;
    }
    return queue::syncDir(dir_, fsyncs_, error);
}

}  // namespace laminar::policy

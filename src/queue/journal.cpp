// SPDX-License-Identifier: Apache-2.0
#include "queue/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>
#include <set>

#include "obs/logging.h"
#include "queue/cursor_file.h"
#include "queue/file.h"
#include "queue/frame.h"
#include "queue/segment.h"

#include "queue/journal_impl.h"

namespace laminar::queue {

// --- open (journal_recovery.cpp reads what is on disk) --------------------------------------------

std::unique_ptr<Journal> Journal::open(JournalOptions options, std::string& error) {
    if (options.dir.empty()) {
        error = "queue: dir is not set";
        return nullptr;
    }
    if (options.segment_bytes == 0 || options.segment_bytes > kMaxSegmentBytes) {
        error = fmt::format("queue: segment_bytes must be in 1..{}, got {}", kMaxSegmentBytes, options.segment_bytes);
        return nullptr;
    }
    for (const auto& t : options.targets) {
        if (!validTarget(t)) {
            error = "queue: target name \"" + t + "\" must be non-empty and without spaces";
            return nullptr;
        }
    }
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec) {
        error = "queue: cannot create " + options.dir.string() + ": " + ec.message();
        return nullptr;
    }
    std::unique_ptr<Journal> j(new Journal(std::move(options)));
    Impl& s = *j->impl_;
    std::string err;
    if (!s.recover(err) || !s.loadTargets(err)) {
        error = "queue: " + err;
        return nullptr;
    }
    s.flusher = std::thread([&s] { s.flushLoop(); });
    return j;
}

Journal::Journal(JournalOptions options) : opt_(std::move(options)), impl_(std::make_unique<Impl>(opt_)) {}

bool Journal::Impl::createSegment(uint64_t first_seq, std::string& err) {
    Segment seg;
    seg.first_seq = first_seq;
    seg.base = end_pos;
    seg.path = opt.dir / segmentName(first_seq);
    seg.file = openFile(seg.path, O_RDWR | O_CREAT | O_EXCL, err);
    if (!seg.file) return false;
    segments.push_back(std::move(seg));
    dir_dirty = true;
    return true;
}

// --- lookups (mu held) --------------------------------------------------------------------------

const Segment& Journal::Impl::segmentFor(uint64_t seq) const {
    auto it = std::upper_bound(segments.begin(), segments.end(), seq,
                               [](uint64_t s, const Segment& seg) { return s < seg.first_seq; });
    return *std::prev(it);
}

uint64_t Journal::Impl::position(uint64_t seq) const {
    if (seq > last_seq) return end_pos;
    if (seq <= segments.front().first_seq) return segments.front().base;
    const Segment& seg = segmentFor(seq);
    return seg.base + seg.offsetOf(seq);
}

uint64_t Journal::Impl::slowestBacklog() const {
    if (cursors.empty()) return end_pos - segments.front().base;
    uint64_t slowest = std::numeric_limits<uint64_t>::max();
    for (const auto& [t, c] : cursors) slowest = std::min(slowest, c);
    return backlog(slowest);
}

int64_t Journal::Impl::unixMsOf(uint64_t seq) const {
    const Segment& seg = segmentFor(seq);
    char buf[8];
    if (!readAllAt(seg.file->fd(), buf, sizeof buf, seg.offsetOf(seq) + 16)) return 0;
    int64_t ms = 0;
    for (int i = 7; i >= 0; --i) ms = (ms << 8) | static_cast<unsigned char>(buf[i]);
    return ms;
}

void Journal::Impl::fail(std::string what) {
    if (!error.empty()) return;
    error = std::move(what);
    for (auto& [seq, fn] : waiting) abandoned.push_back(std::move(fn));
    waiting.clear();
    for (auto& w : persist_waiting) abandoned.push_back(std::move(w.fn));
    persist_waiting.clear();
    wake.notify_all();  // the flusher tells them
    journalLog()->error("journal {} failed, refusing appends from now on: {}", opt.dir.string(), error);
}

// --- the data path ------------------------------------------------------------------------------

uint64_t Journal::backlogBytes() const {
    std::lock_guard lk(impl_->mu);
    return impl_->slowestBacklog();
}

uint64_t Journal::append(std::string_view data) { return appendMany(std::span<const std::string_view>(&data, 1)); }

uint64_t Journal::append(std::string_view data, uint64_t limit) { return appendMany(std::span<const std::string_view>(&data, 1), limit); }

uint64_t Journal::appendMany(std::span<const std::string_view> records, uint64_t limit) {
    if (limit == 0) limit = opt_.max_bytes;
    Impl& s = *impl_;
    if (records.empty()) return 0;
    std::vector<uint32_t> crcs;
    crcs.reserve(records.size());
    uint64_t total = 0;
    for (auto r : records) {
        if (r.size() > kMaxRecordBytes) {
            std::lock_guard lk(s.mu);
            ++s.rejected;
            journalLog()->warn("refusing a {}-byte record (the limit is {})", r.size(), kMaxRecordBytes);
            return 0;
        }
        crcs.push_back(dataChecksum(r));
        total += kFrameHeaderBytes + r.size();
    }
    std::lock_guard lk(s.mu);
    if (!s.error.empty()) return 0;
    if (s.slowestBacklog() + total > limit) {
        s.rejected += records.size();
        return 0;
    }
    std::string err;
    if (s.segments.back().bytes >= opt_.segment_bytes && s.segments.back().count() > 0 &&
        !s.createSegment(s.last_seq + 1, err)) {
        s.appendFailed(err, records.size());
        return 0;
    }
    Segment& seg = s.segments.back();
    if (seg.bytes + total > std::numeric_limits<uint32_t>::max()) {  // offsets are 32-bit
        s.fail(fmt::format("{}: a batch of {} bytes does not fit the segment", seg.path.string(), total));
        return 0;
    }
    const uint64_t first = s.last_seq + 1;
    const int64_t now = nowMs();
    std::vector<std::array<char, kFrameHeaderBytes>> headers;
    headers.reserve(records.size());
    std::vector<iovec> iov;
    iov.reserve(records.size() * 2);
    for (size_t i = 0; i < records.size(); ++i) {
        headers.push_back(encodeHeader(first + i, now, static_cast<uint32_t>(records[i].size()), crcs[i]));
        iov.push_back({headers.back().data(), headers.back().size()});
        iov.push_back({const_cast<char*>(records[i].data()), records[i].size()});
    }
    // In slices of IOV_MAX (1024) buffers: one pwritev each.
    uint64_t at = seg.bytes;
    for (size_t i = 0; i < iov.size(); i += 1024) {
        size_t n = std::min<size_t>(1024, iov.size() - i);
        uint64_t bytes = 0;
        for (size_t j = i; j < i + n; ++j) bytes += iov[j].iov_len;
        if (!writeAllAt(seg.file->fd(), iov.data() + i, static_cast<int>(n), at)) {
            // Nothing of the batch counts: cut what part of it was written, and refuse it. A full
            // disk (or another write error) passes: the next append tries again. Only a file that
            // cannot be cut back to its records stops the journal.
            std::string what = fmt::format("write {} at offset {}: {}", seg.path.string(), at, errnoText());
            if (::ftruncate(seg.file->fd(), static_cast<off_t>(seg.bytes)) != 0) {
                s.fail(what + "; and it cannot be cut back: " + errnoText());
                return 0;
            }
            s.appendFailed(what, records.size());
            return 0;
        }
        at += bytes;
    }
    for (auto r : records) {
        seg.offsets.push_back(static_cast<uint32_t>(seg.bytes));
        seg.bytes += kFrameHeaderBytes + r.size();
    }
    seg.dirty = true;
    s.end_pos += total;
    if (!s.append_error.empty()) {
        journalLog()->info("journal {}: appends work again (they failed: {})", opt_.dir.string(), s.append_error);
        s.append_error.clear();
    }
    s.last_seq = first + records.size() - 1;
    s.appended += records.size();
    if (opt_.fsync == Fsync::kAlways) s.wake.notify_one();
    return first;
}

void Journal::whenDurable(uint64_t seq, std::function<void(bool durable)> fn) {
    Impl& s = *impl_;
    if (opt_.fsync == Fsync::kAlways) {
        std::unique_lock lk(s.mu);
        if (!s.error.empty()) {
            lk.unlock();
            return fn(false);
        }
        if (seq > s.synced_seq) {
            s.waiting.emplace(seq, std::move(fn));
            return;
        }
    }
    fn(true);
}

void Journal::whenPersisted(const std::string& target, uint64_t seq, std::function<void(bool persisted)> fn) {
    Impl& s = *impl_;
    std::unique_lock lk(s.mu);
    auto it = s.persisted.find(target);
    if (!s.error.empty() || it == s.persisted.end() || it->second >= seq) {
        bool ok = s.error.empty();
        lk.unlock();
        return fn(ok);
    }
    s.persist_waiting.push_back({target, seq, std::move(fn)});
    s.wake.notify_all();
}

bool Journal::read(const std::string& target, uint64_t after, size_t max, std::vector<Record>& out) {
    Impl& s = *impl_;
    struct Piece {
        std::shared_ptr<File> file;
        fs::path path;
        uint64_t offset;
        uint64_t bytes;
        uint64_t first_seq;
        uint64_t count;
        // Only for a segment with records lost to damage: where each record starts, and which
        // are lost (handed out as Record::lost, with no data).
        std::vector<uint32_t> offsets;
        std::vector<char> lost;
    };
    std::vector<Piece> pieces;
    {
        std::lock_guard lk(s.mu);
        if (!s.cursors.count(target)) return false;
        if (after >= s.last_seq) return true;
        uint64_t seq = std::max(after + 1, s.segments.front().first_seq);
        uint64_t budget = kReadBudget;
        while (seq <= s.last_seq && max > 0 && budget > 0) {
            const Segment& seg = s.segmentFor(seq);
            uint64_t i = seq - seg.first_seq;
            uint64_t j = i + std::min<uint64_t>(seg.count() - i, max);
            uint64_t begin = seg.offsets[i];
            if (seg.offsetOf(seg.first_seq + j) - begin > budget) {
                // The most records from i that fit the budget; at least one.
                auto fit = std::upper_bound(seg.offsets.begin() + static_cast<ptrdiff_t>(i) + 1,
                                            seg.offsets.begin() + static_cast<ptrdiff_t>(j), begin + budget);
                j = std::max<uint64_t>(i + 1, static_cast<uint64_t>(fit - seg.offsets.begin()) - 1);
            }
            uint64_t end = seg.offsetOf(seg.first_seq + j);
            pieces.push_back({seg.file, seg.path, begin, end - begin, seq, j - i, {}, {}});
            if (!seg.lost.empty()) {
                Piece& p = pieces.back();
                p.offsets.assign(seg.offsets.begin() + static_cast<ptrdiff_t>(i), seg.offsets.begin() + static_cast<ptrdiff_t>(j));
                for (uint64_t k = 0; k < j - i; ++k) p.lost.push_back(std::binary_search(seg.lost.begin(), seg.lost.end(), seq + k));
            }
            budget -= std::min(budget, end - begin);
            max -= j - i;
            seq += j - i;
        }
    }
    // Outside the lock: the bytes are written and stay put, and each piece holds its file open.
    std::string buf;
    for (const Piece& p : pieces) {
        buf.resize(p.bytes);
        std::string problem;
        if (!readAllAt(p.file->fd(), buf.data(), buf.size(), p.offset)) problem = "read error: " + errnoText();
        size_t off = 0;
        for (uint64_t k = 0; k < p.count && problem.empty(); ++k) {
            if (!p.lost.empty()) {
                if (p.lost[k]) {
                    out.push_back(Record{p.first_seq + k, 0, {}, true});
                    continue;
                }
                off = p.offsets[k] - p.offset;
            }
            FrameHeader h = decodeHeader(buf.data() + off);
            std::string_view data(buf.data() + off + kFrameHeaderBytes,
                                  std::min<size_t>(h.len, buf.size() - off - kFrameHeaderBytes));
            if (h.seq != p.first_seq + k || !checksumMatches(h, data)) {
                problem = fmt::format("offset {}: record {} is corrupt", p.offset + off, p.first_seq + k);
                break;
            }
            out.push_back(Record{h.seq, h.unix_ms, std::string(data), false});
            off += kFrameHeaderBytes + h.len;
        }
        if (!problem.empty()) {
            std::lock_guard lk(s.mu);
            s.fail(p.path.string() + ": " + problem);
            return false;
        }
    }
    return true;
}

void Journal::ack(const std::string& target, uint64_t seq) {
    Impl& s = *impl_;
    std::lock_guard lk(s.mu);
    auto it = s.cursors.find(target);
    if (it == s.cursors.end()) return;
    seq = std::min(seq, s.last_seq);
    if (seq > it->second) {
        it->second = seq;
        s.cursors_dirty = true;
    }
}

uint64_t Journal::acked(const std::string& target) const {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->cursors.find(target);
    return it == impl_->cursors.end() ? 0 : it->second;
}

uint64_t Journal::lastSeq() const {
    std::lock_guard lk(impl_->mu);
    return impl_->last_seq;
}

std::string Journal::error() const {
    std::lock_guard lk(impl_->mu);
    return impl_->error;
}

std::string Journal::writeError() const {
    std::lock_guard lk(impl_->mu);
    if (!impl_->error.empty()) return impl_->error;
    if (!impl_->append_error.empty()) return impl_->append_error;
    return impl_->cursor_error;
}

JournalStats Journal::stats() const {
    const Impl& s = *impl_;
    JournalStats st;
    std::lock_guard lk(s.mu);
    st.appended = s.appended;
    st.last_seq = s.last_seq;
    st.bytes = s.end_pos - s.segments.front().base;
    st.rejected = s.rejected;
    st.fsyncs = s.fsyncs.load(std::memory_order_relaxed);
    st.torn_bytes = s.torn_bytes;
    st.lost_records = s.lost_records;
    st.damage = s.damage;
    for (const auto& [target, acked] : s.cursors) {
        JournalStats::Target& t = st.targets[target];
        t.acked = acked;
        t.records = s.last_seq - acked;
        t.bytes = s.backlog(acked);
        t.oldest_ms = t.records > 0 ? s.unixMsOf(acked + 1) : 0;
    }
    return st;
}

// --- stop (the flusher's loop is in journal_flusher.cpp) ---------------------------------------

Journal::~Journal() {
    Impl& s = *impl_;
    if (!s.flusher.joinable()) return;
    {
        std::lock_guard lk(s.mu);
        s.stop = true;
    }
    s.wake.notify_all();
    s.flusher.join();
    // Still waiting (an fsync failed, or the last one did not cover them): not durable.
    for (auto& [seq, fn] : s.waiting) s.abandoned.push_back(std::move(fn));
    s.waiting.clear();
    for (auto& w : s.persist_waiting) s.abandoned.push_back(std::move(w.fn));
    s.persist_waiting.clear();
    for (auto& fn : s.abandoned) fn(false);
}

}  // namespace laminar::queue

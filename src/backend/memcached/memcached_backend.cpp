// SPDX-License-Identifier: Apache-2.0
#include "backend/memcached/memcached_backend.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

#include "obs/logging.h"
#include "backend/memcached/commands.h"
#include "backend/memcached/libmemcached_store.h"
#include "resp/request_parser.h"
#include "io/write_ahead.h"

namespace laminar::backend::memcached {
namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kProbeEvery = std::chrono::seconds(1);

std::shared_ptr<spdlog::logger> log() {
    static auto l = obs::logger("memcached");
    return l;
}
}  // namespace

// Where a pool thread leaves replies for one I/O thread: one post wakes the thread for all the
// replies that arrived meanwhile.
struct Inbox : std::enable_shared_from_this<Inbox> {
    struct Done {
        ReplySink* sink;
        std::string reply;
        bool failed;
        Clock::time_point sent;
    };

    Inbox(boost::asio::io_context& c, obs::BackendCounters& m) : ioc(c), counters(m) {}

    void deliver(Done done) {
        std::lock_guard lock(mu);
        if (closed) return;
        ready.push_back(std::move(done));
        if (scheduled) return;
        scheduled = true;
        boost::asio::post(ioc, [self = shared_from_this()] { self->drain(); });
    }

    // On the I/O thread.
    void drain() {
        std::vector<Done> batch;
        {
            std::lock_guard lock(mu);
            batch.swap(ready);
            scheduled = false;
            if (closed) return;
        }
        auto now = Clock::now();
        for (auto& d : batch) {
            --inflight;
            auto micros = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - d.sent).count());
            latency.add(micros);
            counters.latency.observe(micros);
            d.sink->complete(d.reply, d.failed);
        }
    }

    boost::asio::io_context& ioc;
    obs::BackendCounters& counters;  // I/O thread only
    std::mutex mu;
    std::vector<Done> ready;
    bool scheduled = false;
    bool closed = false;
    size_t inflight = 0;  // I/O thread only
    LatencyRing latency;  // I/O thread only
};

// The threads that talk to memcached for one backend, shared by every I/O thread.
class Pool {
public:
    struct Job {
        std::string command;  // RESP
        ReplySink* sink;
        std::shared_ptr<Inbox> inbox;
        Clock::time_point sent;
    };

    Pool(const config::BackendConfig& cfg, std::shared_ptr<HealthCell> cell) : cfg_(cfg), cell_(std::move(cell)), lanes_(static_cast<size_t>(cfg.pool)) {
        for (auto& lane : lanes_) {
            cell_->known_threads.fetch_add(1);
            cell_->up_threads.fetch_add(1);
            lane.thread = std::thread([this, &lane] { run(lane); });
        }
    }

    ~Pool() {
        for (auto& lane : lanes_) {
            std::lock_guard lock(lane.mu);
            lane.stop = true;
            lane.cv.notify_one();
        }
        for (auto& lane : lanes_) lane.thread.join();
    }

    const config::BackendConfig& config() const { return cfg_; }
    const std::shared_ptr<HealthCell>& cell() const { return cell_; }

    void submit(uint64_t client_id, Job job) {
        Lane& lane = lanes_[client_id % lanes_.size()];
        std::lock_guard lock(lane.mu);
        lane.jobs.push_back(std::move(job));
        if (lane.waiting) lane.cv.notify_one();
    }

    // One pool per backend name and settings: I/O threads share it; a reload that changes the
    // settings gets a new one, and the old one ends with its last user.
    static std::shared_ptr<Pool> get(const config::BackendConfig& cfg, const std::shared_ptr<HealthCell>& cell) {
        static std::mutex mu;
        static std::map<std::string, std::weak_ptr<Pool>> pools;
        std::lock_guard lock(mu);
        auto& weak = pools[cfg.name];
        auto pool = weak.lock();
        if (!pool || !(pool->config() == cfg) || pool->cell() != cell) {
            pool = std::make_shared<Pool>(cfg, cell);
            weak = pool;
        }
        return pool;
    }

    // One canary key per server, found once for each base (the canary's is always the same).
    std::vector<CanaryKey> canaryKeys(const std::string& base) {
        std::lock_guard lock(canary_mu_);
        auto& keys = canary_keys_[base];
        if (keys.empty()) keys = keyPerServer(cfg_, base);
        return keys;
    }

private:
    struct Lane {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<Job> jobs;
        bool waiting = false;
        bool stop = false;
        bool up = true;
        std::thread thread;
    };

    void run(Lane& lane) {
        // A reload makes lanes on an I/O thread, whose SCHED_BATCH (io_scheduling) a new thread
        // would inherit: lanes block in libmemcached and take the normal policy.
        sched_param normal{};
        if (::sched_getscheduler(0) == SCHED_BATCH) ::sched_setscheduler(0, SCHED_OTHER, &normal);
        LibmemcachedStore store(cfg_);
        Translator translator(store, {cfg_.name, cfg_.key_hash, cfg_.max_value});
        resp::RequestParser parser;
        std::deque<Job> batch;
        for (;;) {
            {
                std::unique_lock lock(lane.mu);
                lane.waiting = true;
                bool woken = lane.cv.wait_for(lock, kProbeEvery, [&] { return lane.stop || !lane.jobs.empty(); });
                lane.waiting = false;
                if (lane.stop && lane.jobs.empty()) break;
                batch.swap(lane.jobs);
                if (!woken) {  // idle: find out whether memcached is still (or again) there
                    lock.unlock();
                    noteHealth(lane, store.ping() == Status::kOk, store);
                    continue;
                }
            }
            execute(lane, batch, store, translator, parser);
            batch.clear();
        }
        if (lane.up) cell_->up_threads.fetch_sub(1);
        cell_->known_threads.fetch_sub(1);
    }

    // Runs a batch in order. Consecutive GETs, or consecutive plain SETs (many clients at once),
    // share one memcached round trip.
    void execute(Lane& lane, std::deque<Job>& batch, Store& store, Translator& translator, resp::RequestParser& parser) {
        std::vector<std::vector<std::string_view>> argvs(batch.size());
        for (size_t i = 0; i < batch.size(); ++i) {
            parser.reset();
            if (parser.parse(batch[i].command) == resp::ParseStatus::kOk) argvs[i] = parser.args();
        }
        for (size_t i = 0; i < batch.size();) {
            size_t gets = i, sets = i;
            while (gets < batch.size() && Translator::isGet(argvs[gets])) ++gets;
            while (sets < batch.size() && Translator::isPlainSet(argvs[sets])) ++sets;
            if (gets - i > 1 || sets - i > 1) {
                std::vector<Translator::Result> results;
                size_t end = std::max(gets, sets);
                if (gets > sets) {
                    std::vector<std::string_view> keys;
                    for (size_t j = i; j < end; ++j) keys.push_back(argvs[j][1]);
                    results = translator.getMany(keys);
                } else {
                    std::vector<std::span<const std::string_view>> commands(argvs.begin() + static_cast<long>(i), argvs.begin() + static_cast<long>(end));
                    results = translator.setMany(commands);
                }
                noteHealth(lane, !results.front().failed, store);
                for (size_t j = i; j < end; ++j) finish(batch[j], std::move(results[j - i]));
                i = end;
                continue;
            }
            Translator::Result r;
            if (!argvs[i].empty()) r = translator.execute(argvs[i]);
            else r = {"-ERR laminar: malformed command for memcached backend '" + cfg_.name + "'\r\n", false};
            noteHealth(lane, !r.failed, store);
            finish(batch[i], std::move(r));
            ++i;
        }
    }

    static void finish(Job& job, Translator::Result r) { job.inbox->deliver({job.sink, std::move(r.reply), r.failed, job.sent}); }

    void noteHealth(Lane& lane, bool ok, const Store& store) {
        if (!ok) cell_->noteFailure();
        if (ok == lane.up) return;
        lane.up = ok;
        cell_->countThread(ok, fmt::format("memcached backend '{}'", cfg_.name), store.error(), *log());
    }

    std::mutex canary_mu_;
    std::map<std::string, std::vector<CanaryKey>> canary_keys_;
    config::BackendConfig cfg_;
    std::shared_ptr<HealthCell> cell_;
    std::vector<Lane> lanes_;
};

MemcachedBackend::MemcachedBackend(boost::asio::io_context& ioc, const config::BackendConfig& cfg, obs::BackendCounters& counters,
                                   HealthBoard& health)
    : Backend(cfg), pool_(Pool::get(cfg, health.cell(cfg.name))), inbox_(std::make_shared<Inbox>(ioc, counters)), cell_(health.cell(cfg.name)) {}

MemcachedBackend::~MemcachedBackend() {
    std::lock_guard lock(inbox_->mu);
    inbox_->closed = true;
}

void MemcachedBackend::send(uint64_t client_id, std::string_view raw, ReplySink* sink) {
    ++inbox_->inflight;
    io::beforeSend();  // a store thread may send it at once: its write-ahead records go first
    pool_->submit(client_id, {std::string(raw), sink, inbox_, Clock::now()});
}

std::vector<CanaryKey> MemcachedBackend::canaryKeys(const std::string& base) const {
    if (cfg_.servers.size() < 2) return Backend::canaryKeys(base);
    return pool_->canaryKeys(base);
}

bool MemcachedBackend::idle() const { return inbox_->inflight == 0; }

void MemcachedBackend::flushHealthLog() { cell_->logDue(*log()); }

void MemcachedBackend::publishLatency(size_t thread_index) {
    if (thread_index < HealthCell::kMaxThreads) cell_->p99_us[thread_index].store(inbox_->latency.p99(), std::memory_order_relaxed);
}

}  // namespace laminar::backend::memcached

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/memcached/store.h"

namespace laminar::backend::memcached {

// memcached's behaviour, in memory: exptime rules (0 none, <= 30 days relative, else unix time),
// cas ids, unsigned incr/decr that pad a shrinking decrement with spaces, as memcached 1.6 does.
// Shared by the translation's unit tests and its fuzz target.
class FakeStore final : public Store {
public:
    static constexpr long long kThirtyDays = 30LL * 24 * 3600;

    explicit FakeStore(const long long& now_ms) : now_ms_(now_ms) {}

    struct Entry {
        std::string value;
        uint64_t cas;
        long long expires;  // unix seconds, 0 = never
    };
    std::map<std::string, Entry, std::less<>> items;
    bool down = false;

    long long now() const { return now_ms_ / 1000; }
    long long absolute(time_t exptime) const {
        if (exptime == 0) return 0;
        return exptime <= kThirtyDays ? now() + exptime : exptime;
    }
    Entry* find(std::string_view key) {
        auto it = items.find(key);
        if (it == items.end()) return nullptr;
        if (it->second.expires != 0 && it->second.expires <= now()) {
            items.erase(it);
            return nullptr;
        }
        return &it->second;
    }

    Status get(std::string_view key, Item& item) override {
        if (down) return Status::kError;
        Entry* e = find(key);
        if (!e) return Status::kMiss;
        item.value = e->value;
        item.cas = e->cas;
        return Status::kOk;
    }
    Status getMany(std::span<const std::string> keys, std::vector<std::optional<std::string>>& out) override {
        if (down) return Status::kError;
        out.clear();
        for (const auto& k : keys) {
            Entry* e = find(k);
            out.push_back(e ? std::optional<std::string>(e->value) : std::nullopt);
        }
        return Status::kOk;
    }
    Status store(Mode mode, std::string_view key, std::string_view value, time_t exptime, uint64_t cas) override {
        if (down) return Status::kError;
        Entry* e = find(key);
        switch (mode) {
            case Mode::kAdd:
                if (e) return Status::kNotStored;
                break;
            case Mode::kReplace:
                if (!e) return Status::kNotStored;
                break;
            case Mode::kCas:
                if (!e) return Status::kMiss;
                if (e->cas != cas) return Status::kExists;
                break;
            case Mode::kAppend:
                if (!e) return Status::kNotStored;
                e->value.append(value);
                e->cas = ++next_cas_;
                return Status::kOk;
            case Mode::kSet: break;
        }
        items[std::string(key)] = {std::string(value), ++next_cas_, absolute(exptime)};
        return Status::kOk;
    }
    Status setMany(std::span<const std::pair<std::string, std::string_view>> batch) override {
        for (const auto& [k, v] : batch)
            if (Status st = store(Mode::kSet, k, v, 0, 0); st != Status::kOk) return st;
        return Status::kOk;
    }
    Status incr(std::string_view key, bool decrement, uint64_t delta, uint64_t& result) override {
        Entry* e = find(key);
        if (!e) return Status::kMiss;
        uint64_t v = std::stoull(e->value);
        uint64_t r = decrement ? (delta > v ? 0 : v - delta) : v + delta;
        std::string text = std::to_string(r);
        if (text.size() < e->value.size()) text.resize(e->value.size(), ' ');  // memcached pads in place
        e->value = text;
        e->cas = ++next_cas_;
        result = r;
        return Status::kOk;
    }
    Status remove(std::string_view key) override {
        if (!find(key)) return Status::kMiss;
        items.erase(items.find(key));
        return Status::kOk;
    }
    Status touch(std::string_view key, time_t exptime) override {
        Entry* e = find(key);
        if (!e) return Status::kMiss;
        e->expires = absolute(exptime);
        return Status::kOk;
    }
    Status ttl(std::string_view key, long long& seconds) override {
        if (down) return Status::kError;
        Entry* e = find(key);
        if (!e) return Status::kMiss;
        seconds = e->expires == 0 ? -1 : e->expires - now();
        return Status::kOk;
    }
    Status keptExptime(std::string_view key, time_t& exptime) override {
        long long t;
        if (Status st = ttl(key, t); st != Status::kOk) return st;
        exptime = static_cast<time_t>(t < 0 ? 0 : t <= kThirtyDays ? t : find(key)->expires);
        return Status::kOk;
    }
    long long serverTime(std::string_view, long long now_ms) override { return now_ms / 1000; }
    Status flush() override {
        items.clear();
        return Status::kOk;
    }
    Status ping() override { return down ? Status::kError : Status::kOk; }
    Status keys(std::vector<std::string>& out) override {
        for (const auto& [k, e] : items) out.push_back(k);
        return down ? Status::kError : Status::kOk;
    }
    std::string error() const override { return "CONNECTION FAILURE(Connection refused), host: 127.0.0.1:11211"; }

private:
    const long long& now_ms_;
    uint64_t next_cas_ = 0;
};

}  // namespace laminar::backend::memcached

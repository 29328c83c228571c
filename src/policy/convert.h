// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "policy/key_rule.h"
#include "policy/value_codecs.h"
#include "policy/strategy.h"

namespace laminar::policy {

// In-place conversion (docs/design.md, "In-place conversion"): the application has moved to a
// new format (key names, value encoding, store) and each key is converted the first time it is
// used. Clients speak the target's format: a request's key is a target key, and values are written
// and returned as the target holds them. `key` maps a source key to its target key (written in
// the direction data moves); the route applies it backwards to find a client key's source key.
//  1. A GET goes to `target`; its reply is returned unless it is a null.
//  2. On a null, the source key is read from `source` (GET + PTTL), converted by `value`, and
//     written to target with SET ... NX (PX its remaining TTL); the client gets the converted
//     value. When source does not have it either, the client gets the null. Counted: the lookup
//     as a fallback, the conversion as a warm copy.
//  3. The conversion never overwrites: when NX finds a value target got meanwhile, that value is
//     read and returned instead. When the write fails, the client still gets the converted value
//     (the failure is counted and logged).
//  4. A value the codec refuses (not a JSON string, corrupt zlib, larger than client.max_bulk)
//     gives the client an error naming the key, the source and the codec; nothing is written.
//     A source read that fails is reported the same way.
//  5. With `delete_source`, the source key is deleted once target holds the key (the conversion
//     wrote it, or target had a newer value).
//  6. Every other command on one key (STRLEN, TTL, EXISTS, INCR, APPEND, SET NX, GETDEL, ...)
//     first converts the key when target does not have it (an EXISTS decides), as in 2-5, then
//     runs on target; the client's next commands wait for it. A failed conversion fails the
//     command, which is not run. Plain overwrites (SET, SETEX, PSETEX) run on target at once.
//  7. Once a write succeeded on target, the source key is deleted whatever `delete_source` says:
//     it is stale from then on, and would otherwise be converted again when target's value expires,
//     or answer a reverse route with an old value.
//  8. Deletes (DEL, UNLINK) go to both sides at once, so a stale source value cannot be converted
//     back later; the reply is the larger count.
//  9. Keyless commands, and keys the key rule does not cover, go to target unconverted. Other
//     commands with several keys (RENAME, MSETNX, SUNION, ...) are refused: keys are converted one
//     at a time. (MGET, MSET, DEL, EXISTS... arrive split per key.)
// With source == target, keys are renamed in place; the key rule must then rename.
// Commands on a pinned connection (MULTI/EXEC, WATCH, blocking) go to target as they are: nothing
// is converted there and no source key is deleted (the reply of a pinned write is not seen here,
// and deleting the source after a failed EXEC would lose the only copy).
// Reverse: swap `source` and `target`, and use the inverse codec and the inverse key rule.
class Convert final : public Strategy {
public:
    Convert(std::unique_ptr<Strategy> source, std::unique_ptr<Strategy> target, KeyRule key, Codec codec, bool delete_source,
            size_t max_value, const std::string& route);
    ~Convert() override;
    std::string_view type() const override { return "convert"; }
    void execute(const Request& req, backend::ReplySink* sink, Context& ctx) const override;
    bool serializes(const Request& req) const override;
    int pinTarget() const override { return target_->pinTarget(); }
    void targets(const Request& req, const Context& ctx, bool write, std::vector<int>& out) const override;
    std::string describe() const override;
    void forEachChild(const std::function<void(const Strategy&)>& fn) const override {
        fn(*source_);
        fn(*target_);
    }

private:
    class Conversion;
    class SourceDeletes;

    // The source key of a client's key; none when the rule does not cover it (or, in place, when
    // it would be the key itself).
    std::optional<std::string> sourceKey(std::string_view key) const;

    std::unique_ptr<Strategy> source_, target_;
    std::unique_ptr<SourceDeletes> source_deletes_;
    KeyRule key_;
    Codec codec_;
    bool delete_source_;
    bool in_place_;  // source and target are the same store
    size_t max_value_;  // client.max_bulk: no converted value is larger
    std::string route_;
};

// convert {source, target, key: {prefix, to} | {regex, to}, value: identity, delete_source: false}
std::unique_ptr<Strategy> makeConvert(config::MapReader& r, Builder& b);

}  // namespace laminar::policy

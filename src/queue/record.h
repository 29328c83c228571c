// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace laminar::queue {

// What one journal record asks of its targets (backend names).
//  kCommand: apply this RESP command to each target, in journal order (ack: queued writes).
//  kKeys:    make each target's copy of these keys equal to `from`'s state as it is when the record
//            is applied (DUMP + PTTL, then RESTORE REPLACE, or DEL when gone): nothing is replayed,
//            so a late or repeated apply is harmless (writes acknowledged by the primary).
struct QueuedRecord {
    enum class Kind : char { kCommand = 'C', kKeys = 'K' };
    Kind kind = Kind::kCommand;
    std::vector<std::string_view> targets;
    std::string_view from;               // kKeys
    std::vector<std::string_view> keys;  // kKeys
    std::string_view command;            // kCommand: RESP bytes

    bool addressedTo(std::string_view target) const;
};

std::string encodeCommandRecord(std::span<const std::string> targets, std::string_view resp);
std::string encodeKeysRecord(std::string_view from, std::span<const std::string> targets, std::span<const std::string_view> keys);
// Views into `data`; nullopt when it is not a record this code wrote.
std::optional<QueuedRecord> decodeRecord(std::string_view data);

// The keys a record's data names, read as far as its bytes allow: for a record found damaged,
// whose checksum failed, so they may be wrong or partial. kKeys: its keys; kCommand: the keys of
// SET, SETEX, PSETEX and MSET (the commands ack: queued journals). Nullopt when not even the start
// of a record is there, or the command is not one of those.
std::optional<std::vector<std::string>> keysOfDamagedRecord(std::string_view data);
// The same for the RESP bytes of a kCommand record's command alone.
std::optional<std::vector<std::string>> keysOfDamagedCommand(std::string_view resp);

// A write whose reply cannot depend on the data (so it can be acknowledged before it runs), as
// the RESP command to journal, with relative expiries made absolute (SET ... EX/PX and SETEX/PSETEX
// become SET ... PXAT), so a late replay never extends a TTL: SET without NX/XX/GET, SETEX, PSETEX,
// MSET. Nullopt for anything else, and for such a command with arguments the server would refuse
// (its error must come from the server). HMSET and LTRIM are not here: on a key of another type
// they answer WRONGTYPE.
// `now_ms` is asked only for a relative expiry (EX, PX, SETEX...): a plain SET reads no clock.
std::optional<std::string> fixedReplyCommand(std::span<const std::string_view> argv, const std::function<int64_t()>& now_ms);

}  // namespace laminar::queue

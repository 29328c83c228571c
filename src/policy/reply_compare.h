// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

#include "resp/command_table.h"

namespace laminar::policy {

// Compares the replies two backends gave to the same command, for `shadow`. Both are complete raw
// RESP2 or RESP3 replies (as ReplyScanner frames them); they are decoded into a small value tree
// (attributes skipped) and compared by these rules:
//  1. Byte-identical replies are equal (no decoding).
//  2. Every null is the same null: $-1, *-1, _ and a null bulk error.
//  3. Simple strings, bulk strings and verbatim strings (without their "txt:" prefix) compare by
//     their bytes; integers, RESP3 booleans (#t = 1, #f = 0) and big numbers by their digits.
//  4. Numbers from commands that return floats (ZSCORE, ZMSCORE, ZINCRBY, INCRBYFLOAT,
//     HINCRBYFLOAT, ZADD INCR, GEODIST, GEOPOS, GEORADIUS/GEOSEARCH, and scores of the
//     ZRANGE/ZUNION/ZINTER/ZDIFF/ZPOP* families) and RESP3 doubles compare by value, within a
//     relative 1e-9: "1.5" equals "1.50" for ZSCORE but not for GET. Within those commands a
//     member that looks like a number is compared the same way (so members "1" and "1.0" of a
//     sorted set would pass as equal): the price of not parsing every reply shape.
//  5. Errors compare by their first word only: "-WRONGTYPE Operation..." equals "-WRONGTYPE x".
//  6. Aggregates compare element by element, in order, except: RESP3 sets and maps never depend
//     on order (at any depth); a map equals a flat array of the same pairs (RESP2's HGETALL); and
//     the top-level reply of SMEMBERS, SUNION, SINTER, SDIFF, HKEYS, HVALS, KEYS and the
//     GEORADIUS/GEOSEARCH family (whose order Redis leaves unspecified) is compared as a multiset,
//     HGETALL's as a multiset of field/value pairs (so a changed value is still a difference).
//  7. TTL, PTTL, EXPIRETIME and PEXPIRETIME compare by class only (-2 no key, -1 no expiry, >= 0 an
//     expiry): two servers a few milliseconds apart never agree on the exact number.
//  8. Not comparable (kNotComparable, whatever the bytes): replies that are random (SRANDMEMBER,
//     SPOP, RANDOMKEY, HRANDFIELD, ZRANDMEMBER), cursors (SCAN, SSCAN, HSCAN, ZSCAN), generated or
//     time-dependent (XADD's ids, XCLAIM, XAUTOCLAIM, XPENDING, XINFO), server-specific (DUMP,
//     OBJECT, MEMORY, DEBUG), every keyless command except KEYS, PING and ECHO (INFO, DBSIZE, TIME,
//     LASTSAVE, CONFIG, CLIENT... describe the server, not the data), blocking, pub/sub,
//     transaction and admin commands; and a reply that does not decode, or nests deeper than 64.
enum class Verdict { kEqual, kDifferent, kNotComparable };

// False when replies to `cmd` are never comparable (rule 8): `shadow` does not send such reads.
bool repliesComparable(const resp::CommandInfo& cmd);

Verdict compareReplies(const resp::CommandInfo& cmd, std::string_view a, std::string_view b);

// For a log line: where a and b differ and how, e.g. `[2]: "abc" vs "abd"` or
// `sizes differ: 3 vs 4 elements`. Values are escaped (quotes, backslashes and control bytes as
// \u00XX, so a JSON log line stays valid) and cut to 64 bytes each. "equal" or "not comparable"
// when they are not different.
std::string describeDifference(const resp::CommandInfo& cmd, std::string_view a, std::string_view b);

// `s` cut to `max` bytes and escaped as above, for log lines ("...(1234 bytes)" when cut).
std::string logExcerpt(std::string_view s, size_t max);

}  // namespace laminar::policy

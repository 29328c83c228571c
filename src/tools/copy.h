// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace laminar::tools {

struct CopyOptions {
    std::string from, to;        // backend names
    std::string match;           // SCAN MATCH glob; empty = every key
    bool overwrite = false;      // --mode overwrite; default skip-existing
    uint64_t rate = 0;           // keys per second; 0 = as fast as it goes
    std::string checkpoint;      // file to resume from and save progress to; empty = none
    bool delete_extra = false;   // then SCAN the target: DEL what the source lacks (not for memcached targets)
    size_t batch = 200;          // keys per SCAN and per pipelined DUMP/PTTL/RESTORE round
};

// What a copy has done so far (kept in its checkpoint).
struct CopyCounts {
    uint64_t scanned = 0, copied = 0, skipped = 0, gone = 0, failed = 0, bytes = 0;
    uint64_t target_scanned = 0, deleted = 0;  // --delete-extra's pass over the target
};

// Exit codes shared by copy and verify.
enum ExitCode { kOk = 0, kSomeFailed = 1, kUsage = 2, kUnreachable = 3, kInterrupted = 130 };

// `laminar copy`: SCAN the source, then DUMP + PTTL there and RESTORE (TTL kept) on the target,
// every type for Redis and strings between Redis and memcached. skip-existing never overwrites a
// key the target has (RESTORE without REPLACE), so a second pass after the switch cannot clobber
// fresher data written through the proxy (the double copy of docs/design.md). With `delete_extra`
// (a reconcile), once every key is copied the target is scanned with the same MATCH and each key
// the source lacks is deleted there, after which the source is asked again and a key written there
// meanwhile is copied back (deleteExtra in copy.cpp). Progress goes to `err` (a
// bar on a terminal, a line every 5 s otherwise), the summary to `out`. `stop` ends it after the
// current batch, with the checkpoint saved.
int runCopy(const config::Config& cfg, const CopyOptions& opt, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop);

class SyncClient;
// One round of copying `keys` from `src` to `dst`: DUMP + PTTL, then RESTORE with the TTL (REPLACE
// with `overwrite`); each key counted copied, skipped (BUSYKEY), gone or failed (with its reason).
void copyKeys(SyncClient& src, SyncClient& dst, const std::vector<std::string>& keys, bool overwrite, CopyCounts& n,
              std::map<std::string, uint64_t>& reasons);
// One round of --delete-extra over `keys`, listed on the target: each one the source lacks
// (EXISTS 0) is deleted on the target. The source is then asked again about the deleted ones: a
// key it has by now was written there between the first EXISTS and the DEL, and is copied back
// (copyKeys; counted as copied, not deleted). So every key this deletes was absent from the
// source at some moment after its DEL; a key written to the source later is the next copy's, as
// is any key written after a copy passed it. A key the source cannot be asked about (an error) is
// left alone and counted failed.
void deleteExtraKeys(SyncClient& src, SyncClient& dst, const std::vector<std::string>& keys, bool overwrite, CopyCounts& n,
                     std::map<std::string, uint64_t>& reasons);

}  // namespace laminar::tools

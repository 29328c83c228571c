// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace laminar::queue {

using Cursors = std::map<std::string, uint64_t>;  // target -> last acked seq

// `dir/cursors` holds one "target seq" line per target. A missing file is no cursors.
// False (error says which line) when the file cannot be read or a line is not "name number".
bool loadCursors(const std::filesystem::path& dir, Cursors& out, std::string& error);

// Replaces `dir/cursors` atomically: writes `cursors.tmp`, renames it over. With `sync`, fsyncs the
// file before the rename and the directory after, counting both in fsyncs.
bool storeCursors(const std::filesystem::path& dir, const Cursors& cursors, bool sync,
                  std::atomic<uint64_t>& fsyncs, std::string& error);

}  // namespace laminar::queue

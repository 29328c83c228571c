// SPDX-License-Identifier: Apache-2.0
// Redis commands translated for memcached (backend/memcached/commands.h), over the in-memory
// memcached of the unit tests. The input is one control byte, then Redis commands as a client
// sends them (RESP multibulk or inline, one after another), run in order on one Translator. Every
// command must get exactly one well-formed RESP reply, and `failed` only while memcached is down.
//
// Control byte: bit 0 key_hash, bit 1 a 64-byte item size limit, bit 2 runs of plain GETs and SETs
// go through getMany / setMany as the backend batches them.
// Commands for the harness itself, not translated: FUZZ-ADVANCE <seconds> moves the clock,
// FUZZ-DOWN and FUZZ-UP take memcached away and bring it back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/memcached/commands.h"
#include "resp/numbers.h"
#include "resp/reply_scanner.h"
#include "resp/request_parser.h"
#include "support/fake_memcached_store.h"

namespace {

using laminar::backend::memcached::FakeStore;
using laminar::backend::memcached::Translator;
using laminar::resp::ParseStatus;

void require(bool ok) {
    if (!ok) std::abort();
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

void checkReply(const Translator::Result& r, const FakeStore& store) {
    laminar::resp::ReplyScanner scanner;
    require(scanner.scan(r.reply) == ParseStatus::kOk && scanner.consumed() == r.reply.size());
    require(!r.failed || store.down);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t control = data[0];
    std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

    // Every command first, as owned strings: the parser's views last only until its next request.
    std::vector<std::vector<std::string>> commands;
    laminar::resp::RequestParser parser;
    while (!stream.empty() && parser.parse(stream) == ParseStatus::kOk) {
        if (!parser.args().empty()) commands.emplace_back(parser.args().begin(), parser.args().end());
        stream.remove_prefix(parser.consumed());
    }

    long long now_ms = 1'700'000'000'000;  // 2023-11-14
    FakeStore store(now_ms);
    Translator translator(store, {"mc", (control & 1) != 0, (control & 2) ? 64u : 1u << 20}, [&] { return now_ms; });
    const bool batch = (control & 4) != 0;

    for (size_t i = 0; i < commands.size();) {
        const auto& cmd = commands[i];
        std::vector<std::string_view> argv(cmd.begin(), cmd.end());
        if (ieq(argv[0], "fuzz-advance") && argv.size() == 2) {
            long long seconds = 0;
            if (laminar::resp::parseLongLong(argv[1], seconds) && seconds >= 0 && seconds <= 4'000'000'000) now_ms += seconds * 1000;
            ++i;
            continue;
        }
        if (ieq(argv[0], "fuzz-down") || ieq(argv[0], "fuzz-up")) {
            store.down = ieq(argv[0], "fuzz-down");
            ++i;
            continue;
        }
        if (batch && (Translator::isGet(argv) || Translator::isPlainSet(argv))) {
            const bool gets = Translator::isGet(argv);
            std::vector<std::vector<std::string_view>> run;
            for (; i < commands.size(); ++i) {
                std::vector<std::string_view> next(commands[i].begin(), commands[i].end());
                if (gets ? !Translator::isGet(next) : !Translator::isPlainSet(next)) break;
                run.push_back(std::move(next));
            }
            std::vector<Translator::Result> results;
            if (gets) {
                std::vector<std::string_view> keys;
                for (const auto& c : run) keys.push_back(c[1]);
                results = translator.getMany(keys);
            } else {
                std::vector<std::span<const std::string_view>> spans(run.begin(), run.end());
                results = translator.setMany(spans);
            }
            require(results.size() == run.size());
            for (const auto& r : results) checkReply(r, store);
            continue;
        }
        checkReply(translator.execute(argv), store);
        ++i;
    }
    return 0;
}

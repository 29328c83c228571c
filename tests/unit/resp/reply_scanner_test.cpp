// SPDX-License-Identifier: Apache-2.0
#include "resp/reply_scanner.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace laminar::resp {
namespace {

using namespace std::string_literals;

struct Reply {
    char type = 0;
    std::string raw;
    bool operator==(const Reply&) const = default;
};

// Everything a backend connection would see scanning a stream: the replies, then the error (if
// any) or the bytes left unframed.
struct Outcome {
    std::vector<Reply> replies;
    std::string error;
    size_t leftover = 0;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << o.replies.size() << " replies, error '" << o.error << "', " << o.leftover << " left:";
    for (const auto& r : o.replies) os << " [" << r.type << ' ' << r.raw.size() << " bytes]";
    return os;
}

// Feeds the pieces like a connection reading a socket. Before every scan call the unread bytes
// are copied to a new heap block and the old one is freed, so a scanner that kept a pointer into
// an old buffer reads freed memory (ASan reports it).
Outcome scanPieces(const std::vector<std::string_view>& pieces) {
    ReplyScanner scanner;
    Outcome out;
    std::string pending;
    std::unique_ptr<char[]> block;
    for (std::string_view piece : pieces) {
        pending += piece;
        for (;;) {
            auto moved = std::make_unique<char[]>(pending.size() + 1);
            std::memcpy(moved.get(), pending.data(), pending.size());
            block = std::move(moved);
            ParseStatus status = scanner.scan(std::string_view(block.get(), pending.size()));
            if (status == ParseStatus::kIncomplete) break;
            if (status == ParseStatus::kError) {
                out.error = scanner.error();  // leftover stays 0: it depends on the reads
                return out;
            }
            EXPECT_GT(scanner.consumed(), 0u);
            EXPECT_LE(scanner.consumed(), pending.size());
            out.replies.push_back({scanner.type(), pending.substr(0, scanner.consumed())});
            pending.erase(0, scanner.consumed());
            scanner.reset();
        }
    }
    out.leftover = pending.size();
    return out;
}

Outcome scanOneShot(std::string_view stream) { return scanPieces({stream}); }

void expectSameAtEverySplit(std::string_view stream) {
    const Outcome whole = scanOneShot(stream);
    for (size_t i = 0; i <= stream.size(); ++i) {
        SCOPED_TRACE("split at " + std::to_string(i));
        EXPECT_EQ(scanPieces({stream.substr(0, i), stream.substr(i)}), whole);
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
    SCOPED_TRACE("one byte at a time");
    EXPECT_EQ(scanPieces(bytes), whole);
}

// Scans `reply` followed by another reply: it must be framed exactly, with the given type.
void expectReply(std::string_view reply, char type) {
    SCOPED_TRACE(std::string(reply));
    ReplyScanner scanner;
    std::string data = std::string(reply) + "+NEXT\r\n";
    ASSERT_EQ(scanner.scan(data), ParseStatus::kOk) << scanner.error();
    EXPECT_EQ(scanner.consumed(), reply.size());
    EXPECT_EQ(scanner.type(), type);
}

void expectError(std::string_view data, std::string_view error) {
    SCOPED_TRACE(std::string(data));
    ReplyScanner scanner;
    ASSERT_EQ(scanner.scan(data), ParseStatus::kError);
    EXPECT_EQ(scanner.error(), error);
}

// --- every type ---

TEST(ReplyScannerTest, ScansSingleLineReplies) {
    expectReply("+OK\r\n", '+');
    expectReply("-ERR unknown command 'FOO'\r\n", '-');
    expectReply("-WRONGTYPE Operation against a key\r\n", '-');
    expectReply(":0\r\n", ':');
    expectReply(":-9223372036854775808\r\n", ':');
    expectReply(",3.14\r\n", ',');
    expectReply(",-inf\r\n", ',');
    expectReply("(3492890328409238509324850943850943825024385\r\n", '(');
    expectReply("#t\r\n", '#');
    expectReply("#f\r\n", '#');
    expectReply("_\r\n", '_');
}

TEST(ReplyScannerTest, ScansAnEmptySimpleString) { expectReply("+\r\n", '+'); }

TEST(ReplyScannerTest, KeepsALoneCarriageReturnInsideASimpleString) {
    expectReply("+a\rb\r\n", '+');
    expectReply("+\r\r\r\n", '+');
}

TEST(ReplyScannerTest, ScansBulkStrings) {
    expectReply("$5\r\nhello\r\n", '$');
    expectReply("$0\r\n\r\n", '$');
    expectReply("$8\r\na\r\nb\0c\r\n\r\n"s, '$');
}

TEST(ReplyScannerTest, ScansNulls) {
    expectReply("$-1\r\n", '$');
    expectReply("*-1\r\n", '*');
    expectReply("_\r\n", '_');
}

TEST(ReplyScannerTest, ScansABulkError) { expectReply("!21\r\nSYNTAX invalid syntax\r\n", '!'); }

TEST(ReplyScannerTest, ScansAVerbatimString) { expectReply("=15\r\ntxt:Some string\r\n", '='); }

TEST(ReplyScannerTest, ScansArrays) {
    expectReply("*0\r\n", '*');
    expectReply("*3\r\n:1\r\n:2\r\n:3\r\n", '*');
    expectReply("*5\r\n:1\r\n+two\r\n$5\r\nthree\r\n$-1\r\n*-1\r\n", '*');
}

TEST(ReplyScannerTest, ScansNestedArrays) {
    expectReply("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n", '*');
    expectReply("*3\r\n*0\r\n*1\r\n*1\r\n*0\r\n$1\r\nx\r\n", '*');
}

TEST(ReplyScannerTest, ScansDeeplyNestedArrays) {
    std::string reply;
    for (int i = 0; i < 10000; ++i) reply += "*1\r\n";
    reply += ":1\r\n";
    expectReply(reply, '*');
}

TEST(ReplyScannerTest, ScansMapsAsTwoElementsPerEntry) {
    expectReply("%0\r\n", '%');
    expectReply("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", '%');
    expectReply("%2\r\n$4\r\nkeys\r\n*2\r\n:1\r\n:2\r\n%1\r\n+nested\r\n~1\r\n#t\r\n:9\r\n", '%');
}

TEST(ReplyScannerTest, ScansSets) {
    expectReply("~0\r\n", '~');
    expectReply("~3\r\n+a\r\n+b\r\n*2\r\n:1\r\n:2\r\n", '~');
}

TEST(ReplyScannerTest, ScansPushes) {
    expectReply(">3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$5\r\nhello\r\n", '>');
    expectReply(">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$0\r\n\r\n", '>');
}

TEST(ReplyScannerTest, ScansATopLevelAttributeWithTheReplyItAnnotates) {
    // The RESP3 spec's example: popularity attribute on an array reply.
    expectReply(
        "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
        "*2\r\n:2039123\r\n:9543892\r\n",
        '*');
    expectReply("|1\r\n+ttl\r\n:3600\r\n$5\r\nhello\r\n", '$');
    expectReply("|1\r\n+a\r\n+b\r\n_\r\n", '_');
}

TEST(ReplyScannerTest, ScansAnAttributeWithNoEntries) { expectReply("|0\r\n+OK\r\n", '+'); }

TEST(ReplyScannerTest, ReportsTheTypeAfterAChainOfAttributes) {
    expectReply("|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n#f\r\n", '#');
}

TEST(ReplyScannerTest, ReportsTheAnnotatedTypeEvenWhenAttributeValuesAreAggregates) {
    expectReply("|2\r\n+k\r\n*1\r\n:1\r\n+m\r\n%1\r\n:1\r\n*0\r\n%1\r\n+x\r\n+y\r\n", '%');
}

TEST(ReplyScannerTest, ScansAnAttributeInsideAnAggregate) {
    expectReply("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n", '*');
    expectReply("*2\r\n:1\r\n|1\r\n+a\r\n+b\r\n*2\r\n:2\r\n:3\r\n", '*');
    expectReply("%1\r\n|0\r\n+key\r\n|1\r\n+a\r\n+b\r\n:1\r\n", '%');
}

TEST(ReplyScannerTest, ConsumesOnlyTheFirstReply) {
    ReplyScanner scanner;
    ASSERT_EQ(scanner.scan("*1\r\n:1\r\n+OK\r\n"), ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), 8u);
}

TEST(ReplyScannerTest, ResetsItselfOnTheScanAfterOk) {
    ReplyScanner scanner;
    ASSERT_EQ(scanner.scan("*2\r\n:1\r\n:2\r\n"), ParseStatus::kOk);
    ASSERT_EQ(scanner.scan("+OK\r\n"), ParseStatus::kOk);
    EXPECT_EQ(scanner.type(), '+');
    EXPECT_EQ(scanner.consumed(), 5u);
}

TEST(ReplyScannerTest, EmptyInputIsIncomplete) {
    ReplyScanner scanner;
    EXPECT_EQ(scanner.scan(""), ParseStatus::kIncomplete);
    ASSERT_EQ(scanner.scan("+OK\r\n"), ParseStatus::kOk);
}

TEST(ReplyScannerTest, WaitsForTheLineFeedOfAnEndingCarriageReturn) {
    ReplyScanner scanner;
    EXPECT_EQ(scanner.scan("+OK\r"), ParseStatus::kIncomplete);
    ASSERT_EQ(scanner.scan("+OK\r\n"), ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), 5u);
}

// --- malformed replies ---

TEST(ReplyScannerTest, RefusesAnUnknownTypeByteNamingIt) {
    expectError("x\r\n", "Protocol error: unknown reply type byte 'x' (0x78)");
    expectError("\0\r\n"s, "Protocol error: unknown reply type byte 0x00");
    expectError("\xff\r\n", "Protocol error: unknown reply type byte 0xff");
    expectError("\r\n", "Protocol error: unknown reply type byte 0x0d");
    expectError("*1\r\n\r\n", "Protocol error: unknown reply type byte 0x0d");
    expectError("*2\r\n:1\r\n?\r\n", "Protocol error: unknown reply type byte '?' (0x3f)");
    // RESP3 streamed-string chunks and the end-of-aggregate marker only appear inside streams.
    expectError(";4\r\nabcd\r\n", "Protocol error: unknown reply type byte ';' (0x3b)");
    expectError(".\r\n", "Protocol error: unknown reply type byte '.' (0x2e)");
}

TEST(ReplyScannerTest, RefusesAMalformedBulkLength) {
    for (std::string header : {"$", "$abc", "$-2", "$01", "$1 ", "$99999999999999999999"}) {
        expectError(header + "\r\nx\r\n", "Protocol error: invalid bulk length in '$' (0x24) reply");
    }
    expectError("!x\r\n", "Protocol error: invalid bulk length in '!' (0x21) reply");
    expectError("=-5\r\n", "Protocol error: invalid bulk length in '=' (0x3d) reply");
}

TEST(ReplyScannerTest, RefusesAMalformedAggregateLength) {
    expectError("*-2\r\n", "Protocol error: invalid aggregate length in '*' (0x2a) reply");
    expectError("*\r\n", "Protocol error: invalid aggregate length in '*' (0x2a) reply");
    expectError("%x\r\n", "Protocol error: invalid aggregate length in '%' (0x25) reply");
    expectError("~1.5\r\n", "Protocol error: invalid aggregate length in '~' (0x7e) reply");
    expectError(">-3\r\n", "Protocol error: invalid aggregate length in '>' (0x3e) reply");
    expectError("|-1\r\n", "Protocol error: invalid aggregate length in '|' (0x7c) reply");
    expectError("%9223372036854775807\r\n",
                "Protocol error: invalid aggregate length in '%' (0x25) reply");
}

TEST(ReplyScannerTest, RefusesABulkNotFollowedByCrlf) {
    expectError("$3\r\nabcXY", "Protocol error: bulk reply not terminated by CRLF");
    expectError("*2\r\n$1\r\na\r\n$1\r\nbc\r\n", "Protocol error: bulk reply not terminated by CRLF");
}

TEST(ReplyScannerTest, RefusesStreamedRespThreeReplies) {
    expectError("$?\r\n;4\r\nHell\r\n;0\r\n", "Protocol error: streamed RESP3 strings are not supported");
    expectError("*?\r\n:1\r\n.\r\n", "Protocol error: streamed RESP3 aggregates are not supported");
    expectError("%?\r\n", "Protocol error: streamed RESP3 aggregates are not supported");
}

TEST(ReplyScannerTest, StaysFailedUntilReset) {
    ReplyScanner scanner;
    ASSERT_EQ(scanner.scan("x\r\n"), ParseStatus::kError);
    EXPECT_EQ(scanner.scan("+OK\r\n"), ParseStatus::kError);
    scanner.reset();
    EXPECT_TRUE(scanner.error().empty());
    ASSERT_EQ(scanner.scan("+OK\r\n"), ParseStatus::kOk);
}

// --- incremental scanning ---

const std::string kReplies =
    "+OK\r\n"
    "$5\r\nhe\r\no\r\n"
    "*3\r\n:1\r\n*2\r\n$-1\r\n_\r\n%1\r\n+k\r\n~2\r\n#t\r\n,1.5\r\n"
    "-ERR boom\r\n"
    "|1\r\n+ttl\r\n:10\r\n>2\r\n$7\r\nmessage\r\n=8\r\ntxt:abcd\r\n"
    "*-1\r\n"
    "!3\r\nERR\r\n"
    "*0\r\n"
    "(12345678901234567890\r\n"
    "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n$0\r\n\r\n"
    "*2\r\n:1\r\n$3\r\nab";

TEST(ReplyScannerTest, ScansAMixedStreamInOneRead) {
    Outcome o = scanOneShot(kReplies);
    std::vector<char> types;
    for (const auto& r : o.replies) types.push_back(r.type);
    EXPECT_EQ(types, (std::vector<char>{'+', '$', '*', '-', '>', '*', '!', '*', '(', '*'}));
    EXPECT_EQ(o.replies[2].raw, "*3\r\n:1\r\n*2\r\n$-1\r\n_\r\n%1\r\n+k\r\n~2\r\n#t\r\n,1.5\r\n");
    EXPECT_EQ(o.replies[4].raw, "|1\r\n+ttl\r\n:10\r\n>2\r\n$7\r\nmessage\r\n=8\r\ntxt:abcd\r\n");
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.leftover, 14u);
}

TEST(ReplyScannerTest, ScansAStreamTheSameWayAtEverySplitPointAndByteByByte) {
    expectSameAtEverySplit(kReplies);
}

TEST(ReplyScannerTest, FailsAtTheSamePlaceAtEverySplitPoint) {
    const std::string stream = "+OK\r\n*2\r\n:1\r\n%1\r\n+a\r\nx\r\n+after\r\n";
    Outcome whole = scanOneShot(stream);
    EXPECT_EQ(whole.replies.size(), 1u);
    EXPECT_EQ(whole.error, "Protocol error: unknown reply type byte 'x' (0x78)");
    expectSameAtEverySplit(stream);
}

TEST(ReplyScannerTest, FailsOnABadBulkTerminatorAtTheSamePlaceAtEverySplitPoint) {
    const std::string stream = ":1\r\n$3\r\nabc\r\n$2\r\nabc\r\n";
    Outcome whole = scanOneShot(stream);
    EXPECT_EQ(whole.replies.size(), 2u);
    EXPECT_EQ(whole.error, "Protocol error: bulk reply not terminated by CRLF");
    expectSameAtEverySplit(stream);
}

// The scanner resumes where it stopped: a framed header is not read again. Observed by changing
// it behind the scanner's back, which a rescan would reject.
TEST(ReplyScannerTest, DoesNotRescanBytesItHasAlreadyFramed) {
    ReplyScanner scanner;
    std::string data = "*2\r\n:1\r\n";
    ASSERT_EQ(scanner.scan(data), ParseStatus::kIncomplete);
    data[0] = 'x';
    data[4] = 'y';
    data += ":2\r\n";
    ASSERT_EQ(scanner.scan(data), ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), data.size());
}

TEST(ReplyScannerTest, SurvivesTheDataMovingToANewBufferBetweenCalls) {
    const std::string stream = "*3\r\n$100\r\n" + std::string(100, 'v') + "\r\n%1\r\n+a\r\n:1\r\n_\r\n";
    ReplyScanner scanner;
    std::unique_ptr<std::string> buffer;
    for (size_t n = 1; n < stream.size(); n += 5) {
        buffer = std::make_unique<std::string>(stream.substr(0, n));  // old copy freed
        ASSERT_EQ(scanner.scan(*buffer), ParseStatus::kIncomplete) << n;
    }
    buffer = std::make_unique<std::string>(stream);
    ASSERT_EQ(scanner.scan(*buffer), ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), stream.size());
    EXPECT_EQ(scanner.type(), '*');
}

TEST(ReplyScannerTest, ScansATenMegabyteBulkArrivingInFourKilobytePieces) {
    const size_t size = 10 * 1024 * 1024;
    std::string stream("$");  // appended piecewise: GCC 12 warns (-Wrestrict) on "$" + to_string()
    stream += std::to_string(size);
    stream += "\r\n";
    stream.append(size, 'x');
    stream += "\r\n";

    ReplyScanner scanner;
    std::string buffer;
    ParseStatus status = ParseStatus::kIncomplete;
    for (size_t off = 0; off < stream.size(); off += 4096) {
        buffer.append(stream, off, 4096);
        status = scanner.scan(buffer);
        if (buffer.size() < stream.size()) {
            ASSERT_EQ(status, ParseStatus::kIncomplete);
        }
    }
    ASSERT_EQ(status, ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), stream.size());
    EXPECT_EQ(scanner.type(), '$');
}

TEST(ReplyScannerTest, ScansAHugeNestedReplyArrivingInFourKilobytePieces) {
    // 100k map entries, each a bulk key and a small array value.
    std::string stream = "%100000\r\n";
    for (int i = 0; i < 100000; ++i) {
        std::string key = "key:" + std::to_string(i);
        stream += '$';
        stream += std::to_string(key.size());
        stream += "\r\n" + key + "\r\n*2\r\n:";
        stream += std::to_string(i);
        stream += "\r\n+ok\r\n";
    }
    const size_t reply_size = stream.size();
    stream += "+next\r\n";

    ReplyScanner scanner;
    std::string buffer;
    ParseStatus status = ParseStatus::kIncomplete;
    for (size_t off = 0; off < stream.size() && status == ParseStatus::kIncomplete; off += 4096) {
        buffer.append(stream, off, 4096);
        status = scanner.scan(buffer);
    }
    ASSERT_EQ(status, ParseStatus::kOk);
    EXPECT_EQ(scanner.consumed(), reply_size);
    EXPECT_EQ(scanner.type(), '%');
}

}  // namespace
}  // namespace laminar::resp

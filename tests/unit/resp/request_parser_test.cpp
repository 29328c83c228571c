// SPDX-License-Identifier: Apache-2.0
#include "resp/request_parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace laminar::resp {
namespace {

using namespace std::string_literals;
using Args = std::vector<std::string>;

Args argsOf(const RequestParser& parser) {
    return Args(parser.args().begin(), parser.args().end());
}

// Parses `input` in one call; for tests about a single request.
struct OneShot {
    explicit OneShot(std::string_view input, RequestLimits limits = {}) : parser(limits), data(input) {
        status = parser.parse(data);
    }
    RequestParser parser;
    std::string data;
    ParseStatus status;
};

struct Request {
    Args args;
    bool is_inline = false;
    bool operator==(const Request&) const = default;
};

// Everything a connection would see framing a stream: the requests, then the error (if any) or
// the bytes left unframed.
struct Outcome {
    std::vector<Request> requests;
    std::string error;
    size_t leftover = 0;
    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    os << o.requests.size() << " requests, error '" << o.error << "', " << o.leftover << " left:";
    for (const auto& r : o.requests) {
        os << (r.is_inline ? " inline[" : " [");
        for (const auto& a : r.args) os << '"' << a << "\" ";
        os << ']';
    }
    return os;
}

// Feeds the pieces like a connection reading a socket. Before every parse call the unread bytes
// are copied to a new heap block and the old one is freed, so a parser that kept a pointer into
// an old buffer reads freed memory (ASan reports it). Framed requests are dropped from the front.
Outcome frame(const std::vector<std::string_view>& pieces, RequestLimits limits = {}) {
    RequestParser parser(limits);
    Outcome out;
    std::string pending;
    std::unique_ptr<char[]> block;
    for (std::string_view piece : pieces) {
        pending += piece;
        for (;;) {
            auto moved = std::make_unique<char[]>(pending.size() + 1);
            std::memcpy(moved.get(), pending.data(), pending.size());
            block = std::move(moved);
            ParseStatus status = parser.parse(std::string_view(block.get(), pending.size()));
            if (status == ParseStatus::kIncomplete) break;
            if (status == ParseStatus::kError) {
                // leftover stays 0: how much had arrived when the error was seen depends on the reads
                out.error = parser.error();
                return out;
            }
            EXPECT_GT(parser.consumed(), 0u);
            EXPECT_LE(parser.consumed(), pending.size());
            out.requests.push_back({argsOf(parser), parser.isInline()});
            pending.erase(0, parser.consumed());
            parser.reset();
        }
    }
    out.leftover = pending.size();
    return out;
}

Outcome frameOneShot(std::string_view stream, RequestLimits limits = {}) {
    return frame({stream}, limits);
}

void expectSameAtEverySplit(std::string_view stream, RequestLimits limits = {}) {
    const Outcome whole = frameOneShot(stream, limits);
    for (size_t i = 0; i <= stream.size(); ++i) {
        SCOPED_TRACE("split at " + std::to_string(i));
        EXPECT_EQ(frame({stream.substr(0, i), stream.substr(i)}, limits), whole);
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
    SCOPED_TRACE("one byte at a time");
    EXPECT_EQ(frame(bytes, limits), whole);
}

std::string multibulk(const Args& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

// --- multibulk ---

TEST(RequestParserTest, ParsesAMultibulkRequest) {
    OneShot p("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"GET", "key"}));
    EXPECT_EQ(p.parser.consumed(), p.data.size());
    EXPECT_FALSE(p.parser.isInline());
    EXPECT_TRUE(p.parser.error().empty());
}

TEST(RequestParserTest, MultibulkArgsPointIntoTheInputWithoutCopying) {
    OneShot p("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.parser.args()[0].data(), p.data.data() + 8);
    EXPECT_EQ(p.parser.args()[1].data(), p.data.data() + 17);
}

TEST(RequestParserTest, BulksAreBinarySafe) {
    std::string value = "a\r\nb\0c$*\n"s;
    OneShot p(multibulk({"SET", "k", value}));
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "k", value}));
}

TEST(RequestParserTest, AcceptsAnEmptyBulk) {
    OneShot p("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "k", ""}));
}

TEST(RequestParserTest, SkipsAnEmptyMultibulk) {
    OneShot p("*0\r\n*1\r\n$4\r\nPING\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_TRUE(p.parser.args().empty());
    EXPECT_EQ(p.parser.consumed(), 4u);
}

TEST(RequestParserTest, SkipsANegativeMultibulkAsRedisDoes) {
    for (std::string input : {"*-1\r\n", "*-10\r\n"}) {
        SCOPED_TRACE(input);
        OneShot p(input);
        ASSERT_EQ(p.status, ParseStatus::kOk);
        EXPECT_TRUE(p.parser.args().empty());
        EXPECT_EQ(p.parser.consumed(), input.size());
    }
}

TEST(RequestParserTest, ConsumesOnlyTheFirstRequestOfAPipeline) {
    std::string first = multibulk({"GET", "a"});
    OneShot p(first + multibulk({"GET", "b"}) + "PING\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.parser.consumed(), first.size());
    EXPECT_EQ(argsOf(p.parser), (Args{"GET", "a"}));
}

TEST(RequestParserTest, AcceptsACountUpToMaxArgs) {
    RequestLimits limits;
    limits.max_args = 3;
    OneShot p(multibulk({"a", "b", "c"}), limits);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.parser.args().size(), 3u);
}

TEST(RequestParserTest, AcceptsABulkOfExactlyMaxBulk) {
    RequestLimits limits;
    limits.max_bulk = 10;
    OneShot p(multibulk({"SET", "k", std::string(10, 'v')}), limits);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(p.parser.args()[2].size(), 10u);
}

// Redis skips the two bytes after a bulk and after a count line's '\r' without looking at them;
// framing the same way keeps laminar from refusing what Redis would run.
TEST(RequestParserTest, LikeRedisSkipsTheTwoBytesAfterABulkUnchecked) {
    OneShot p("*2\r\n$3\r\nGETxx$1\r\nkXY");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"GET", "k"}));
    EXPECT_EQ(p.parser.consumed(), p.data.size());
}

TEST(RequestParserTest, LikeRedisEndsACountLineAtCarriageReturnAlone) {
    OneShot p("*1\r?$4\r!PING\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"PING"}));
}

TEST(RequestParserTest, WaitsForTheByteAfterACountLinesCarriageReturn) {
    RequestParser parser;
    std::string data = "*1\r";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += "\n$4\r";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += "\nPING\r";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += "\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kOk);
    EXPECT_EQ(argsOf(parser), (Args{"PING"}));
}

// --- inline ---

TEST(RequestParserTest, ParsesAnInlineRequest) {
    OneShot p("SET key value\r\nGET key\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_TRUE(p.parser.isInline());
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "key", "value"}));
    EXPECT_EQ(p.parser.consumed(), 15u);
}

TEST(RequestParserTest, InlineLineMayEndWithABareNewline) {
    OneShot p("PING\nPING\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"PING"}));
    EXPECT_EQ(p.parser.consumed(), 5u);
}

TEST(RequestParserTest, InlineArgsAreSeparatedByAnyRunOfBlanks) {
    OneShot p("  MGET\ta \t  b\r\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"MGET", "a", "b"}));
}

TEST(RequestParserTest, InlineCarriageReturnInsideALineSplitsWords) {
    OneShot p("a\rb c\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"a", "b", "c"}));
}

// sdssplitargs skips any isspace() byte between words but only ends a word at space, tab, CR or LF.
TEST(RequestParserTest, InlineVerticalTabAndFormFeedStayInsideAWord) {
    OneShot p("\v\fa\vb\fc d\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"a\vb\fc", "d"}));
}

TEST(RequestParserTest, SkipsAnEmptyInlineLine) {
    for (std::string input : {"\r\n", "\n", "   \t \r\n"}) {
        SCOPED_TRACE(input);
        OneShot p(input + "PING\r\n");
        ASSERT_EQ(p.status, ParseStatus::kOk);
        EXPECT_TRUE(p.parser.args().empty());
        EXPECT_EQ(p.parser.consumed(), input.size());
    }
}

TEST(RequestParserTest, InlineDoubleQuotesKeepBlanksInOneArg) {
    OneShot p("SET \"my key\" \"a  b\"\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "my key", "a  b"}));
}

TEST(RequestParserTest, InlineSingleQuotesKeepBlanksInOneArg) {
    OneShot p("SET 'c d' 'x\"y'\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "c d", "x\"y"}));
}

TEST(RequestParserTest, InlineDoubleQuotesDecodeHexEscapes) {
    OneShot p(R"(SET k "\x41\x7a\x00\xFf")" "\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "k", "Az\0\xff"s}));
}

TEST(RequestParserTest, InlineDoubleQuotesDecodeBackslashEscapes) {
    OneShot p(R"(ECHO "\n\r\t\b\a\"\\\q\x4g")" "\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    // An unknown escape is the character itself; \x without two hex digits is just 'x'.
    EXPECT_EQ(argsOf(p.parser), (Args{"ECHO", "\n\r\t\b\a\"\\qx4g"}));
}

TEST(RequestParserTest, InlineSingleQuotesOnlyEscapeTheSingleQuote) {
    OneShot p(R"(ECHO 'it\'s \n \x41')" "\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"ECHO", R"(it's \n \x41)"}));
}

TEST(RequestParserTest, InlineQuotesMayStartInsideAWord) {
    OneShot p("SET k ab\"c d\"\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "k", "abc d"}));
}

TEST(RequestParserTest, InlineEmptyQuotesMakeAnEmptyArg) {
    OneShot p("SET k \"\" ''\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"SET", "k", "", ""}));
}

TEST(RequestParserTest, InlineClosingQuoteMayBeFollowedByAnyBlank) {
    OneShot p("a \"b\"\tc 'd'\ve\r\n");
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"a", "b", "c", "d", "e"}));
}

TEST(RequestParserTest, InlineArgsOutliveTheInputBuffer) {
    RequestParser parser;
    {
        std::string data = "SET \"k k\" v\r\n";
        ASSERT_EQ(parser.parse(data), ParseStatus::kOk);
    }
    EXPECT_EQ(argsOf(parser), (Args{"SET", "k k", "v"}));
}

TEST(RequestParserTest, RefusesUnbalancedQuotes) {
    for (std::string line : {"SET k \"abc", "SET k 'abc", "SET \"a\"b c", "SET 'a'b c", "\"a\\\"",
                             "SET k \"abc\\"}) {
        SCOPED_TRACE(line);
        OneShot p(line + "\r\n");
        ASSERT_EQ(p.status, ParseStatus::kError);
        EXPECT_EQ(p.parser.error(), "Protocol error: unbalanced quotes in request");
    }
}

TEST(RequestParserTest, WaitsForTheNewlineOfAnInlineRequest) {
    RequestParser parser;
    std::string data = "GET ke";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 0u);
    data += "y\r";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += "\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kOk);
    EXPECT_EQ(argsOf(parser), (Args{"GET", "key"}));
}

// --- limits and malformed input ---

TEST(RequestParserTest, RefusesAnInlineLineOverMaxInlineWithoutANewline) {
    RequestLimits limits;
    limits.max_inline = 16;
    RequestParser parser(limits);
    std::string data(16, 'a');
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += 'a';
    ASSERT_EQ(parser.parse(data), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: too big inline request");
}

TEST(RequestParserTest, DefaultMaxInlineIsSixtyFourKilobytes) {
    RequestParser parser;
    std::string data(64 * 1024, 'a');
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += 'a';
    ASSERT_EQ(parser.parse(data), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: too big inline request");
}

// As in Redis the limit guards the wait for a newline; a complete line in the buffer is split.
TEST(RequestParserTest, AcceptsALongInlineLineWhoseNewlineHasArrived) {
    RequestLimits limits;
    limits.max_inline = 16;
    OneShot p("ECHO " + std::string(40, 'x') + "\r\n", limits);
    ASSERT_EQ(p.status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(p.parser), (Args{"ECHO", std::string(40, 'x')}));
}

TEST(RequestParserTest, RefusesAMalformedMultibulkCount) {
    for (std::string input : {"*\r\n", "*abc\r\n", "*1x\r\n", "*01\r\n", "*+1\r\n", "* 1\r\n",
                              "*-0\r\n", "*-\r\n", "*99999999999999999999\r\n",
                              "*123456789012345678901\r\n"}) {
        SCOPED_TRACE(input);
        OneShot p(input);
        ASSERT_EQ(p.status, ParseStatus::kError);
        EXPECT_EQ(p.parser.error(), "Protocol error: invalid multibulk length");
    }
}

TEST(RequestParserTest, RefusesAMultibulkCountOverIntMax) {
    RequestLimits limits;
    limits.max_args = size_t(1) << 40;
    OneShot over("*2147483648\r\n", limits);
    ASSERT_EQ(over.status, ParseStatus::kError);
    EXPECT_EQ(over.parser.error(), "Protocol error: invalid multibulk length");
    OneShot at("*2147483647\r\n", limits);
    EXPECT_EQ(at.status, ParseStatus::kIncomplete);
}

TEST(RequestParserTest, RefusesAMultibulkCountOverMaxArgs) {
    RequestLimits limits;
    limits.max_args = 3;
    OneShot p("*4\r\n", limits);
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(p.parser.error(), "Protocol error: invalid multibulk length");
}

TEST(RequestParserTest, DefaultMaxArgsIsRedisOneMebi) {
    OneShot at("*1048576\r\n");
    EXPECT_EQ(at.status, ParseStatus::kIncomplete);
    OneShot over("*1048577\r\n");
    ASSERT_EQ(over.status, ParseStatus::kError);
    EXPECT_EQ(over.parser.error(), "Protocol error: invalid multibulk length");
}

TEST(RequestParserTest, RefusesAMultibulkCountLineOverSixtyFourKilobytes) {
    RequestParser parser;
    std::string data = "*" + std::string(64 * 1024 - 1, '1');
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += '1';
    ASSERT_EQ(parser.parse(data), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: too big mbulk count string");
}

TEST(RequestParserTest, RefusesABulkCountLineOverSixtyFourKilobytes) {
    RequestParser parser;
    std::string data = "*1\r\n$" + std::string(64 * 1024 - 1, '1');
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += '1';
    ASSERT_EQ(parser.parse(data), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: too big bulk count string");
}

TEST(RequestParserTest, RefusesAnArgThatIsNotABulk) {
    OneShot p("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n");
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(p.parser.error(), "Protocol error: expected '$', got 'f'");
}

TEST(RequestParserTest, RefusesAnEmptyLineWhereABulkHeaderBelongs) {
    OneShot p("*1\r\n\r\n");
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(p.parser.error(), "Protocol error: expected '$', got '\r'");
}

TEST(RequestParserTest, ReportsTheUnexpectedByteOnlyOnceItsLineIsComplete) {
    RequestParser parser;
    std::string data = "*1\r\n:12";
    EXPECT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data += "\r\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: expected '$', got ':'");
}

TEST(RequestParserTest, RefusesAMalformedBulkLength) {
    for (std::string header : {"$", "$-1", "$-2", "$abc", "$01", "$1 ", "$+1",
                               "$99999999999999999999"}) {
        SCOPED_TRACE(header);
        OneShot p("*1\r\n" + header + "\r\nx\r\n");
        ASSERT_EQ(p.status, ParseStatus::kError);
        EXPECT_EQ(p.parser.error(), "Protocol error: invalid bulk length");
    }
}

TEST(RequestParserTest, RefusesBulkOverMaxBulkBeforeItsBodyArrives) {
    RequestLimits limits;
    limits.max_bulk = 10;
    OneShot p("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$11\r\n", limits);
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(p.parser.error(), "Protocol error: invalid bulk length (11 exceeds client.max_bulk, 10 bytes)");
}

TEST(RequestParserTest, DefaultMaxBulkIsFiveHundredTwelveMegabytes) {
    OneShot p("*1\r\n$536870913\r\n");
    ASSERT_EQ(p.status, ParseStatus::kError);
    EXPECT_EQ(p.parser.error(),
              "Protocol error: invalid bulk length (536870913 exceeds client.max_bulk, 536870912 bytes)");
}

TEST(RequestParserTest, StaysFailedUntilReset) {
    RequestParser parser;
    ASSERT_EQ(parser.parse("*x\r\n"), ParseStatus::kError);
    EXPECT_EQ(parser.parse("PING\r\n"), ParseStatus::kError);
    EXPECT_EQ(parser.error(), "Protocol error: invalid multibulk length");
    parser.reset();
    EXPECT_TRUE(parser.error().empty());
    ASSERT_EQ(parser.parse("PING\r\n"), ParseStatus::kOk);
    EXPECT_EQ(argsOf(parser), (Args{"PING"}));
}

// --- incremental framing ---

TEST(RequestParserTest, ReportsNothingNeededUntilABulkLengthIsKnown) {
    RequestParser parser;
    EXPECT_EQ(parser.parse("*2\r\n$3"), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 0u);
}

TEST(RequestParserTest, NeededCoversTheBulkBeingRead) {
    RequestParser parser;
    std::string data = "*2\r\n$3\r\nSET\r\n$100\r\nab";
    ASSERT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 19u + 100 + 2);
    data += std::string(98, 'c');
    ASSERT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 121u);
    data += "\r\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kOk);
    EXPECT_EQ(parser.consumed(), 121u);
}

TEST(RequestParserTest, NeededIsZeroWhileWaitingForTheNextHeader) {
    RequestParser parser;
    ASSERT_EQ(parser.parse("*2\r\n$3\r\nGET\r"), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 13u);
    ASSERT_EQ(parser.parse("*2\r\n$3\r\nGET\r\n$"), ParseStatus::kIncomplete);
    EXPECT_EQ(parser.needed(), 0u);
}

TEST(RequestParserTest, ResetsItselfOnTheParseAfterOk) {
    RequestParser parser;
    const std::string first = multibulk({"GET", "a"});
    const std::string third = multibulk({"GET", "b"});
    ASSERT_EQ(parser.parse(first), ParseStatus::kOk);
    ASSERT_EQ(parser.parse("PING\r\n"), ParseStatus::kOk);
    EXPECT_TRUE(parser.isInline());
    EXPECT_EQ(argsOf(parser), (Args{"PING"}));
    ASSERT_EQ(parser.parse(third), ParseStatus::kOk);
    EXPECT_FALSE(parser.isInline());
    EXPECT_EQ(argsOf(parser), (Args{"GET", "b"}));
}

TEST(RequestParserTest, EmptyInputIsIncomplete) {
    RequestParser parser;
    EXPECT_EQ(parser.parse(""), ParseStatus::kIncomplete);
    ASSERT_EQ(parser.parse("PING\n"), ParseStatus::kOk);
}

// Steady state must not allocate per request: storage is cleared, never shrunk.
TEST(RequestParserTest, ReusesArgStorageAcrossRequests) {
    RequestParser parser;
    std::string a = multibulk({"SET", "k", "v"});
    std::string b = multibulk({"SET", "x", "y"});
    ASSERT_EQ(parser.parse(a), ParseStatus::kOk);
    const auto* storage = parser.args().data();
    parser.reset();
    ASSERT_EQ(parser.parse(b), ParseStatus::kOk);
    EXPECT_EQ(parser.args().data(), storage);

    ASSERT_EQ(parser.parse("SET \"a long key that is not small\" v\r\n"), ParseStatus::kOk);
    const char* inline_storage = parser.args()[1].data();
    ASSERT_EQ(parser.parse("SET \"another key, not short either\" w\r\n"), ParseStatus::kOk);
    EXPECT_EQ(parser.args()[1].data(), inline_storage);
}

// The parser resumes where it stopped: a framed bulk header is not read again. Observed by
// changing it behind the parser's back, which a rescan would reject.
TEST(RequestParserTest, DoesNotRescanBytesItHasAlreadyFramed) {
    RequestParser parser;
    std::string data = "*2\r\n$3\r\nGET\r\n$1\r\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kIncomplete);
    data[4] = 'X';
    data += "k\r\n";
    ASSERT_EQ(parser.parse(data), ParseStatus::kOk);
    EXPECT_EQ(argsOf(parser), (Args{"GET", "k"}));
}

TEST(RequestParserTest, SurvivesTheDataMovingToANewBufferBetweenCalls) {
    const std::string stream = multibulk({"SET", "key", std::string(100, 'v')});
    RequestParser parser;
    std::unique_ptr<std::string> buffer;
    ParseStatus status = ParseStatus::kIncomplete;
    for (size_t n = 1; n <= stream.size(); n += 7) {
        buffer = std::make_unique<std::string>(stream.substr(0, n));  // old copy freed
        status = parser.parse(*buffer);
        ASSERT_EQ(status, n >= stream.size() ? ParseStatus::kOk : ParseStatus::kIncomplete) << n;
    }
    buffer = std::make_unique<std::string>(stream);
    status = parser.parse(*buffer);
    ASSERT_EQ(status, ParseStatus::kOk);
    EXPECT_EQ(argsOf(parser), (Args{"SET", "key", std::string(100, 'v')}));
    EXPECT_EQ(parser.args()[2].data(), buffer->data() + stream.size() - 102);
}

// A mixed pipeline: binary bulk, inline with quotes and escapes, empty requests of every kind.
const std::string kPipeline =
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
    "PING\r\n"
    "*0\r\n"
    "set k \"a b\" 'c d' \"\\x41\\n\"\n"
    "\r\n"
    "*-1\r\n"
    "*1\r\n$0\r\n\r\n"
    "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n"
    "  GET   k  \r\n"
    "*1\r\n$4\r\nPI";

TEST(RequestParserTest, FramesAMixedPipelineInOneRead) {
    Outcome o = frameOneShot(kPipeline);
    std::vector<Request> expected = {
        {{"SET", "key", "va\r\nl"}, false},
        {{"PING"}, true},
        {{}, false},
        {{"set", "k", "a b", "c d", "A\n"}, true},
        {{}, true},
        {{}, false},
        {{""}, false},
        {{"ECHO", "0123456789"}, false},
        {{"GET", "k"}, true},
    };
    EXPECT_EQ(o.requests, expected);
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.leftover, 10u);
}

TEST(RequestParserTest, FramesAPipelineTheSameWayAtEverySplitPointAndByteByByte) {
    expectSameAtEverySplit(kPipeline);
}

TEST(RequestParserTest, FailsAtTheSamePlaceAtEverySplitPoint) {
    const std::string stream = "PING\r\n" + multibulk({"GET", "k"}) + "*2\r\n$3\r\nGET\r\n:1\r\n";
    Outcome whole = frameOneShot(stream);
    EXPECT_EQ(whole.requests.size(), 2u);
    EXPECT_EQ(whole.error, "Protocol error: expected '$', got ':'");
    expectSameAtEverySplit(stream);
}

TEST(RequestParserTest, RefusesAnOversizedBulkAtTheSamePlaceAtEverySplitPoint) {
    RequestLimits limits;
    limits.max_bulk = 4;
    const std::string stream = multibulk({"GET", "k"}) + "*2\r\n$3\r\nSET\r\n$5\r\nhello\r\n";
    Outcome whole = frameOneShot(stream, limits);
    EXPECT_EQ(whole.requests.size(), 1u);
    EXPECT_EQ(whole.error, "Protocol error: invalid bulk length (5 exceeds client.max_bulk, 4 bytes)");
    expectSameAtEverySplit(stream, limits);
}

TEST(RequestParserTest, FramesUnbalancedQuotesAtTheSamePlaceAtEverySplitPoint) {
    const std::string stream = "GET a\r\nSET \"b c\r\nGET d\r\n";
    Outcome whole = frameOneShot(stream);
    EXPECT_EQ(whole.requests.size(), 1u);
    EXPECT_EQ(whole.error, "Protocol error: unbalanced quotes in request");
    expectSameAtEverySplit(stream);
}

TEST(RequestParserTest, FramesATenMegabyteBulkArrivingInFourKilobytePieces) {
    const size_t size = 10 * 1024 * 1024;
    std::string value(size, '\0');
    for (size_t i = 0; i < size; ++i) value[i] = static_cast<char>('a' + i % 26);
    const std::string stream = multibulk({"SET", "big", value});
    const size_t body = stream.size() - size - 2;

    RequestParser parser;
    std::string buffer;
    ParseStatus status = ParseStatus::kIncomplete;
    size_t calls = 0;
    for (size_t off = 0; off < stream.size(); off += 4096) {
        buffer.append(stream, off, 4096);
        status = parser.parse(buffer);
        ++calls;
        if (buffer.size() < stream.size()) {
            ASSERT_EQ(status, ParseStatus::kIncomplete);
            if (buffer.size() > body) {
                EXPECT_EQ(parser.needed(), stream.size());
                // Callers grow their buffer once to what needed() says.
                if (buffer.capacity() < parser.needed()) buffer.reserve(parser.needed());
            }
        }
    }
    ASSERT_EQ(status, ParseStatus::kOk);
    EXPECT_EQ(calls, (stream.size() + 4095) / 4096);
    EXPECT_EQ(parser.consumed(), stream.size());
    ASSERT_EQ(parser.args().size(), 3u);
    EXPECT_EQ(parser.args()[2].size(), size);
    EXPECT_TRUE(parser.args()[2] == value);
}

TEST(RequestParserTest, FramesManyArgsArrivingInSmallPieces) {
    Args args(5000, "x");
    for (size_t i = 0; i < args.size(); ++i) args[i] = std::to_string(i);
    const std::string stream = multibulk(args);
    std::vector<std::string_view> pieces;
    for (size_t off = 0; off < stream.size(); off += 13) pieces.push_back(std::string_view(stream).substr(off, 13));
    Outcome o = frame(pieces);
    ASSERT_EQ(o.requests.size(), 1u);
    EXPECT_EQ(o.requests[0].args, args);
    EXPECT_EQ(o.leftover, 0u);
}

}  // namespace
}  // namespace laminar::resp

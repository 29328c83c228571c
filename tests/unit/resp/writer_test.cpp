// SPDX-License-Identifier: Apache-2.0
#include "resp/writer.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_scanner.h"
#include "resp/request_parser.h"

namespace laminar::resp {
namespace {

using namespace std::string_literals;

TEST(WriterTest, AppendsASimpleString) {
    std::string out;
    appendSimple(out, "OK");
    EXPECT_EQ(out, "+OK\r\n");
}

TEST(WriterTest, AppendsAnError) {
    std::string out;
    appendError(out, "ERR unknown command");
    EXPECT_EQ(out, "-ERR unknown command\r\n");
}

TEST(WriterTest, ErrorReplacesCarriageReturnsAndLineFeedsWithSpaces) {
    std::string out = "+kept\r\n";
    appendError(out, "ERR line one\r\nline two\nthree\r");
    EXPECT_EQ(out, "+kept\r\n-ERR line one  line two three \r\n");
}

TEST(WriterTest, AppendsIntegers) {
    std::string out;
    appendInteger(out, 0);
    appendInteger(out, 42);
    appendInteger(out, -7);
    EXPECT_EQ(out, ":0\r\n:42\r\n:-7\r\n");
}

TEST(WriterTest, AppendsTheExtremeIntegers) {
    std::string out;
    appendInteger(out, LLONG_MAX);
    appendInteger(out, LLONG_MIN);
    EXPECT_EQ(out, ":9223372036854775807\r\n:-9223372036854775808\r\n");
}

TEST(WriterTest, AppendsABulkString) {
    std::string out;
    appendBulk(out, "hello");
    EXPECT_EQ(out, "$5\r\nhello\r\n");
}

TEST(WriterTest, AppendsAnEmptyBulkString) {
    std::string out;
    appendBulk(out, "");
    EXPECT_EQ(out, "$0\r\n\r\n");
}

TEST(WriterTest, BulkStringsAreBinarySafe) {
    std::string out;
    appendBulk(out, "a\r\n\0b"s);
    EXPECT_EQ(out, "$5\r\na\r\n\0b\r\n"s);
}

TEST(WriterTest, AppendsANullBulk) {
    std::string out;
    appendNull(out);
    EXPECT_EQ(out, "$-1\r\n");
}

TEST(WriterTest, AppendsAnArrayHeader) {
    std::string out;
    appendArrayHeader(out, 0);
    appendArrayHeader(out, 3);
    appendArrayHeader(out, 1234567890123);
    EXPECT_EQ(out, "*0\r\n*3\r\n*1234567890123\r\n");
}

TEST(WriterTest, AppendsACommandFromASpan) {
    std::vector<std::string_view> args = {"SET", "key", "value"};
    std::string out;
    appendCommand(out, args);
    EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST(WriterTest, AppendsACommandFromAnInitializerList) {
    std::string out;
    appendCommand(out, {"PING"});
    EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n");
}

TEST(WriterTest, AppendsAnEmptyCommand) {
    std::string out;
    appendCommand(out, std::span<const std::string_view>());
    EXPECT_EQ(out, "*0\r\n");
}

TEST(WriterTest, AppendsAfterWhatIsAlreadyThere) {
    std::string out = "prefix";
    appendSimple(out, "a");
    appendCommand(out, {"GET", "k"});
    EXPECT_EQ(out, "prefix+a\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(WriterTest, CommandsParseBackToTheSameArgs) {
    std::vector<std::string> values = {"SET", "", "a\r\nb", std::string(1000, 'x'), "\0\xff"s};
    std::vector<std::string_view> args(values.begin(), values.end());
    std::string out;
    appendCommand(out, args);
    RequestParser parser;
    ASSERT_EQ(parser.parse(out), ParseStatus::kOk);
    EXPECT_EQ(parser.consumed(), out.size());
    EXPECT_EQ(parser.args(), args);
}

TEST(WriterTest, RepliesScanAsOneReplyEach) {
    std::string out;
    appendSimple(out, "OK");
    appendError(out, "ERR a\r\nb");
    appendInteger(out, -5);
    appendBulk(out, "x\r\ny");
    appendNull(out);
    appendArrayHeader(out, 2);
    appendBulk(out, "a");
    appendInteger(out, 1);

    std::vector<char> types;
    ReplyScanner scanner;
    std::string_view rest = out;
    while (!rest.empty()) {
        ASSERT_EQ(scanner.scan(rest), ParseStatus::kOk) << scanner.error();
        types.push_back(scanner.type());
        rest.remove_prefix(scanner.consumed());
        scanner.reset();
    }
    EXPECT_EQ(types, (std::vector<char>{'+', '-', ':', '$', '$', '*'}));
}

}  // namespace
}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#include "queue/record.h"

#include <gtest/gtest.h>

#include "resp/writer.h"

namespace laminar::queue {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;  // ms

std::string cmd(std::initializer_list<std::string_view> args) {
    std::string out;
    resp::appendCommand(out, args);
    return out;
}

std::optional<std::string> fixed(std::vector<std::string_view> argv) {
    return fixedReplyCommand(argv, [] { return kNow; });
}

TEST(QueueRecordTest, CommandRecordsRoundTrip) {
    std::vector<std::string> targets = {"old", "new"};
    auto raw = cmd({"SET", "k", "v"});
    auto data = encodeCommandRecord(targets, raw);
    auto r = decodeRecord(data);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, QueuedRecord::Kind::kCommand);
    EXPECT_EQ(r->targets, (std::vector<std::string_view>{"old", "new"}));
    EXPECT_EQ(r->command, raw);
    EXPECT_TRUE(r->addressedTo("new"));
    EXPECT_FALSE(r->addressedTo("other"));
}

TEST(QueueRecordTest, KeysRecordsRoundTripWithBinaryKeys) {
    std::vector<std::string> targets = {"new"};
    std::string binary("a\0b\r\n", 5);
    std::vector<std::string_view> keys = {"k1", binary, ""};
    auto data = encodeKeysRecord("old", targets, keys);  // the record's views point into it
    auto r = decodeRecord(data);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, QueuedRecord::Kind::kKeys);
    EXPECT_EQ(r->from, "old");
    EXPECT_EQ(r->keys, keys);
}

TEST(QueueRecordTest, ForeignOrTruncatedDataIsNotARecord) {
    std::vector<std::string> targets = {"new"};
    std::vector<std::string_view> keys = {"k1", "k2"};
    auto data = encodeKeysRecord("old", targets, keys);
    EXPECT_FALSE(decodeRecord(""));
    EXPECT_FALSE(decodeRecord("X\x01\x03new"));
    for (size_t n = 1; n < data.size(); ++n) EXPECT_FALSE(decodeRecord(std::string_view(data).substr(0, n))) << n;
    EXPECT_FALSE(decodeRecord(data + "junk"));
}

// A record found damaged still says its keys as far as its bytes allow: a damaged value leaves the
// key readable; a record cut before its key, or not a record, says none.
TEST(QueueRecordTest, ADamagedRecordSaysTheKeysItsBytesStillHold) {
    using Keys = std::vector<std::string>;
    std::vector<std::string> targets = {"new"};
    auto set = encodeCommandRecord(targets, cmd({"SET", "user:1", "a value the damage hits"}));
    set.replace(set.size() - 8, 4, "\xff\x00\x13\x37");
    EXPECT_EQ(keysOfDamagedRecord(set), Keys{"user:1"});
    auto mset = encodeCommandRecord(targets, cmd({"MSET", "a", "1", "b", "2", "c", "3"}));
    EXPECT_EQ(keysOfDamagedRecord(mset.substr(0, mset.size() - 10)), (Keys{"a", "b"}));
    EXPECT_EQ(keysOfDamagedRecord(encodeCommandRecord(targets, cmd({"SETEX", "t", "10", "v"}))), Keys{"t"});
    std::vector<std::string_view> keys = {"k1", "k2", "k3"};
    auto k = encodeKeysRecord("old", targets, keys);
    EXPECT_EQ(keysOfDamagedRecord(k.substr(0, k.size() - 1)), (Keys{"k1", "k2"}));
    EXPECT_FALSE(keysOfDamagedRecord(set.substr(0, 12)));  // cut before the key
    EXPECT_FALSE(keysOfDamagedRecord(encodeCommandRecord(targets, cmd({"INCR", "n"}))));
    EXPECT_FALSE(keysOfDamagedRecord("garbage"));
    EXPECT_EQ(keysOfDamagedCommand("junk" + cmd({"SET", "x", "y"}).substr(0)), std::nullopt);  // must start at the command
    EXPECT_EQ(keysOfDamagedCommand(cmd({"SET", "x", "y"})), Keys{"x"});
}

TEST(QueueRecordTest, RelativeExpiriesBecomeAbsolute) {
    EXPECT_EQ(fixed({"SET", "k", "v"}), cmd({"SET", "k", "v"}));
    EXPECT_EQ(fixed({"set", "k", "v", "EX", "10"}), cmd({"SET", "k", "v", "PXAT", "1800000010000"}));
    EXPECT_EQ(fixed({"SET", "k", "v", "px", "1500"}), cmd({"SET", "k", "v", "PXAT", "1800000001500"}));
    EXPECT_EQ(fixed({"SET", "k", "v", "EXAT", "1900000000"}), cmd({"SET", "k", "v", "PXAT", "1900000000000"}));
    EXPECT_EQ(fixed({"SET", "k", "v", "PXAT", "1900000000001"}), cmd({"SET", "k", "v", "PXAT", "1900000000001"}));
    EXPECT_EQ(fixed({"SET", "k", "v", "KEEPTTL"}), cmd({"SET", "k", "v", "KEEPTTL"}));
    EXPECT_EQ(fixed({"SETEX", "k", "10", "v"}), cmd({"SET", "k", "v", "PXAT", "1800000010000"}));
    EXPECT_EQ(fixed({"PSETEX", "k", "250", "v"}), cmd({"SET", "k", "v", "PXAT", "1800000000250"}));
    EXPECT_EQ(fixed({"MSET", "a", "1", "b", "2"}), cmd({"MSET", "a", "1", "b", "2"}));
}

// Their reply depends on the key, or the server would refuse them: not acknowledged early.
TEST(QueueRecordTest, CommandsWhoseReplyIsNotFixedAreNot) {
    for (auto argv : std::vector<std::vector<std::string_view>>{
             {"SET", "k", "v", "NX"}, {"SET", "k", "v", "XX"}, {"SET", "k", "v", "GET"}, {"SET", "k", "v", "EX", "0"},
             {"SET", "k", "v", "EX", "-1"}, {"SET", "k", "v", "EX", "abc"}, {"SET", "k", "v", "EX"}, {"SET", "k", "v", "EX", "1", "PX", "1"},
             {"SET", "k", "v", "KEEPTTL", "EX", "1"}, {"SET", "k", "v", "EX", "9223372036854775807"}, {"SET", "k", "v", "BOGUS"},
             {"SETEX", "k", "0", "v"}, {"SETEX", "k", "v"}, {"MSET", "a"}, {"MSET", "a", "1", "b"}, {"HMSET", "h", "f", "v"},
             {"LTRIM", "l", "0", "1"}, {"INCR", "k"}, {"DEL", "k"}, {"APPEND", "k", "v"}, {"EXPIRE", "k", "10"}}) {
        EXPECT_FALSE(fixed(argv)) << argv[0] << " " << (argv.size() > 3 ? argv[3] : "");
    }
}

}  // namespace
}  // namespace laminar::queue

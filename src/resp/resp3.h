// SPDX-License-Identifier: Apache-2.0
// RESP3 forms of the replies laminar writes itself, or takes from a server that speaks only RESP2
// (memcached through laminar), for a client that said HELLO 3.
#pragma once

#include <string>
#include <string_view>

namespace laminar::resp {

// The null reply: "_\r\n" in RESP3, "$-1\r\n" in RESP2.
inline std::string_view nullReply(bool resp3) { return resp3 ? std::string_view("_\r\n") : std::string_view("$-1\r\n"); }

// A verbatim string of format txt (=len\r\ntxt:body\r\n): Redis's RESP3 reply to INFO, CLIENT INFO
// and CLIENT LIST.
void appendVerbatim(std::string& out, std::string_view body);

// A bulk string reply ($len\r\nbody\r\n) as a verbatim string; anything else unchanged.
std::string bulkToVerbatim(std::string_view raw);

// One complete RESP2 reply with its nulls ($-1 and *-1, at any depth) written as RESP3's _, the
// rest unchanged: what a RESP3 connection gets for a reply made of strings, integers, nulls and
// arrays of them. A reply that is not well-formed RESP2 is returned as it came.
std::string nullsToResp3(std::string_view raw);

// HELLO's reply (RESP2 array or RESP3 map) with its `id` field set to `id`: the client's id is
// the proxy's, not the backend connection's. A reply without the field is returned as it came.
std::string withHelloId(std::string_view raw, long long id);

}  // namespace laminar::resp

// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace laminar::resp {

// Appends RESP2 values to a byte buffer: replies laminar makes itself and commands it sends.
void appendSimple(std::string& out, std::string_view s);   // +s\r\n
void appendError(std::string& out, std::string_view msg);  // -msg\r\n (CR/LF in msg become spaces)
void appendInteger(std::string& out, long long v);         // :v\r\n
void appendBulk(std::string& out, std::string_view s);     // $len\r\ns\r\n
void appendNull(std::string& out);                         // $-1\r\n
void appendArrayHeader(std::string& out, size_t n);        // *n\r\n
// A command as a multibulk array of bulk strings.
void appendCommand(std::string& out, std::span<const std::string_view> args);
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);

}  // namespace laminar::resp

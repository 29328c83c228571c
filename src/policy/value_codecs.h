// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace laminar::policy {

// What a convert route does to a value on its way from source to target (key_rule.h does the
// keys): pure functions, so they are tested without backends. Each has an inverse, and a reverse
// migration is the same route with source and target swapped and the inverse applied.

// Value codecs, each named as in the config, with its inverse:
//   identity        <-> identity
//   json_wrap       <-> json_unwrap      bytes <-> a JSON string literal ("JSON.stringify(value)")
//   zlib_compress   <-> zlib_decompress  bytes <-> a zlib stream (RFC 1950, default level)
enum class Codec { kIdentity, kJsonWrap, kJsonUnwrap, kZlibCompress, kZlibDecompress };

std::optional<Codec> codecByName(std::string_view name);
std::string_view codecName(Codec codec);
// "identity, json_wrap, ...", for config errors.
std::string codecNames();
Codec inverseCodec(Codec codec);

// Converts `in` with `codec` into `out`. False when `in` is not something the codec accepts, or
// the result would be larger than `max_out` bytes; `why` then says what is wrong in a short phrase
// of printable ASCII (no key, no value bytes beyond one character).
bool convertValue(Codec codec, std::string_view in, size_t max_out, std::string& out, std::string& why);

// The codecs one by one (what convertValue runs).
//
// json_wrap: `in` as a JSON string literal (RFC 8259), byte for byte what JavaScript's
// JSON.stringify gives for that string: `"` and `\` escaped, \b \f \n \r \t, other control
// characters as \u00xx, everything else (UTF-8 included) as it is. A JSON string holds Unicode
// text, so `in` must be valid UTF-8; anything else is refused (its first bad byte is named).
bool jsonWrap(std::string_view in, std::string& out, std::string& why);
// json_unwrap: the text of one JSON string literal (optionally between JSON whitespace); every
// escape is decoded, \u surrogate pairs to UTF-8. Refused: any other JSON value, unescaped
// control characters, a lone surrogate, invalid UTF-8, anything after the closing quote.
bool jsonUnwrap(std::string_view in, std::string& out, std::string& why);
bool zlibCompress(std::string_view in, std::string& out, std::string& why);
// Refuses a stream that does not end, that is followed by more bytes, or whose output would pass
// `max_out` bytes: the output grows as it is inflated, so a zip bomb stops at the limit.
bool zlibDecompress(std::string_view in, size_t max_out, std::string& out, std::string& why);
// The offset of the first byte that is not part of well-formed UTF-8 (no overlong forms, no
// surrogates, nothing past U+10FFFF), or npos.
size_t invalidUtf8At(std::string_view s);

}  // namespace laminar::policy

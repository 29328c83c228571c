// SPDX-License-Identifier: Apache-2.0
#include "resp/glob.h"

namespace laminar::resp {

// Iterative with one backtrack point for the last `*`: linear in practice, and no recursion a
// hostile pattern could exhaust (Redis's recursive version needed a nesting limit for that).
bool globMatch(std::string_view p, std::string_view s) {
    size_t pi = 0, si = 0;
    size_t star_p = std::string_view::npos, star_s = 0;
    while (si < s.size()) {
        if (pi < p.size()) {
            char c = p[pi];
            if (c == '*') {
                star_p = pi++;
                star_s = si;
                continue;
            }
            if (c == '?') {
                ++pi;
                ++si;
                continue;
            }
            if (c == '[') {
                size_t j = pi + 1;
                bool negate = j < p.size() && p[j] == '^';
                if (negate) ++j;
                bool matched = false;
                while (j < p.size() && p[j] != ']') {
                    if (p[j] == '\\' && j + 1 < p.size()) {
                        if (p[j + 1] == s[si]) matched = true;
                        j += 2;
                    } else if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
                        char lo = p[j], hi = p[j + 2];
                        if (lo > hi) std::swap(lo, hi);
                        if (s[si] >= lo && s[si] <= hi) matched = true;
                        j += 3;
                    } else {
                        if (p[j] == s[si]) matched = true;
                        ++j;
                    }
                }
                if (matched != negate) {
                    pi = j < p.size() ? j + 1 : j;
                    ++si;
                    continue;
                }
            } else {
                if (c == '\\' && pi + 1 < p.size()) c = p[pi + 1];
                if (c == s[si]) {
                    pi += (p[pi] == '\\' && pi + 1 < p.size()) ? 2 : 1;
                    ++si;
                    continue;
                }
            }
        }
        if (star_p == std::string_view::npos) return false;
        pi = star_p + 1;
        si = ++star_s;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

}  // namespace laminar::resp

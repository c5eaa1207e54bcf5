#pragma once
#include <cstdio>
#include <string_view>

namespace vmemu::trace {

// text as a JSON string, quotes included. Besides what JSON requires, '<' is escaped, so that
// no "</script>" or "<!--" ends a page's data early, and so is every byte past ASCII: thread
// names are cut at 15 bytes, maybe inside a UTF-8 sequence, and the output stays UTF-8.
void print_json_string(std::FILE* out, std::string_view text);

} // namespace vmemu::trace

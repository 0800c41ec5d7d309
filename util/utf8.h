// util/utf8.h — UTF-8 validity, as outside input (names, paths, YAML) needs it.
#pragma once

#include <string_view>

namespace modelfs {

// True when `s` is well-formed UTF-8: shortest forms only, no surrogates,
// nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace modelfs

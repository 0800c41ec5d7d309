// util/hex.h — lower-case hexadecimal encoding of byte strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modelfs {

std::string HexEncode(std::string_view bytes);
// Returns nullopt when `hex` has odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace modelfs

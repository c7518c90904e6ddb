#pragma once
// Names read from a model file go into one-line error messages; a hostile name must not break the line or
// flood the terminal.

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace onsager::detail {

/// `s` in single quotes, control bytes written as \xNN, cut after 80 characters with "...".
inline std::string quote_name(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

}  // namespace onsager::detail

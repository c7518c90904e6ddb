#pragma once
// One error path: ONSAGER_CHECK throws onsager::Error on input a user can reach;
// ONSAGER_ASSERT guards internal invariants (debug builds only).

#include <cassert>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace onsager {

/// The only exception the library throws on bad input; its message is one line a user can act on.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace onsager

/// Throws onsager::Error with a formatted message when `cond` is false.
#define ONSAGER_CHECK(cond, ...)                                  \
  do {                                                            \
    if (!(cond)) throw ::onsager::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

/// Throws onsager::Error with a formatted message, unconditionally.
#define ONSAGER_FAIL(...) throw ::onsager::Error(::fmt::format(__VA_ARGS__))

#define ONSAGER_ASSERT(cond) assert(cond)

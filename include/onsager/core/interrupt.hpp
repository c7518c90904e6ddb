#pragma once
// Stopping long work from outside: a host (the Python module, whose user presses Ctrl-C) installs a check
// function; the library's long loops (training batches, AIS temperatures, Gibbs sweeps, exact-enumeration
// chunks, analysed layers) poll it and end by throwing onsager::Interrupted, leaving their outputs in the last
// consistent state. Without an installed check, polling costs one atomic load.

#include <string>

#include "onsager/core/error.hpp"

namespace onsager {

/// Thrown by long work when the installed check asked it to stop. Its message names where it stopped.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message) {}
};

/// Returns true when the work should stop. Called only from the thread that installed it (the one that started
/// the work; in a parallel region, the team's master), at most every 50 ms.
using InterruptCheck = bool (*)();

/// Installs `check` for the calling thread (nullptr removes it) and clears any earlier request.
void set_interrupt_check(InterruptCheck check);

/// True once the installed check has returned true (it stays true until set_interrupt_check is called again).
/// Safe from any thread, inside parallel regions too; only the installing thread calls the check.
bool interrupt_requested();

/// Throws Interrupted("`where`: interrupted") when interrupt_requested(). Not inside a parallel region.
void throw_if_interrupted(const char* where);

}  // namespace onsager

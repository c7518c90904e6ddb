// libFuzzer target: a Keras HDF5 file (.h5), read through libhdf5 (not instrumented). docs/format-keras-h5.md lists
// the libhdf5 1.10.8 failures found with it, the checks the reader makes before calling libhdf5, and what is open.
#include "fuzz_common.hpp"

// libhdf5 1.10.8 leaks a metadata-cache image when H5Fopen fails while setting up the root group (H5C_protect
// <- H5O_protect <- H5G_mkroot <- H5F_open, seen with fast_unwind_on_malloc=0). libhdf5 has no frame pointers,
// so under libFuzzer's fast unwinder such a stack ends in libhdf5 itself: blocks that libhdf5 allocated and lost
// are exempt. Handles onsager leaves open are not hidden by this (libhdf5's ID tables keep them reachable), and
// leaks of memory onsager allocates are still reported.
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5_serial.so\n"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return onsager::fuzz::open_and_read({{"model.h5", onsager::fuzz::bytes(data, size)}}, "model.h5");
}

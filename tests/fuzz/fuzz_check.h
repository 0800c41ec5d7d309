// tests/fuzz/fuzz_check.h — what every fuzz target shares: a check that
// aborts (so libFuzzer records the input as a crash) and quiet logs.
//
// A target feeds one input to one parser of outside input. The parser may
// refuse it only with modelfs::Error (a sentence for the user); any other
// exception, a crash, a sanitizer report or a failed FUZZ_CHECK is a bug.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

// Aborts with the failed condition when `cond` is false.
#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

// Parsers warn through spdlog; a fuzzer calls them millions of times.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

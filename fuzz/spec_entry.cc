// The spec fuzz target under another name, for the regression test.
#define LLVMFuzzerTestOneInput spec_fuzz_one
#include "fuzz/spec_fuzz.cc"

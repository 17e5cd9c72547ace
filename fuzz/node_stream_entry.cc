// The node-stream fuzz target under another name, for the regression test.
#define LLVMFuzzerTestOneInput node_stream_fuzz_one
#include "fuzz/node_stream_fuzz.cc"

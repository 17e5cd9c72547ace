// memhog MIB [SECONDS]: allocate and touch MIB mebibytes, then sleep SECONDS
// (default: forever). A workload for memory-limit tests.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  long mib = argc > 1 ? std::atol(argv[1]) : 100;
  long secs = argc > 2 ? std::atol(argv[2]) : -1;
  for (long i = 0; i < mib; ++i) {
    char* p = static_cast<char*>(std::malloc(1 << 20));
    if (p == nullptr) return 3;
    std::memset(p, 1, 1 << 20);
  }
  if (secs < 0) {
    while (true) pause();
  }
  sleep(static_cast<unsigned>(secs));
  return 0;
}

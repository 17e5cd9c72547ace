// Fuzz target: the spec parser (what `rackos apply` and the API accept from
// anyone with the operator role). Any input must give specs or one error,
// never a crash, a hang or undefined behaviour; a spec that parses must
// survive its normal form (format → parse gives the same spec back).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/spec_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto specs = rackos::parse_services_yaml(text);
  if (!specs) return 0;
  for (const auto& spec : *specs) {
    const std::string again = rackos::format_service_yaml(spec);
    auto back = rackos::parse_services_yaml(again, /*admit=*/false);
    if (!back || back->size() != 1 || rackos::format_service_yaml(back->front()) != again) std::abort();
  }
  return 0;
}

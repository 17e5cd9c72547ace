// A 128-bit integer for exact intermediate arithmetic (products of amounts and
// times that overflow 64 bits). GCC/Clang extension, named once here.
#pragma once

namespace rackos {
__extension__ typedef __int128 int128;
}  // namespace rackos

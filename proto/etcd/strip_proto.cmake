# Copies one of etcd's own .proto files (Debian's golang-etcd-server-dev) to
# the build tree without what only Go's toolchain understands: gogoproto
# options and imports, and google.api.http annotations (grpc-gateway; one level of nested braces, as etcd writes them). The
# messages and services are left exactly as etcd defines them.
#   cmake -DIN=.../rpc.proto -DOUT=.../rpc.proto -P strip_proto.cmake
file(READ "${IN}" text)
string(REPLACE "import \"gogoproto/gogo.proto\";" "" text "${text}")
string(REPLACE "import \"google/api/annotations.proto\";" "" text "${text}")
string(REGEX REPLACE "option \\(gogoproto\\.[a-z_]+\\) *= *[a-z]+;" "" text "${text}")
string(REGEX REPLACE "\\[\\(gogoproto\\.[^]]*\\]" "" text "${text}")
string(REGEX REPLACE "option \\(google\\.api\\.http\\) *= *{([^{}]|{[^{}]*})*};" "" text "${text}")
file(WRITE "${OUT}" "${text}")

// Tests of the wire protocol: messages round-trip, an older reader ignores a
// newer peer's fields, and the gRPC runtime serves a call over a Unix socket.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "rackos/v1/cluster.grpc.pb.h"
#include "rackos/v1/node.grpc.pb.h"

namespace {

TEST(Proto, ShimMessagesRoundTrip) {
  rackos::v1::ShimMessage m;
  auto* r = m.mutable_register_();
  r->set_wire_version(1);
  r->set_node("n1");
  r->set_cpu_millis(4000);
  (*r->mutable_labels())["rack"] = "r1";
  auto* p = r->add_running();
  p->set_id("web-0");
  p->mutable_envelope()->mutable_cpu_millis()->set_max(2000);
  std::string wire = m.SerializeAsString();
  rackos::v1::ShimMessage back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.register_().node(), "n1");
  EXPECT_EQ(back.register_().labels().at("rack"), "r1");
  EXPECT_EQ(back.register_().running(0).envelope().cpu_millis().max(), 2000);
}

TEST(Proto, OlderReaderIgnoresNewerFields) {
  rackos::v1::Heartbeat hb;
  hb.set_seq(7);
  hb.set_sent_ms(1234);
  std::string wire = hb.SerializeAsString();
  // A newer shim adds field 100 (varint 42): tag = (100 << 3) | 0.
  wire += static_cast<char>(0xa0);
  wire += static_cast<char>(0x06);
  wire += static_cast<char>(42);
  rackos::v1::Heartbeat back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.seq(), 7u);
  EXPECT_EQ(back.sent_ms(), 1234);
}

TEST(Proto, GrpcRuntimeServesOverAUnixSocket) {
  const std::string addr = "unix:/tmp/rackos-proto-test-" + std::to_string(::getpid()) + ".sock";
  rackos::v1::ClusterService::Service unimplemented;  // every method answers UNIMPLEMENTED
  grpc::ServerBuilder b;
  b.AddListeningPort(addr, grpc::InsecureServerCredentials());
  b.RegisterService(&unimplemented);
  auto server = b.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = rackos::v1::ClusterService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  rackos::v1::ListRequest req;
  rackos::v1::ListNodesResponse resp;
  grpc::Status st = stub->ListNodes(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  server->Shutdown();
  ::unlink(addr.substr(5).c_str());
}

}  // namespace

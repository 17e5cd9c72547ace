// Every kind has one name and parses back from it; anything else is refused.
#include "core/ids.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

TEST(Kinds, EachParsesBackFromItsName) {
  for (auto st : {ProcessState::pending, ProcessState::starting, ProcessState::running, ProcessState::stopping,
                  ProcessState::backoff, ProcessState::exited, ProcessState::lost}) {
    EXPECT_EQ(parse_process_state(to_string(st)), st) << to_string(st);
  }
  for (auto p : {OnPartition::stop, OnPartition::keep}) EXPECT_EQ(parse_on_partition(to_string(p)), p);
  for (auto p : {PriorityClass::system, PriorityClass::high, PriorityClass::normal, PriorityClass::batch}) {
    EXPECT_EQ(parse_priority_class(to_string(p)), p);
  }
  for (auto k : {NodeEventKind::started, NodeEventKind::start_failed, NodeEventKind::exited, NodeEventKind::evict,
                 NodeEventKind::fenced, NodeEventKind::unfenced, NodeEventKind::adopted, NodeEventKind::takeover,
                 NodeEventKind::warning}) {
    EXPECT_EQ(parse_node_event_kind(to_string(k)), k) << to_string(k);
  }
  EXPECT_FALSE(parse_node_event_kind("exploded"));
  EXPECT_FALSE(parse_process_state("dancing"));
  EXPECT_FALSE(parse_on_partition("Stop"));
  EXPECT_FALSE(parse_priority_class(""));
}

}  // namespace
}  // namespace rackos

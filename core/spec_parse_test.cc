// Tests for service specs from YAML and CLI strings, and their validation.
#include "core/spec_parse.h"

#include <gtest/gtest.h>

namespace rackos {
namespace {

const char* kWeb = R"(
name: web
command: ["/usr/bin/python3", "-m", "http.server"]
env: {PORT: "8080"}
cpu: 500m:2:4
memory: {min: 256Mi, max: 1Gi, burst: 2Gi}
resources: {gpu: 1}
instances: 2:6
priority: high
restart: {policy: on-failure, backoff: 200ms, backoff_max: 10s}
constraints: ["zone=eu1|eu2", "rack!=r3", "ssd"]
on_partition: keep
)";

TEST(SpecParse, FullService) {
  auto r = parse_services_yaml(kWeb);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  const ServiceSpec& s = (*r)[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.command.size(), 3u);
  EXPECT_EQ(s.env[0].first, "PORT");
  EXPECT_EQ(s.envelope.cpu_millis, (Range{500, 2000, 4000}));
  EXPECT_EQ(s.envelope.memory_bytes, (Range{256ll << 20, 1ll << 30, 2ll << 30}));
  EXPECT_EQ(s.resources.at("gpu"), 1);
  EXPECT_EQ(s.instances, (InstanceRange{2, 6}));
  EXPECT_EQ(s.priority, PriorityClass::high);
  EXPECT_EQ(s.restart.kind, RestartKind::on_failure);
  EXPECT_EQ(s.restart.backoff_initial_ms, 200);
  ASSERT_EQ(s.constraints.size(), 3u);
  EXPECT_EQ(s.constraints[0].values.size(), 2u);
  EXPECT_EQ(s.constraints[1].op, Constraint::Op::not_in);
  EXPECT_EQ(s.constraints[2].op, Constraint::Op::exists);
  EXPECT_EQ(s.effective_on_partition(), OnPartition::keep);
}

TEST(SpecParse, NormalFormRoundTrips) {
  auto r = parse_services_yaml(kWeb);
  ASSERT_TRUE(r);
  std::string text = format_service_yaml((*r)[0]);
  auto again = parse_services_yaml(text);
  ASSERT_TRUE(again) << again.error().message << "\n" << text;
  EXPECT_EQ((*again)[0], (*r)[0]);
}

TEST(SpecParse, NormalFormRoundTripsAwkwardStrings) {
  ServiceSpec s;
  s.name = "odd";
  s.command = {"/bin/sh", "-c", "echo \"a: b\" # not a comment\n\tnext line \\ done", "null", "yes", "  lead", "ünï", "[x]", "{y}"};
  s.env = {{"QUOTE", "say \"hi\""}, {"EMPTY", ""}, {"COLON", "k: v"}, {"CTRL", std::string("a\x01b")}};
  s.workdir = "/tmp/with space";
  s.envelope.cpu_millis = {100, 500, 1000};
  s.envelope.memory_bytes = {64 << 20, 128 << 20, 256 << 20};
  s.resources = {{"gpu_milli", 500}};
  auto again = parse_services_yaml(format_service_yaml(s));
  ASSERT_TRUE(again) << again.error().message << "\n" << format_service_yaml(s);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].command, s.command);
  EXPECT_EQ((*again)[0].env, s.env);
  EXPECT_EQ((*again)[0].workdir, s.workdir);
  EXPECT_EQ((*again)[0].resources, s.resources);
  EXPECT_EQ((*again)[0].envelope, s.envelope);
}

TEST(SpecParse, Defaults) {
  auto r = parse_services_yaml("name: one\ncommand: sleep 100\ncpu: 1\nmemory: 64Mi:128Mi\n");
  ASSERT_TRUE(r) << r.error().message;
  const ServiceSpec& s = (*r)[0];
  EXPECT_EQ(s.command, (std::vector<std::string>{"/bin/sh", "-c", "sleep 100"}));
  EXPECT_EQ(s.envelope.cpu_millis, (Range{1000, 1000, 1000}));
  EXPECT_EQ(s.envelope.memory_bytes.burst, 128ll << 20);
  EXPECT_EQ(s.instances, (InstanceRange{1, 1}));
  EXPECT_EQ(s.priority, PriorityClass::normal);
  EXPECT_EQ(s.effective_on_partition(), OnPartition::stop);  // singleton default
}

TEST(SpecParse, SeveralDocumentsAndServicesList) {
  auto r = parse_services_yaml("name: a\ncommand: x\ncpu: 1\nmemory: 1Gi\n---\nname: b\ncommand: y\ncpu: 1\nmemory: 1Gi\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  auto l = parse_services_yaml("services:\n  - {name: a, command: x, cpu: 1, memory: 1Gi}\n  - {name: b, command: y, cpu: 1, memory: 1Gi}\n");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->size(), 2u);
}

TEST(SpecParse, EnvelopeRuleErrorNamesFieldsAndValues) {
  auto r = parse_services_yaml("name: a\ncommand: x\ncpu: {min: 4, max: 2}\nmemory: 1Gi\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 3: cpu.min 4 exceeds cpu.max 2"), std::string::npos) << r.error().message;
}

TEST(SpecParse, BadSizeNamesFieldAndValue) {
  auto r = parse_services_yaml("name: a\ncommand: x\ncpu: 1\nmemory: {min: 1Gi, max: 12Q}\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 4: memory.max: \"12Q\" is not a size"), std::string::npos) << r.error().message;
  // No second, derived complaint about memory.
  EXPECT_EQ(r.error().message.find("memory.min"), std::string::npos) << r.error().message;
}

TEST(SpecParse, EveryProblemReportedOnce) {
  auto r = parse_services_yaml("name: Bad_Name\ncpu: {min: 4, max: 2}\nmemory: 1Gi:512Mi\npriority: urgent\ncolour: red\n");
  ASSERT_FALSE(r);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("not a valid service name"), std::string::npos) << m;
  EXPECT_NE(m.find("command is missing"), std::string::npos) << m;
  EXPECT_NE(m.find("cpu.min 4 exceeds cpu.max 2"), std::string::npos) << m;
  EXPECT_NE(m.find("memory.min 1Gi exceeds memory.max 512Mi"), std::string::npos) << m;
  EXPECT_NE(m.find("\"urgent\" is not a priority class"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown field \"colour\""), std::string::npos) << m;
  EXPECT_EQ(m.find("command is empty"), std::string::npos) << m;
}

TEST(SpecParse, ImpossibleEnvelopes) {
  for (const char* bad : {"cpu: 0\nmemory: 1Gi", "cpu: 1:2:1\nmemory: 1Gi", "cpu: 1:2:3:4\nmemory: 1Gi",
                          "cpu: -1\nmemory: 1Gi", "cpu: 1\nmemory: 0", "cpu: 1\nmemory: 1Gi\ninstances: 3:2"}) {
    auto r = parse_services_yaml(std::string("name: a\ncommand: x\n") + bad + "\n");
    EXPECT_FALSE(r) << bad;
  }
}

TEST(SpecParse, MalformedYaml) {
  auto r = parse_services_yaml("name: [unclosed\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not valid YAML"), std::string::npos);
  EXPECT_FALSE(parse_services_yaml(""));
  EXPECT_FALSE(parse_services_yaml("- just\n- a list\n"));
  auto dup = parse_services_yaml("name: a\ncommand: x\ncpu: 1\nmemory: 1Gi\n---\nname: a\ncommand: y\ncpu: 1\nmemory: 1Gi\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("appears twice"), std::string::npos);
}

TEST(SpecParse, CliStrings) {
  CliServiceArgs a;
  a.name = "api";
  a.command = {"/bin/sleep", "100"};
  a.cpu = "250m:1:2";
  a.memory = "64Mi:256Mi";
  a.instances = "2:5";
  a.priority = "batch";
  a.env = {"A=1", "B=x=y"};
  a.resources = {"gpu=2"};
  a.constraints = {"zone=eu1"};
  auto r = parse_service_cli(a);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->envelope.cpu_millis, (Range{250, 1000, 2000}));
  EXPECT_EQ(r->envelope.memory_bytes, (Range{64ll << 20, 256ll << 20, 256ll << 20}));
  EXPECT_EQ(r->instances, (InstanceRange{2, 5}));
  EXPECT_EQ(r->env[1].second, "x=y");
  EXPECT_EQ(r->resources.at("gpu"), 2);

  a.cpu = "4:2";
  a.memory = "1Gi:12Q";
  auto bad = parse_service_cli(a);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--mem: \"12Q\" is not a size"), std::string::npos) << bad.error().message;
}

TEST(SpecParse, Ranges) {
  EXPECT_EQ(*parse_cpu_range("2"), (Range{2000, 2000, 2000}));
  EXPECT_FALSE(parse_cpu_range("1::2"));
  EXPECT_EQ(*parse_instance_range("3"), (InstanceRange{3, 3}));
  EXPECT_FALSE(parse_instance_range("1:2:3"));
  EXPECT_FALSE(parse_constraint("=x"));
  EXPECT_FALSE(parse_constraint("a=x|"));
}


std::string parse_error(const std::string& yaml) {
  auto r = parse_services_yaml(yaml);
  return r ? std::string("(accepted)") : r.error().message;
}

TEST(SpecParse, DuplicateKeysAreRefusedWithBothLines) {
  auto e = parse_error("name: dup\nname: dup2\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("line 2: name is given twice (first on line 1)"), std::string::npos) << e;
  e = parse_error("name: a\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: {min: 16Mi, max: 32Mi, max: 64Mi}\n");
  EXPECT_NE(e.find("memory.max is given twice"), std::string::npos) << e;
  e = parse_error("name: a\ncommand: [sleep, '1']\nenv: {A: '1', A: '2'}\ncpu: 100m:1\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("env.A is given twice"), std::string::npos) << e;
}

TEST(SpecParse, EnvelopesTooSmallToStartAProcessAreRefused) {
  auto e = parse_error("name: a\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 1:1\n");
  EXPECT_NE(e.find("memory.max 1 is below the minimum 4Mi a process needs to start"), std::string::npos) << e;
  e = parse_error("name: a\ncommand: [sleep, '1']\ncpu: 1m:1m\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("cpu.max 1m is below the minimum 10m"), std::string::npos) << e;
  EXPECT_EQ(parse_error("name: a\ncommand: [sleep, '1']\ncpu: 0:10m\nmemory: 0:4Mi\n"), "(accepted)");
}

TEST(SpecParse, ErrorsQuoteTheValueGiven) {
  auto e = parse_error("name: a\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 16Mi:32Mi\ninstances: 1000000000\n");
  EXPECT_NE(e.find("instances.max 1000000000 exceeds the limit 100000"), std::string::npos) << e;
  e = parse_error("name: a\ncommand: [sleep, '1']\ncpu: 100m:1\nmemory: 16Mi:32Mi\ninstances: {min: 1, max: 200000}\n");
  EXPECT_NE(e.find("instances.max 200000 exceeds the limit 100000"), std::string::npos) << e;
}

TEST(SpecParse, OversizeSpecsAreRefusedNamingTheFieldAndTheLimit) {
  const std::string big(10 << 20, 'x');
  auto e = parse_error("name: a\ncommand: [sleep, '1']\nenv: {BIG: '" + big + "'}\ncpu: 100m:1\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("the limit is 1048576 bytes"), std::string::npos) << e.substr(0, 200);
  const std::string value(200 << 10, 'x');
  e = parse_error("name: a\ncommand: [sleep, '1']\nenv: {BIG: '" + value + "'}\ncpu: 100m:1\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("env.BIG is 204800 bytes; the limit is 131072 bytes (128 KiB) per variable"), std::string::npos) << e;
  std::string many;
  for (int i = 0; i < 8; ++i) many += "V" + std::to_string(i) + ": '" + std::string(100 << 10, 'y') + "', ";
  e = parse_error("name: a\ncommand: [sleep, '1']\nenv: {" + many + "}\ncpu: 100m:1\nmemory: 16Mi:32Mi\n");
  EXPECT_NE(e.find("command, env and workdir together are"), std::string::npos) << e;
}


TEST(ServiceSpec, WhatAChangeMeansForRunningProcesses) {
  auto base = parse_services_yaml(kWeb).value()[0];
  EXPECT_EQ(classify_change(base, base), SpecChange::none);
  auto s = base;
  s.instances = {1, 9};
  s.restart.backoff_initial_ms = 1;
  s.constraints.clear();
  EXPECT_EQ(classify_change(base, s), SpecChange::none);
  s = base;
  s.envelope.cpu_millis.max = 3000;
  EXPECT_EQ(classify_change(base, s), SpecChange::in_place);
  s = base;
  s.priority = PriorityClass::batch;
  EXPECT_EQ(classify_change(base, s), SpecChange::in_place);
  for (int field = 0; field < 6; ++field) {
    s = base;
    s.envelope.cpu_millis.max = 3000;  // a replace wins over an in-place change
    if (field == 0) s.command.push_back("--more");
    if (field == 1) s.env.emplace_back("NEW", "1");
    if (field == 2) s.workdir = "/srv";
    if (field == 3) s.uid = 1000;
    if (field == 4) s.gid = 1000;
    if (field == 5) s.resources["gpu"] = 2;
    EXPECT_EQ(classify_change(base, s), SpecChange::replace) << "field " << field;
  }
}

}  // namespace
}  // namespace rackos

namespace rackos {
namespace {

// Found by `scripts/bench fuzz-spec`: yaml-cpp 0.7's LoadAll never returns on
// a lone "," (allocating until memory runs out); documents are split at their
// markers and loaded one by one instead. Lines still count from the file's start.
TEST(SpecParse, MalformedStreamsEndWithAnErrorAndLinesCountAcrossDocuments) {
  for (const char* text : {",", "name: a\n,\n", "---\n,\n---\n,", ",\n...\n,"}) {
    EXPECT_FALSE(parse_services_yaml(text)) << text;
  }
  auto r = parse_services_yaml("name: a\ncommand: [x]\ncpu: 1:2\nmemory: 8Mi:16Mi\n---\nname: b\ncommand: [y]\n"
                               "cpu: 1:2\nmemory: 8Mi:16Mi\nbogus: 1\n...\n---\nname: c\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 10: unknown field \"bogus\""), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("line 13: command is missing"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace rackos

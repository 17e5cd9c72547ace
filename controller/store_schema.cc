// JSON forms of the store's records (see store_schema.h).
#include "controller/store_schema.h"

#include <nlohmann/json.hpp>

namespace rackos::controller::schema {

using nlohmann::json;

namespace {

template <class F>
auto parse(const std::string& what, const std::string& text, F f) -> Result<decltype(f(json{}))> {
  try {
    return f(json::parse(text));
  } catch (const std::exception& e) {
    return Error{"store: " + what + " is not a valid record for this version: " + e.what()};
  }
}

ProcessState state_from(const std::string& s) {
  if (auto st = parse_process_state(s)) return *st;
  throw std::runtime_error("unknown process state \"" + s + "\"");
}

}  // namespace

std::string process_key(const std::string& service, uint32_t instance) { return service + "/" + std::to_string(instance); }

std::string to_json(const ClusterRow& r) { return json{{"id", r.id}}.dump(); }

Result<ClusterRow> cluster_from_json(const std::string& text) {
  return parse("the cluster identity", text, [](const json& j) { return ClusterRow{j.at("id").get<std::string>()}; });
}

std::string to_json(const ServiceRow& r) {
  return json{{"yaml", r.yaml}, {"desired", r.desired}, {"stopping", r.stopping}}.dump();
}

Result<ServiceRow> service_from_json(const std::string& key, const std::string& text) {
  return parse("service " + key, text, [](const json& j) {
    return ServiceRow{j.at("yaml").get<std::string>(), j.value("desired", 0u), j.value("stopping", false)};
  });
}

std::string to_json(const NodeRow& r) {
  return json{{"cpu_millis", r.cpu_millis}, {"memory_bytes", r.memory_bytes}, {"labels", r.labels},
              {"resources", r.resources},   {"draining", r.draining},         {"incarnation", r.incarnation},
              {"dead", r.dead}}
      .dump();
}

Result<NodeRow> node_from_json(const std::string& key, const std::string& text) {
  return parse("node " + key, text, [](const json& j) {
    NodeRow r;
    r.cpu_millis = j.at("cpu_millis").get<int64_t>();
    r.memory_bytes = j.at("memory_bytes").get<int64_t>();
    r.labels = j.value("labels", std::map<std::string, std::string>{});
    r.resources = j.value("resources", std::map<std::string, int64_t>{});
    r.draining = j.value("draining", false);
    r.incarnation = j.value("incarnation", uint64_t{1});
    r.dead = j.value("dead", false);
    return r;
  });
}

std::string to_json(const ProcessRow& r) {
  return json{{"service", r.service},
              {"instance", r.instance},
              {"node", r.node},
              {"last_node", r.last_node},
              {"state", std::string(to_string(r.state))},
              {"launch", r.launch},
              {"restarts", r.restarts},
              {"next_start_ms", r.next_start_ms},
              {"exit_code", r.exit_code},
              {"created_ms", r.created_ms},
              {"started_ms", r.started_ms},
              {"stop", r.stop},
              {"reason", r.reason}}
      .dump();
}

Result<ProcessRow> process_from_json(const std::string& key, const std::string& text) {
  return parse("process " + key, text, [](const json& j) {
    ProcessRow r;
    r.service = j.at("service").get<std::string>();
    r.instance = j.at("instance").get<uint32_t>();
    r.node = j.value("node", "");
    r.last_node = j.value("last_node", "");
    r.state = state_from(j.value("state", "pending"));
    r.launch = j.value("launch", 0u);
    r.restarts = j.value("restarts", uint16_t{0});
    r.next_start_ms = j.value("next_start_ms", int64_t{0});
    r.exit_code = j.value("exit_code", 0);
    r.created_ms = j.value("created_ms", int64_t{0});
    r.started_ms = j.value("started_ms", int64_t{0});
    r.stop = j.value("stop", false);
    r.reason = j.value("reason", "");
    return r;
  });
}

std::string to_json(const PkiRow& r) { return json{{"cert", r.cert_pem}, {"key", r.key_pem}}.dump(); }

Result<PkiRow> pki_from_json(const std::string& key, const std::string& text) {
  return parse("pki " + key, text, [](const json& j) {
    return PkiRow{j.at("cert").get<std::string>(), j.at("key").get<std::string>()};
  });
}

std::string to_json(const TokenRow& r) {
  return json{{"secret_sha256", r.secret_sha256}, {"description", r.description}, {"created_ms", r.created_ms},
              {"expires_ms", r.expires_ms},       {"joins", r.joins}}
      .dump();
}

Result<TokenRow> token_from_json(const std::string& key, const std::string& text) {
  return parse("token " + key, text, [](const json& j) {
    return TokenRow{j.at("secret_sha256").get<std::string>(), j.value("description", ""), j.value("created_ms", int64_t{0}),
                    j.value("expires_ms", int64_t{0}), j.value("joins", uint32_t{0})};
  });
}

std::string to_json(const UserRow& r) {
  return json{{"role", r.role}, {"created_ms", r.created_ms}, {"serials", r.serials}}.dump();
}

Result<UserRow> user_from_json(const std::string& key, const std::string& text) {
  return parse("user " + key, text, [](const json& j) {
    return UserRow{j.at("role").get<std::string>(), j.value("created_ms", int64_t{0}),
                   j.value("serials", std::vector<std::string>{})};
  });
}

}  // namespace rackos::controller::schema

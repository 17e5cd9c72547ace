// Result<T>: a value or a readable error, returned at module edges instead of
// throwing across them (in the way leveldb returns Status). Pure header, no I/O.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace rackos {

// What kind of problem: lets a server pick its status from the kind, never
// from the wording (not_found → gRPC NOT_FOUND, unavailable → UNAVAILABLE, ...).
enum class ErrorCode : uint8_t {
  invalid,      // the input breaks a rule (the default)
  not_found,    // it names something that does not exist
  conflict,     // valid, but not now (a service that is stopping, a stale writer)
  unavailable,  // a dependency failed (the store, a node's stream); retry may work
};

// One problem, said once: which field, what value, which rule.
struct Error {
  std::string message;
  ErrorCode code = ErrorCode::invalid;
};

inline Error not_found(std::string message) { return Error{std::move(message), ErrorCode::not_found}; }

// Several problems found in one input (e.g. every invalid field of a spec).
inline std::string join_errors(const std::vector<Error>& errors, const char* sep = "\n") {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += sep;
    out += e.message;
  }
  return out;
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}        // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T& value() & { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  const Error& error() const { assert(!ok()); return std::get<Error>(v_); }

  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace rackos

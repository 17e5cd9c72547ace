// Result<T>: a value or a readable error, returned at module edges instead of
// throwing across them (in the way leveldb returns Status). Pure header, no I/O.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace rackos {

// One problem, said once: which field, what value, which rule.
struct Error {
  std::string message;
};

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
class Result {
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

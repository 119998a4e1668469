// Errors as values across module boundaries.
//
//   cloudlet::common::Result<int> ParsePort(std::string_view s);
//   auto port = ParsePort("8470");
//   if (!port.ok()) return port.status();   // message names the field or file
//   Use(*port);
//
// Status and Result are plain values: copyable, not synchronised.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace cloudlet::common {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // the caller's input is wrong; the message names the field
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnauthenticated,
  kPermissionDenied,
  kResourceExhausted,  // over a limit or quota
  kUnavailable,        // try again later
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  // An invalid input field: the message reads "<field>: <reason>" and field() names it.
  static Status InvalidField(std::string field, std::string reason);
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The input field the error is about, when there is one ("capacity.cpu_millis").
  const std::optional<std::string>& field() const { return field_; }
  std::string ToString() const;

  // Returns a copy whose message is prefixed ("open var/x.db: <message>"); keeps code and field.
  Status WithContext(const std::string& context) const;
  // For an error about a field of a nested record: the field becomes "<parent>.<field>", in the
  // message too. Other statuses are returned as they are.
  Status InParent(const std::string& parent) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<std::string> field_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // An error. An OK status here is a programmer's mistake: it becomes Internal, never a Result
  // that is neither a value nor an error.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::Internal("a Result was made from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return *std::move(value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return *std::move(value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;  // ok when value_ is set
  std::optional<T> value_;
};

}  // namespace cloudlet::common

// Returns from the enclosing function when `expr` (a Status) is not ok.
#define CLOUDLET_RETURN_IF_ERROR(expr)              \
  do {                                              \
    ::cloudlet::common::Status _st = (expr);        \
    if (!_st.ok()) return _st;                      \
  } while (0)

// Errors and check macros.
//
// Every failure carries a kind (which decides the process exit code), where it was raised
// (file:line), what failed (the condition and the values involved) and, when we know one,
// a hint. Throwing keeps library code free of exit() calls; `app/main.cpp` turns the error
// into a message and an exit code.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tc {

// Exit codes of the `tokenclip` command (documented in README.md and docs/CLI.md).
enum class ErrorKind : int {
  Usage = 2,    // bad command line, unknown or malformed config key, value out of range
  Input = 3,    // bad input data: missing/corrupt file, wrong format, shape mismatch
  Runtime = 4,  // failure while running: NaN loss, I/O error on write, internal check
  Dist = 5,     // a peer rank failed or ranks disagree
};

const char* error_kind_name(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string where = {}, std::string hint = {});
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }
  int exit_code() const { return static_cast<int>(kind_); }

 private:
  ErrorKind kind_;
  std::string message_, where_, hint_;
};

// What `tokenclip` prints for an error that ends it: "tokenclip: error (KIND): MESSAGE", the
// hint and where it was raised, prefixed with "[rank R] " in a multi-rank job (log::options()).
std::string error_report(const Error& e);

// Builds the "file:line" string with the path shortened to start at src/ or tests/.
std::string source_location(const char* file, int line);

[[noreturn]] void throw_error(ErrorKind kind, const char* file, int line, std::string message,
                              std::string hint = {});

}  // namespace tc

// Raise an error of a given kind with a formatted message.
#define TC_FAIL(kind, ...) ::tc::throw_error((kind), __FILE__, __LINE__, ::fmt::format(__VA_ARGS__))
#define TC_FAIL_HINT(kind, hint, ...) \
  ::tc::throw_error((kind), __FILE__, __LINE__, ::fmt::format(__VA_ARGS__), (hint))

#define TC_USAGE_ERROR(...) TC_FAIL(::tc::ErrorKind::Usage, __VA_ARGS__)
#define TC_INPUT_ERROR(...) TC_FAIL(::tc::ErrorKind::Input, __VA_ARGS__)
#define TC_RUNTIME_ERROR(...) TC_FAIL(::tc::ErrorKind::Runtime, __VA_ARGS__)

// TC_CHECK(cond, "what we were doing {}", x): internal invariant; a failure is a bug or an
// environment problem (exit code 4). The message names the condition.
#define TC_CHECK(cond, ...)                                                             \
  do {                                                                                  \
    if (!(cond))                                                                        \
      ::tc::throw_error(::tc::ErrorKind::Runtime, __FILE__, __LINE__,                   \
                        ::fmt::format("check `{}` failed: {}", #cond, ::fmt::format(__VA_ARGS__))); \
  } while (0)

// TC_CHECK_INPUT(cond, "file {}: field {}: expected ...", ...): validates user-supplied data.
#define TC_CHECK_INPUT(cond, ...)                                                   \
  do {                                                                              \
    if (!(cond)) ::tc::throw_error(::tc::ErrorKind::Input, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
  } while (0)

#define TC_CHECK_USAGE(cond, ...)                                                   \
  do {                                                                              \
    if (!(cond)) ::tc::throw_error(::tc::ErrorKind::Usage, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
  } while (0)

// Comparison checks print both values: TC_CHECK_EQ(a.size(), b.size(), "tokens per image").
#define TC_CHECK_OP_(op, a, b, ...)                                                          \
  do {                                                                                       \
    const auto& tc_a_ = (a);                                                                 \
    const auto& tc_b_ = (b);                                                                 \
    if (!(tc_a_ op tc_b_))                                                                   \
      ::tc::throw_error(::tc::ErrorKind::Runtime, __FILE__, __LINE__,                        \
                        ::fmt::format("check `{} {} {}` failed ({} vs {}): {}", #a, #op, #b, \
                                      tc_a_, tc_b_, ::fmt::format(__VA_ARGS__)));            \
  } while (0)
#define TC_CHECK_EQ(a, b, ...) TC_CHECK_OP_(==, a, b, __VA_ARGS__)
#define TC_CHECK_NE(a, b, ...) TC_CHECK_OP_(!=, a, b, __VA_ARGS__)
#define TC_CHECK_LT(a, b, ...) TC_CHECK_OP_(<, a, b, __VA_ARGS__)
#define TC_CHECK_LE(a, b, ...) TC_CHECK_OP_(<=, a, b, __VA_ARGS__)
#define TC_CHECK_GT(a, b, ...) TC_CHECK_OP_(>, a, b, __VA_ARGS__)
#define TC_CHECK_GE(a, b, ...) TC_CHECK_OP_(>=, a, b, __VA_ARGS__)

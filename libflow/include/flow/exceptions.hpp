#pragma once

#include <stdexcept>
#include <string>
#include <typeinfo>

namespace flow {

/// Thrown by a connector or task for a configuration that is found wrong
/// only at run time (a start offset beyond a partition's end, a partition
/// the topic does not have): the job fails with exit code 2
/// (exit_bad_config), as for a bad option, instead of 1. what() should
/// read like config_error::message(): key, value as given, what is
/// expected.
class config_failure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The readable (demangled) name of a type.
std::string type_name(const std::type_info& t);

/// The exception being handled: its type's name ("std::invalid_argument";
/// "int (not a std::exception)" for other throws) and, for a
/// std::exception, what() (empty otherwise). Call only inside a catch
/// block.
struct exception_info {
  std::string type;
  std::string message;
};
exception_info current_exception_info();

/// What the exception being handled is, for error messages: its type and,
/// for a std::exception, what() ("std::runtime_error: bad record 7");
/// anything else thrown is named by its type ("int (not a
/// std::exception)"). Call only inside a catch block.
std::string describe_current_exception();

} // namespace flow

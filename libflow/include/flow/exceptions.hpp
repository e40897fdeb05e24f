#pragma once

#include <stdexcept>
#include <string>

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

/// What the exception being handled is, for error messages: its type and,
/// for a std::exception, what() ("std::runtime_error: bad record 7");
/// anything else thrown is named by its type ("int (not a
/// std::exception)"). Call only inside a catch block.
std::string describe_current_exception();

} // namespace flow

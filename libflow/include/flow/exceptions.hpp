#pragma once

#include <string>

namespace flow {

/// What the exception being handled is, for error messages: its type and,
/// for a std::exception, what() ("std::runtime_error: bad record 7");
/// anything else thrown is named by its type ("int (not a
/// std::exception)"). Call only inside a catch block.
std::string describe_current_exception();

} // namespace flow

#include "flow/exceptions.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace flow {

namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name{
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free};
  return status == 0 && name ? name.get() : mangled;
}

} // namespace

std::string type_name(const std::type_info& t) {
  return demangle(t.name());
}

exception_info current_exception_info() {
  try {
    throw;
  } catch (const std::exception& e) {
    return {demangle(typeid(e).name()), e.what()};
  } catch (...) {
    auto* type = abi::__cxa_current_exception_type();
    return {(type ? demangle(type->name()) : std::string("unknown type")) +
                " (not a std::exception)",
            {}};
  }
}

std::string describe_current_exception() {
  auto e = current_exception_info();
  return e.message.empty() ? e.type : e.type + ": " + e.message;
}

} // namespace flow

#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

namespace flow::detail {

/// Argument and result types of a non-generic callable (function pointer,
/// lambda, functor with one operator()).
template <class F, class = void>
struct callable_traits;

template <class R, class... Args>
struct callable_traits<R (*)(Args...)> {
  using result = R;
  using args = std::tuple<Args...>;
  static constexpr std::size_t arity = sizeof...(Args);
};

template <class R, class... Args>
struct callable_traits<R(Args...)> : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...) const>
    : callable_traits<R (*)(Args...)> {};

template <class C, class R, class... Args>
struct callable_traits<R (C::*)(Args...)> : callable_traits<R (*)(Args...)> {};

template <class F>
struct callable_traits<F, std::void_t<decltype(&F::operator())>>
    : callable_traits<decltype(&F::operator())> {};

template <class F, std::size_t I>
using arg_t = std::decay_t<
    std::tuple_element_t<I, typename callable_traits<std::decay_t<F>>::args>>;

/// Whether `F` is `void f(T&)`: callable with a T lvalue, returning
/// nothing, and not callable with a T rvalue (a by-value, const& or
/// forwarding parameter could not, or need not, change the record).
template <class F, class T, class = void>
struct updates_in_place : std::false_type {};

template <class F, class T>
struct updates_in_place<F, T, std::enable_if_t<std::is_invocable_v<F&, T&>>>
    : std::bool_constant<std::is_void_v<std::invoke_result_t<F&, T&>> &&
                         !std::is_invocable_v<F&, T&&>> {};

template <class F, class T>
constexpr bool updates_in_place_v = updates_in_place<F, T>::value;

template <class T>
struct emitter_value;

template <template <class> class E, class U>
struct emitter_value<E<U>> {
  using type = U;
};

template <class T>
constexpr bool dependent_false = false;

} // namespace flow::detail

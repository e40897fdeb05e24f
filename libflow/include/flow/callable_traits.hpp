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

/// Whether `F` is `void f(T&)`: a non-generic callable whose one parameter
/// is a non-const reference to T (a by-value or const parameter could not
/// change the record).
template <class F, class T, class = void>
struct updates_in_place : std::false_type {};

template <class F, class T>
struct updates_in_place<
    F, T, std::void_t<typename callable_traits<std::decay_t<F>>::args>>
    : std::bool_constant<
          callable_traits<std::decay_t<F>>::arity == 1 &&
          std::is_same_v<std::tuple_element_t<0, typename callable_traits<
                                                     std::decay_t<F>>::args>,
                         T&> &&
          std::is_void_v<typename callable_traits<std::decay_t<F>>::result>> {};

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

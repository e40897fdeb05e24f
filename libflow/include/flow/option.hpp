#pragma once

#include "flow/settings.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

/// The option schema: every option of a program - the runtime's (`flow.*`,
/// `cluster.*`), the connectors' (`kafka.*`) and the program's own - is a
/// `flow::option<T>` object that declares key, type, default, bounds and
/// description once. The command line, the config file, `--help`, the
/// checks and their error messages, conf/libflow.conf and the README's
/// option tables all come from these declarations. No CAF here: the
/// runtime (actors/) turns the schema into CAF's option groups.
///
/// A job's own option, declared at namespace scope (so it is known before
/// main() parses the command line):
///
///     const flow::option<std::string> input{"wordcount.input", "lines",
///                                           "topic the lines are read from"};
///     const flow::option<int64_t> lines{"wordcount.lines", 100000,
///                                       "lines generated",
///                                       flow::in_range(1, 1'000'000'000)};
///
/// and read with `program.get(lines)` (flow/run.hpp) or, inside a
/// connector or operator, `lines.get(ctx.settings)`.
namespace flow {

/// A configuration value that cannot be used: the key, the value as the
/// user wrote it, and what is expected.
struct config_error {
  std::string key;
  std::string value;
  std::string expected;
  /// "invalid config: KEY = VALUE (expected EXPECTED)".
  std::string message() const;
};

/// The kinds of value an option takes, written as in CAF's config format.
enum class option_type {
  /// A decimal integer (64 bits).
  integer,
  /// An integer with a unit: ns, us, ms, s, min or h (`5ms`, `0s`).
  duration,
  /// true or false.
  boolean,
  /// A string (quoted in a config file).
  text,
  /// A list of strings: `["a", "b"]`, or `a,b` on the command line.
  list,
};

/// Marks an option without a default: unset unless configured.
struct no_default_t {};
inline constexpr no_default_t no_default{};

/// Everything declared about one option.
struct option_spec {
  /// "group.name", e.g. "flow.batch-size".
  std::string key;
  option_type type = option_type::text;
  /// The default as config text ("5ms", "info"); none: unset by default.
  std::optional<std::string> default_text;
  /// What the option means, one or two sentences.
  std::string description;
  /// Integers and durations (in ns): inclusive bounds.
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  /// Durations where 0 means off: the least value above 0 (in ns); 0: no
  /// such floor.
  int64_t least_above_zero = 0;
  /// Text: the allowed values; empty: any.
  std::vector<std::string> choices;
  /// Text and each list item: a check beyond the type, and what it
  /// expects ("earliest, latest, ...").
  std::function<bool(const std::string&)> accepts;
  std::string accepts_what;
  /// Set by option_schema::require: what needs the option ("a Kafka
  /// source or sink"); the program refuses to run without it.
  std::string required_by;

  /// "flow" of "flow.batch-size".
  std::string group() const;
  /// "batch-size" of "flow.batch-size".
  std::string name() const;
  /// What a valid value looks like: "an integer in [1, 4096]".
  std::string expected() const;
  /// Checks a value written as config text; the error carries `text`
  /// itself, as the user gave it.
  std::optional<config_error> check(const std::string& text) const;
};

/// Changes a spec while it is declared: in_range, at_least, one_of, ...
using option_constraint = std::function<void(option_spec&)>;

/// Integers in [lo, hi].
option_constraint in_range(int64_t lo, int64_t hi);
/// Integers >= lo.
option_constraint at_least(int64_t lo);
/// Durations in [lo, hi].
option_constraint in_range(std::chrono::nanoseconds lo,
                           std::chrono::nanoseconds hi);
/// Durations >= lo.
option_constraint at_least(std::chrono::nanoseconds lo);
/// Durations where 0s means off: 0s, or in [lo, hi]. For a duration used
/// at a coarser resolution than it is written in (milliseconds), lo = one
/// unit keeps a tiny value from turning into 0, the opposite of what was
/// asked for.
option_constraint zero_or_in_range(std::chrono::nanoseconds lo,
                                   std::chrono::nanoseconds hi);
/// Text: one of `values`.
option_constraint one_of(std::vector<std::string> values);
/// Text or list items: `accepts(value)` holds; `what` says what it takes.
option_constraint valid_if(std::function<bool(const std::string&)> accepts,
                           std::string what);

/// Parses config text; nullopt if it is not of the type.
std::optional<int64_t> parse_integer(const std::string& text);
std::optional<std::chrono::nanoseconds> parse_duration(const std::string& t);
std::optional<bool> parse_boolean(const std::string& text);
/// `["a", "b"]` (CAF's list syntax) or `a,b`.
std::vector<std::string> parse_list(const std::string& text);
/// Renders a duration in the largest unit that keeps it exact ("5ms",
/// "0s", "90s"), as parse_duration reads it.
std::string format_duration(std::chrono::nanoseconds d);

/// A check that involves several options (credit-return <= credit-window),
/// run after each option passed its own.
using option_rule =
    std::function<std::optional<config_error>(const settings_map&)>;

/// The options of this program: every flow::option constructed so far,
/// in declaration order. Thread-safe.
class option_schema {
public:
  /// The one schema of the process.
  static option_schema& global();

  /// Adds a declaration. Throws std::logic_error if `key` is declared
  /// already (an option is declared once) or malformed.
  void add(option_spec spec);
  /// Adds a rule (see option_rule).
  void add_rule(option_rule rule);
  /// Makes `key` required (see option_spec::required_by); idempotent.
  void require(const std::string& key, const std::string& by);

  /// A copy of the declaration of `key`, if declared.
  std::optional<option_spec> find(const std::string& key) const;
  /// Copies of all declarations, in declaration order.
  std::vector<option_spec> specs() const;
  /// The groups, in the order of their first declaration.
  std::vector<std::string> groups() const;

  /// The values of `configured` checked: each declared key against its
  /// spec, then the rules. Keys not declared here are not checked.
  std::optional<config_error> check(const settings_map& configured) const;
  /// The first required option that `configured` does not set.
  std::optional<config_error> check_required(const settings_map& s) const;
  /// `configured` plus the default of every declared option it lacks.
  settings_map with_defaults(settings_map configured) const;

  /// `--help` text of the options of `groups` (all if empty).
  std::string help(const std::vector<std::string>& groups = {}) const;
  /// The options of `groups` as a commented config file (CAF format).
  std::string config_file(const std::vector<std::string>& groups) const;
  /// The options of `group` as a Markdown table.
  std::string markdown_table(const std::string& group) const;

private:
  option_schema() = default;
  struct impl;
  impl& state() const;
};

/// How a C++ type maps to an option type; the types an option can have.
template <class T>
struct option_traits;

template <>
struct option_traits<int64_t> {
  static constexpr option_type type = option_type::integer;
  static std::string to_text(int64_t v) { return std::to_string(v); }
  static std::optional<int64_t> parse(const std::string& s) {
    return parse_integer(s);
  }
};

template <>
struct option_traits<std::chrono::nanoseconds> {
  static constexpr option_type type = option_type::duration;
  static std::string to_text(std::chrono::nanoseconds v) {
    return format_duration(v);
  }
  static std::optional<std::chrono::nanoseconds> parse(const std::string& s) {
    return parse_duration(s);
  }
};

template <>
struct option_traits<bool> {
  static constexpr option_type type = option_type::boolean;
  static std::string to_text(bool v) { return v ? "true" : "false"; }
  static std::optional<bool> parse(const std::string& s) {
    return parse_boolean(s);
  }
};

template <>
struct option_traits<std::string> {
  static constexpr option_type type = option_type::text;
  static std::string to_text(const std::string& v) { return v; }
  static std::optional<std::string> parse(const std::string& s) { return s; }
};

template <>
struct option_traits<std::vector<std::string>> {
  static constexpr option_type type = option_type::list;
  static std::string to_text(const std::vector<std::string>& v);
  static std::optional<std::vector<std::string>> parse(const std::string& s) {
    return parse_list(s);
  }
};

/// One option, declared once: constructing it adds it to
/// option_schema::global(). Construct options at namespace scope (or as
/// function-local statics reached before the command line is parsed).
/// T is int64_t, std::chrono::nanoseconds, bool, std::string or
/// std::vector<std::string>.
template <class T>
class option {
public:
  template <class Default, class... Constraints>
  option(std::string key, Default default_value, std::string description,
         Constraints... constraints)
      : key_(key) {
    option_spec s;
    s.key = std::move(key);
    s.type = option_traits<T>::type;
    if constexpr (!std::is_same_v<Default, no_default_t>) {
      default_ = T(std::move(default_value));
      s.default_text = option_traits<T>::to_text(default_);
    }
    s.description = std::move(description);
    (option_constraint(std::move(constraints))(s), ...);
    option_schema::global().add(std::move(s));
  }

  option(const option&) = delete;
  option& operator=(const option&) = delete;

  const std::string& key() const noexcept { return key_; }

  /// The default (T{} for an option without one).
  const T& default_value() const noexcept { return default_; }

  /// True if `s` sets the option.
  bool is_set(const settings_map* s) const {
    return setting(s, key_).has_value();
  }

  /// The value in `s` (the node's settings, as in connector_context), or
  /// the default if `s` is null or lacks the key. The runtime has checked
  /// the values against the schema; a value that fails to parse anyway
  /// (set by hand in a test) throws std::invalid_argument naming the key.
  T get(const settings_map* s) const {
    auto text = setting(s, key_);
    if (!text) return default_;
    auto v = option_traits<T>::parse(*text);
    if (!v) throw_bad_value(key_, *text);
    return std::move(*v);
  }
  T get(const settings_map& s) const { return get(&s); }

private:
  [[noreturn]] static void throw_bad_value(const std::string& key,
                                           const std::string& text);

  std::string key_;
  T default_{};
};

/// Throws std::invalid_argument with the message of option_schema's check
/// of `text` for `key` (or a generic one).
[[noreturn]] void throw_bad_option_value(const std::string& key,
                                         const std::string& text);

template <class T>
void option<T>::throw_bad_value(const std::string& key,
                                const std::string& text) {
  throw_bad_option_value(key, text);
}

/// A rule over several options, declared next to them: constructing it
/// adds it to option_schema::global().
struct option_check {
  explicit option_check(option_rule rule) {
    option_schema::global().add_rule(std::move(rule));
  }
};

} // namespace flow

#include "flow/option.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace flow {

namespace {

struct duration_unit {
  const char* suffix;
  int64_t ns;
};

/// Longest suffix first where one is a suffix of another ("ms" vs "s").
constexpr duration_unit duration_units[] = {
    {"min", 60'000'000'000},
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"h", 3'600'000'000'000},
    {"s", 1'000'000'000},
};

std::string format_bound(option_type type, int64_t v) {
  if (type == option_type::duration)
    return format_duration(std::chrono::nanoseconds(v));
  return std::to_string(v);
}

/// "64" -> "64", "a b" -> "\"a b\"": values in messages, quoted if they
/// hold anything but a plain word, so an empty value stays visible.
std::string shown(const std::string& text) {
  bool plain = !text.empty();
  for (char c : text)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                      c == '-' || c == '_' || c == ':' || c == '/' || c == '+');
  return plain ? text : "\"" + text + "\"";
}

/// Words of `text` wrapped to lines of at most `width` characters, each
/// line starting with `indent`.
std::string wrap(const std::string& text, const std::string& indent,
                 size_t width) {
  std::istringstream words{text};
  std::string out, line, word;
  while (words >> word) {
    if (!line.empty() &&
        indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + '\n';
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += indent + line + '\n';
  return out;
}

/// The default in config-file syntax: strings quoted.
std::string config_literal(const option_spec& s, const std::string& text) {
  switch (s.type) {
  case option_type::text:
    return "\"" + text + "\"";
  case option_type::list: {
    std::string out = "[";
    for (auto& item : parse_list(text))
      out += (out.size() > 1 ? ", \"" : "\"") + item + "\"";
    return out + "]";
  }
  default:
    return text;
  }
}

std::string type_name(option_type t) {
  switch (t) {
  case option_type::integer:
    return "integer";
  case option_type::duration:
    return "duration";
  case option_type::boolean:
    return "true|false";
  case option_type::text:
    return "text";
  case option_type::list:
    return "list";
  }
  return "?";
}

} // namespace

std::string config_error::message() const {
  return "invalid config: " + key + " = " + value + " (expected " + expected +
         ")";
}

std::optional<int64_t> parse_integer(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])))
    return std::nullopt;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<std::chrono::nanoseconds> parse_duration(const std::string& t) {
  for (auto& u : duration_units) {
    std::string suffix = u.suffix;
    if (t.size() <= suffix.size() ||
        t.compare(t.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    auto n = parse_integer(t.substr(0, t.size() - suffix.size()));
    if (!n) return std::nullopt;
    if (*n > std::numeric_limits<int64_t>::max() / u.ns ||
        *n < std::numeric_limits<int64_t>::min() / u.ns)
      return std::nullopt;
    return std::chrono::nanoseconds(*n * u.ns);
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::nanoseconds d) {
  auto n = d.count();
  if (n == 0) return "0s";
  for (auto ns :
       {int64_t{3'600'000'000'000}, int64_t{60'000'000'000},
        int64_t{1'000'000'000}, int64_t{1'000'000}, int64_t{1'000}, int64_t{1}})
    if (n % ns == 0) {
      for (auto& u : duration_units)
        if (u.ns == ns) return std::to_string(n / ns) + u.suffix;
    }
  return std::to_string(n) + "ns";
}

std::optional<bool> parse_boolean(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

std::vector<std::string> parse_list(const std::string& s) {
  std::vector<std::string> out;
  if (!s.empty() && s.front() == '[') {
    std::string cur;
    bool in_str = false;
    for (size_t i = 1; i < s.size(); ++i) {
      char c = s[i];
      if (in_str) {
        if (c == '\\' && i + 1 < s.size()) {
          cur += s[++i];
        } else if (c == '"') {
          in_str = false;
          out.push_back(cur);
          cur.clear();
        } else {
          cur += c;
        }
      } else if (c == '"') {
        in_str = true;
      }
    }
    return out;
  }
  size_t pos = 0;
  while (pos < s.size()) {
    auto end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    if (end > pos) out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string option_traits<std::vector<std::string>>::to_text(
    const std::vector<std::string>& v) {
  std::string out = "[";
  for (auto& item : v)
    out += (out.size() > 1 ? ", \"" : "\"") + item + "\"";
  return out + "]";
}

// -- constraints ------------------------------------------------------------

option_constraint in_range(int64_t lo, int64_t hi) {
  return [lo, hi](option_spec& s) {
    s.min = lo;
    s.max = hi;
  };
}

option_constraint at_least(int64_t lo) {
  return [lo](option_spec& s) { s.min = lo; };
}

option_constraint in_range(std::chrono::nanoseconds lo,
                           std::chrono::nanoseconds hi) {
  return in_range(lo.count(), hi.count());
}

option_constraint at_least(std::chrono::nanoseconds lo) {
  return at_least(lo.count());
}

option_constraint zero_or_in_range(std::chrono::nanoseconds lo,
                                   std::chrono::nanoseconds hi) {
  return [lo, hi](option_spec& s) {
    s.min = 0;
    s.max = hi.count();
    s.least_above_zero = lo.count();
  };
}

option_constraint one_of(std::vector<std::string> values) {
  return [values = std::move(values)](option_spec& s) { s.choices = values; };
}

option_constraint valid_if(std::function<bool(const std::string&)> accepts,
                           std::string what) {
  return
      [accepts = std::move(accepts), what = std::move(what)](option_spec& s) {
        s.accepts = accepts;
        s.accepts_what = what;
      };
}

// -- option_spec ------------------------------------------------------------

std::string option_spec::group() const {
  return key.substr(0, key.find('.'));
}

std::string option_spec::name() const {
  return key.substr(key.find('.') + 1);
}

std::string option_spec::expected() const {
  constexpr auto lowest = std::numeric_limits<int64_t>::min();
  constexpr auto highest = std::numeric_limits<int64_t>::max();
  switch (type) {
  case option_type::integer:
  case option_type::duration: {
    auto what = type == option_type::integer ? std::string("an integer")
                                             : std::string("a duration");
    auto unit = type == option_type::duration ? ", e.g. 5ms" : "";
    if (least_above_zero > 0)
      return "0s for off, or " + what + " in [" +
             format_bound(type, least_above_zero) + ", " +
             format_bound(type, max) + "]";
    if (min == lowest && max == highest) return what + unit;
    if (max == highest) return what + " >= " + format_bound(type, min) + unit;
    if (type == option_type::duration && min == 1)
      return what + " in (0, " + format_bound(type, max) + "]" + unit;
    return what + " in [" + format_bound(type, min) + ", " +
           format_bound(type, max) + "]" + unit;
  }
  case option_type::boolean:
    return "true or false";
  case option_type::text:
    if (!choices.empty()) {
      std::string out;
      for (size_t i = 0; i < choices.size(); ++i)
        out += (i == 0                    ? ""
                : i + 1 == choices.size() ? " or "
                                          : ", ") +
               choices[i];
      return out;
    }
    return accepts ? accepts_what : "a string";
  case option_type::list:
    return accepts ? "a list of " + accepts_what : "a list of strings";
  }
  return {};
}

std::optional<config_error> option_spec::check(const std::string& text) const {
  auto bad = [&] { return config_error{key, shown(text), expected()}; };
  switch (type) {
  case option_type::integer:
  case option_type::duration: {
    std::optional<int64_t> v;
    if (type == option_type::integer)
      v = parse_integer(text);
    else if (auto d = parse_duration(text))
      v = d->count();
    if (!v || *v < min || *v > max) return bad();
    if (*v != 0 && *v < least_above_zero) return bad();
    return std::nullopt;
  }
  case option_type::boolean:
    if (!parse_boolean(text)) return bad();
    return std::nullopt;
  case option_type::text: {
    if (!choices.empty()) {
      bool known = false;
      for (auto& c : choices)
        known = known || c == text;
      if (!known) return bad();
    }
    if (accepts && !accepts(text)) return bad();
    return std::nullopt;
  }
  case option_type::list:
    if (accepts)
      for (auto& item : parse_list(text))
        if (!accepts(item)) return config_error{key, shown(item), expected()};
    return std::nullopt;
  }
  return std::nullopt;
}

// -- option_schema ----------------------------------------------------------

struct option_schema::impl {
  mutable std::mutex mutex;
  std::vector<option_spec> specs;
  std::vector<option_rule> rules;
};

option_schema& option_schema::global() {
  static option_schema schema;
  return schema;
}

option_schema::impl& option_schema::state() const {
  static impl state;
  return state;
}

void option_schema::add(option_spec spec) {
  auto dot = spec.key.find('.');
  if (dot == 0 || dot == std::string::npos || dot + 1 == spec.key.size())
    throw std::logic_error("option key '" + spec.key +
                           "' is not of the form group.name");
  if (spec.default_text)
    if (auto bad = spec.check(*spec.default_text))
      throw std::logic_error("default of option " + spec.key +
                             " fails its own check: " + bad->message());
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mutex};
  for (auto& s : st.specs)
    if (s.key == spec.key)
      throw std::logic_error("option " + spec.key + " is declared twice");
  st.specs.push_back(std::move(spec));
}

void option_schema::add_rule(option_rule rule) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mutex};
  st.rules.push_back(std::move(rule));
}

void option_schema::require(const std::string& key, const std::string& by) {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mutex};
  for (auto& s : st.specs)
    if (s.key == key) {
      s.required_by = by;
      return;
    }
  throw std::logic_error("required option " + key + " is not declared");
}

std::optional<option_spec> option_schema::find(const std::string& key) const {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mutex};
  for (auto& s : st.specs)
    if (s.key == key) return s;
  return std::nullopt;
}

std::vector<option_spec> option_schema::specs() const {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mutex};
  return st.specs;
}

std::vector<std::string> option_schema::groups() const {
  std::vector<std::string> out;
  for (auto& s : specs()) {
    auto g = s.group();
    bool seen = false;
    for (auto& x : out)
      seen = seen || x == g;
    if (!seen) out.push_back(g);
  }
  return out;
}

std::optional<config_error>
option_schema::check(const settings_map& configured) const {
  auto all = specs();
  for (auto& s : all)
    if (auto v = setting(&configured, s.key))
      if (auto bad = s.check(*v)) return bad;
  std::vector<option_rule> rules;
  {
    auto& st = state();
    std::lock_guard<std::mutex> guard{st.mutex};
    rules = st.rules;
  }
  auto full = with_defaults(configured);
  for (auto& rule : rules)
    if (auto bad = rule(full)) return bad;
  return std::nullopt;
}

std::optional<config_error>
option_schema::check_required(const settings_map& s) const {
  for (auto& spec : specs())
    if (!spec.required_by.empty() && !setting(&s, spec.key))
      return config_error{spec.key, "(unset)",
                          spec.expected() + "; " + spec.required_by +
                              " needs it"};
  return std::nullopt;
}

settings_map option_schema::with_defaults(settings_map configured) const {
  for (auto& s : specs())
    if (s.default_text) configured.emplace(s.key, *s.default_text);
  return configured;
}

std::string option_schema::help(const std::vector<std::string>& groups) const {
  // The runtime's groups first, then the others by name: declarations in
  // different files have no defined order.
  auto order = [](const std::string& g) {
    return std::make_pair(g == "flow" ? 0 : g == "cluster" ? 1 : 2, g);
  };
  auto all = specs();
  std::stable_sort(all.begin(), all.end(),
                   [&](const option_spec& a, const option_spec& b) {
                     return order(a.group()) < order(b.group());
                   });
  std::string out;
  for (auto& s : all) {
    bool wanted = groups.empty();
    for (auto& g : groups)
      wanted = wanted || g == s.group();
    if (!wanted) continue;
    out += "  --" + s.key + "=" +
           (s.default_text ? shown(*s.default_text)
                           : "<" + type_name(s.type) + ">") +
           '\n';
    auto text = s.description;
    auto exp = s.expected();
    text += (text.empty() || text.back() == '.' ? " " : ". ") +
            std::string(1, static_cast<char>(std::toupper(exp[0]))) +
            exp.substr(1) + (s.default_text ? "." : "; no default.");
    out += wrap(text, "        ", 80);
  }
  return out;
}

std::string
option_schema::config_file(const std::vector<std::string>& groups) const {
  std::string out;
  auto all = specs();
  for (auto& g : groups) {
    out += "\n[" + g + "]\n";
    for (auto& s : all) {
      if (s.group() != g) continue;
      auto text = s.description;
      if (s.type != option_type::text || !s.choices.empty() || s.accepts)
        text += " (" + s.expected() + ")";
      out += wrap(text, "; ", 78);
      out += s.default_text
                 ? s.name() + " = " + config_literal(s, *s.default_text) + '\n'
                 : "; " + s.name() + " =\n";
    }
  }
  return out;
}

std::string option_schema::markdown_table(const std::string& group) const {
  std::string out = "| option | default | values | meaning |\n"
                    "|--------|---------|--------|---------|\n";
  for (auto& s : specs()) {
    if (s.group() != group) continue;
    auto def = s.default_text ? (s.default_text->empty() ? std::string("\"\"")
                                                         : *s.default_text)
                              : std::string("(none)");
    out += "| `" + s.key + "` | " + def + " | " + s.expected() + " | " +
           s.description + " |\n";
  }
  return out;
}

void throw_bad_option_value(const std::string& key, const std::string& text) {
  if (auto spec = option_schema::global().find(key))
    if (auto bad = spec->check(text))
      throw std::invalid_argument(bad->message());
  throw std::invalid_argument(
      config_error{key, text, "a valid value"}.message());
}

} // namespace flow

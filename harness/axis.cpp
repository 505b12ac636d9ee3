#include "harness/axis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace talklab {

const char* axis_kind_name(AxisKind kind) {
  switch (kind) {
    case AxisKind::integer: return "integer";
    case AxisKind::floating: return "float";
    case AxisKind::string: return "string";
    case AxisKind::dtype: return "dtype";
  }
  return "?";
}

std::string format_axis_value(const AxisValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  return std::get<std::string>(value);
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::optional<AxisValue> Axis::parse(const std::string& text, std::string* error) const {
  switch (kind) {
    case AxisKind::integer: {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
        *error = fmt::format("axis '{}' takes integers, got '{}'", name, text);
        return std::nullopt;
      }
      return AxisValue{int64_t(v)};
    }
    case AxisKind::floating: {
      errno = 0;
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) {
        *error = fmt::format("axis '{}' takes numbers, got '{}'", name, text);
        return std::nullopt;
      }
      return AxisValue{v};
    }
    case AxisKind::string:
    case AxisKind::dtype: {
      AxisValue v{text};
      if (!accepts(v, error)) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

bool Axis::accepts(const AxisValue& value, std::string* error) const {
  switch (kind) {
    case AxisKind::integer:
      if (std::holds_alternative<int64_t>(value)) return true;
      *error = fmt::format("axis '{}' takes integers, got '{}'", name, format_axis_value(value));
      return false;
    case AxisKind::floating:
      if (std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value)) return true;
      *error = fmt::format("axis '{}' takes numbers, got '{}'", name, format_axis_value(value));
      return false;
    case AxisKind::string:
    case AxisKind::dtype: {
      const auto* s = std::get_if<std::string>(&value);
      if (s == nullptr) {
        *error = fmt::format("axis '{}' takes {} values, got '{}'", name, axis_kind_name(kind),
                             format_axis_value(value));
        return false;
      }
      if (!choices.empty() && std::find(choices.begin(), choices.end(), *s) == choices.end()) {
        *error = fmt::format("axis '{}' has no value '{}' (valid: {})", name, *s, join(choices));
        return false;
      }
      return true;
    }
  }
  return false;
}

Axis int_axis(std::string name, std::string help) {
  return Axis{std::move(name), AxisKind::integer, std::move(help), {}};
}
Axis float_axis(std::string name, std::string help) {
  return Axis{std::move(name), AxisKind::floating, std::move(help), {}};
}
Axis string_axis(std::string name, std::vector<std::string> choices, std::string help) {
  return Axis{std::move(name), AxisKind::string, std::move(help), std::move(choices)};
}
Axis dtype_axis(std::string name, std::vector<std::string> choices, std::string help) {
  return Axis{std::move(name), AxisKind::dtype, std::move(help), std::move(choices)};
}

bool split_list(const std::string& text, std::vector<std::string>* items, std::string* error) {
  items->clear();
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) {
      *error = fmt::format("empty item in list '{}'", text);
      return false;
    }
    items->push_back(std::move(item));
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

}  // namespace talklab

#include "harness/params.h"

#include <stdexcept>

namespace talklab {

void Params::set(const std::string& name, AxisValue value) {
  for (auto& [n, v] : items_) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(name, std::move(value));
}

bool Params::has(const std::string& name) const {
  for (const auto& item : items_) {
    if (item.first == name) return true;
  }
  return false;
}

const AxisValue& Params::get(const std::string& name) const {
  for (const auto& [n, v] : items_) {
    if (n == name) return v;
  }
  throw std::out_of_range("case has no axis '" + name + "'");
}

int64_t Params::integer(const std::string& name) const {
  const AxisValue& v = get(name);
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  throw std::invalid_argument("axis '" + name + "' is not an integer");
}

double Params::number(const std::string& name) const {
  const AxisValue& v = get(name);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return double(*i);
  throw std::invalid_argument("axis '" + name + "' is not a number");
}

const std::string& Params::str(const std::string& name) const {
  const AxisValue& v = get(name);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  throw std::invalid_argument("axis '" + name + "' is not a string");
}

std::string Params::path() const {
  std::string out;
  for (const auto& [n, v] : items_) {
    if (!out.empty()) out += '/';
    out += n + "=" + format_axis_value(v);
  }
  return out;
}

}  // namespace talklab

// Typed axes: the parameters an experiment sweeps. An axis is declared in code (name, kind, the values a
// string or dtype axis accepts); its values come from a profile in configs/profiles/ and can be
// overridden with `bench --set NAME=V1,V2`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace talklab {

enum class AxisKind { integer, floating, string, dtype };

const char* axis_kind_name(AxisKind kind);

// One value of an axis. Dtypes are strings ("f32", "bf16", ...) checked against the axis's choices.
using AxisValue = std::variant<int64_t, double, std::string>;

// How a value appears in a case name and in result files: integers plainly, floats in shortest form.
std::string format_axis_value(const AxisValue& value);

struct Axis {
  std::string name;
  AxisKind kind = AxisKind::integer;
  std::string help;
  std::vector<std::string> choices;  // string and dtype axes: the accepted values (empty = any string)

  // Parses one textual value ("4096", "0.5", "bf16") for this axis; on failure returns nullopt and sets
  // *error to a message that names the axis, the value and what was expected.
  std::optional<AxisValue> parse(const std::string& text, std::string* error) const;
  // Checks a value already typed (from TOML): right kind, and one of the choices.
  bool accepts(const AxisValue& value, std::string* error) const;
};

Axis int_axis(std::string name, std::string help);
Axis float_axis(std::string name, std::string help);
Axis string_axis(std::string name, std::vector<std::string> choices, std::string help);
Axis dtype_axis(std::string name, std::vector<std::string> choices, std::string help);

// Splits "a,b,c" into its items (no empty items allowed: returns false and sets *error).
bool split_list(const std::string& text, std::vector<std::string>* items, std::string* error);

}  // namespace talklab

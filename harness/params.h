// The axis values of one case, in the experiment's axis order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "harness/axis.h"

namespace talklab {

class Params {
 public:
  void set(const std::string& name, AxisValue value);
  bool has(const std::string& name) const;
  const AxisValue& get(const std::string& name) const;  // throws std::out_of_range naming the axis

  int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;  // floats, or integers widened
  const std::string& str(const std::string& name) const;

  const std::vector<std::pair<std::string, AxisValue>>& items() const { return items_; }

  // "seq=4096/window=512/dtype=bf16": the part of a case name that the axes make.
  std::string path() const;

 private:
  std::vector<std::pair<std::string, AxisValue>> items_;
};

}  // namespace talklab
